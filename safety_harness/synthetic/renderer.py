"""Rendering a traffic sign in a scene, deterministically from a seed.

A class pictogram is placed on a varied background (sky gradient, foliage or asphalt-like
noise, building blocks) with varied scale, position, in-plane rotation and perspective,
then lit (brightness, contrast, colour cast, faded paint), blurred and given sensor noise.
The sign's bounding box comes with the image, so robustness tests can place
stickers on the sign and explanation work can check where a model looks.

Parameter ranges (per render, uniform unless stated):

============================  ==============================
sign span / frame             0.55 – 0.92 (GTSRB crops keep a ~10 % margin)
centre jitter                 ±8 % of the frame
in-plane rotation             ±12°
perspective corner jitter     ±6 % of the sign span
brightness gain               0.45 – 1.35
contrast                      0.6 – 1.2
colour cast                   ±12 per channel
paint fading (towards white)  0 – 0.35
Gaussian blur sigma           0 – 1.0 px (at the output size)
sensor noise sigma            0 – 6 grey levels
============================  ==============================
"""

from dataclasses import dataclass

import cv2
import numpy as np

from safety_harness.synthetic.pictograms import CANVAS, pictogram

_SUPERSAMPLE = 2


@dataclass(frozen=True)
class RenderedSign:
    """``image`` uint8 RGB (size, size, 3); ``bbox`` (x1, y1, x2, y2) with x2/y2 exclusive."""

    image: np.ndarray
    class_id: int
    bbox: tuple[int, int, int, int]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    kind = rng.integers(4)
    y = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    if kind == 0:  # sky gradient
        top = rng.uniform([90, 120, 170], [190, 210, 255])
        bottom = rng.uniform([150, 160, 170], [235, 235, 240])
        image = top * (1 - y) + bottom * y + np.zeros((1, size, 1), np.float32)
    else:
        base = {1: ([30, 60, 20], [110, 150, 80]),     # foliage
                2: ([70, 70, 70], [150, 150, 150]),    # asphalt, concrete
                3: ([90, 60, 40], [200, 180, 160])}[int(kind)]  # buildings
        colour = rng.uniform(*base)
        coarse = rng.normal(0, 1, (max(2, size // 6), max(2, size // 6), 1)).astype(np.float32)
        texture = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)[..., None]
        image = colour + texture * rng.uniform(10, 35) + rng.normal(0, 6, (size, size, 1))
        if kind == 3:  # window-like blocks
            for _ in range(rng.integers(2, 6)):
                x0, y0 = rng.integers(0, size, 2)
                w, h = rng.integers(size // 8, size // 3, 2)
                image[y0:y0 + h, x0:x0 + w] = rng.uniform(40, 220, 3)
    return np.clip(image, 0, 255).astype(np.float32)


def _homography(rng: np.random.Generator, size: int) -> np.ndarray:
    span = rng.uniform(0.55, 0.92) * size
    centre = size / 2 + rng.uniform(-0.08, 0.08, 2) * size
    angle = np.deg2rad(rng.uniform(-12, 12))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]) * span
    target = corners @ rotation.T + centre + rng.uniform(-0.06, 0.06, (4, 2)) * span
    source = np.array([[0, 0], [CANVAS, 0], [CANVAS, CANVAS], [0, CANVAS]], np.float32)
    return cv2.getPerspectiveTransform(source, (target * _SUPERSAMPLE).astype(np.float32))


def render_sign(class_id: int, seed: int, size: int = 32) -> RenderedSign:
    """The sign of ``class_id`` in a scene of ``size`` x ``size`` pixels; same seed, same pixels."""
    if not 8 <= size <= 512:
        raise ValueError(f"size must be in 8..512, got {size!r}")
    rng = np.random.default_rng([seed, class_id, size])
    sign = pictogram(class_id).astype(np.float32)
    fade = rng.uniform(0, 0.35)
    sign[..., :3] = sign[..., :3] * (1 - fade) + 235 * fade
    big = size * _SUPERSAMPLE
    warped = cv2.warpPerspective(sign, _homography(rng, size), (big, big), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    warped = cv2.resize(warped, (size, size), interpolation=cv2.INTER_AREA)
    alpha = warped[..., 3:] / 255.0
    image = _background(rng, size) * (1 - alpha) + warped[..., :3] * alpha
    gain, contrast = rng.uniform(0.45, 1.35), rng.uniform(0.6, 1.2)
    image = (image - 128) * contrast + 128
    image = image * gain + rng.uniform(-12, 12, 3)
    sigma = rng.uniform(0, 1.0)
    if sigma > 0.2:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    image = image + rng.normal(0, rng.uniform(0, 6), image.shape)
    mask = alpha[..., 0] > 0.5
    ys, xs = np.nonzero(mask)
    bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return RenderedSign(np.clip(np.rint(image), 0, 255).astype(np.uint8), class_id, bbox)
