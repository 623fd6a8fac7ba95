"""Common corruptions at five severities, after ImageNet-C (Hendrycks & Dietterich, ICLR 2019).

Noise, brightness, contrast, JPEG and pixelation use ImageNet-C's severity constants; the blur
radii are scaled from its 224 px images to GTSRB's ~32 px.
"""

import cv2
import numpy as np

from safety_harness.perturbations.base import Perturbation
from safety_harness.perturbations.registry import register


@register
class GaussianNoise(Perturbation):
    """Additive Gaussian noise of standard deviation ``sigma`` (fraction of the 0..255 range)."""

    name = "gaussian_noise"
    description = "sensor noise"
    severity_table = tuple({"sigma": s} for s in (0.08, 0.12, 0.18, 0.26, 0.38))

    def _apply(self, image, parameters, rng, roi):
        return np.clip(image + rng.normal(0, parameters["sigma"] * 255, image.shape), 0, 255)


@register
class MotionBlur(Perturbation):
    """A line kernel of ``length`` px at a random angle: the camera or the vehicle moving."""

    name = "motion_blur"
    description = "motion blur"
    severity_table = tuple({"length": n} for n in (2, 3, 4, 6, 8))

    def _apply(self, image, parameters, rng, roi):
        length = parameters["length"]
        size = length + 1 if length % 2 == 0 else length
        kernel = np.zeros((size, size), np.float32)
        angle = rng.uniform(0, np.pi)
        centre = (size - 1) / 2
        offsets = np.linspace(-length / 2, length / 2, 4 * size)
        kernel[np.clip(np.rint(centre + offsets * np.sin(angle)).astype(int), 0, size - 1),
               np.clip(np.rint(centre + offsets * np.cos(angle)).astype(int), 0, size - 1)] = 1
        return cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


@register
class DefocusBlur(Perturbation):
    """A disc kernel of ``radius`` px, slightly smoothed: an out-of-focus lens."""

    name = "defocus_blur"
    description = "defocus blur"
    severity_table = tuple({"radius": r} for r in (0.6, 1.0, 1.5, 2.0, 2.5))

    def _apply(self, image, parameters, rng, roi):
        radius = parameters["radius"]
        half = int(np.ceil(radius))
        y, x = np.mgrid[-half:half + 1, -half:half + 1]
        kernel = (x ** 2 + y ** 2 <= radius ** 2).astype(np.float32)
        kernel = cv2.GaussianBlur(kernel, (3, 3), 0.5)
        return cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


@register
class Brightness(Perturbation):
    """``shift`` added to the HSV value channel (fraction of the range): glare, overexposure."""

    name = "brightness"
    description = "overexposure"
    severity_table = tuple({"shift": s} for s in (0.1, 0.2, 0.3, 0.4, 0.5))

    def _apply(self, image, parameters, rng, roi):
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 2] = np.clip(hsv[..., 2] + parameters["shift"] * 255, 0, 255)
        return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


@register
class Contrast(Perturbation):
    """Contrast scaled by ``factor`` around the image mean: dusk, flat light."""

    name = "contrast"
    description = "low contrast"
    severity_table = tuple({"factor": c} for c in (0.4, 0.3, 0.2, 0.1, 0.05))

    def _apply(self, image, parameters, rng, roi):
        mean = image.mean(axis=(0, 1), keepdims=True)
        return (image - mean) * parameters["factor"] + mean


@register
class JpegCompression(Perturbation):
    """JPEG re-encoding at ``quality``: a compressed video stream."""

    name = "jpeg"
    description = "JPEG compression artefacts"
    severity_table = tuple({"quality": q} for q in (25, 18, 15, 10, 7))

    def _apply(self, image, parameters, rng, roi):
        ok, encoded = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, parameters["quality"]])
        return cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]


@register
class Pixelate(Perturbation):
    """Downscaled by ``factor`` (area) and back (nearest): a low-resolution sensor or a distant sign.

    The factors are ImageNet-C's (Hendrycks & Dietterich, ICLR 2019) with 0.5 moved to 0.48: an
    integer ratio pixelates less than its neighbours at 32 px."""

    name = "pixelate"
    description = "pixelation"
    severity_table = tuple({"factor": f} for f in (0.6, 0.48, 0.4, 0.3, 0.25))

    def _apply(self, image, parameters, rng, roi):
        height, width = image.shape[:2]
        small = cv2.resize(image, (max(1, round(width * parameters["factor"])), max(1, round(height * parameters["factor"]))),
                           interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
