"""Generated out-of-distribution sets, deterministic from a seed, as uint8 RGB images.

Far OOD: nothing like a sign (noise, a dead or saturated sensor, textures, scenes without
signs). Near OOD: sign-like but no GTSRB class (blue squares, green boards, orange diamonds,
white plates with marks), and GTSRB signs destroyed beyond recognition.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from safety_harness.synthetic.renderer import render_sign

#: how the evidence names the generator of these sets (their provenance)
OOD_GENERATOR = "safety_harness.ood.datasets"


@dataclass(frozen=True)
class OodSet:
    name: str
    kind: str  # "far" or "near"
    description: str
    images: np.ndarray


def _noise(rng, n, size):
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _sensor_fault(rng, n, size):
    levels = rng.choice([0, 255, 128], n)[:, None, None, None] + rng.normal(0, 3, (n, size, size, 3))
    return np.clip(levels, 0, 255).astype(np.uint8)


def _textures(rng, n, size):
    y, x = np.mgrid[0:size, 0:size]
    images = []
    for _ in range(n):
        period, angle = rng.uniform(3, 10), rng.uniform(0, np.pi)
        wave = np.sin((x * np.cos(angle) + y * np.sin(angle)) * 2 * np.pi / period)
        if rng.random() < 0.5:
            wave = np.sign(wave) * np.sign(np.sin((x * np.sin(angle) - y * np.cos(angle)) * 2 * np.pi / period))
        colours = rng.integers(0, 256, (2, 3))
        images.append(np.where(wave[..., None] > 0, colours[0], colours[1]))
    return np.stack(images).astype(np.uint8)


def _scenes(rng, n, size):
    images = []
    for _ in range(n):
        sky = rng.uniform([90, 120, 170], [190, 210, 255])
        ground = rng.uniform([40, 40, 40], [140, 150, 120])
        horizon = int(rng.integers(size // 4, 3 * size // 4))
        image = np.empty((size, size, 3))
        image[:horizon], image[horizon:] = sky, ground
        for _ in range(rng.integers(1, 4)):  # buildings, trees
            x0, w = rng.integers(0, size), rng.integers(size // 8, size // 3)
            top = rng.integers(0, horizon + 1)
            image[top:horizon, x0:x0 + w] = rng.uniform(30, 200, 3)
        images.append(np.clip(image + rng.normal(0, 6, image.shape), 0, 255))
    return np.stack(images).astype(np.uint8)


def _sign_like_boards(rng, n, size):
    shapes = (("square", (30, 80, 190)), ("board", (30, 120, 60)), ("diamond", (240, 140, 20)),
              ("plate", (240, 240, 240)))
    images = []
    for _ in range(n):
        shape, colour = shapes[int(rng.integers(len(shapes)))]
        image = np.full((size, size, 3), rng.uniform(60, 200, 3), np.float32)
        c, r = size / 2 + rng.uniform(-2, 2), size * rng.uniform(0.3, 0.42)
        if shape == "diamond":
            points = np.array([[c, c - r], [c + r, c], [c, c + r], [c - r, c]], np.int32)
            cv2.fillPoly(image, [points], colour)
        else:
            h = r if shape != "board" else r * 0.6
            cv2.rectangle(image, (int(c - r), int(c - h)), (int(c + r), int(c + h)), colour, -1)
        for _ in range(rng.integers(2, 5)):  # text-like marks
            y0 = int(rng.integers(c - r * 0.5, c + r * 0.5))
            x0 = int(c - r * 0.6)
            cv2.line(image, (x0, y0), (int(x0 + rng.uniform(0.3, 1.2) * r), y0), (20, 20, 20) if shape == "plate"
                     else (240, 240, 240), 1)
        images.append(np.clip(image * rng.uniform(0.6, 1.2), 0, 255))
    return np.stack(images).astype(np.uint8)


def _destroyed_signs(rng, n, size):
    images = []
    for i in range(n):
        sign = render_sign(int(rng.integers(43)), 90_000_000 + i, size).image.astype(np.float32)
        sign = cv2.GaussianBlur(sign, (0, 0), rng.uniform(2.5, 4))
        sign = sign + rng.normal(0, 60, sign.shape)
        images.append(np.clip(sign, 0, 255))
    return np.stack(images).astype(np.uint8)


_GENERATORS = (
    ("noise", "far", "uniform pixel noise", _noise),
    ("sensor_fault", "far", "black, grey or saturated frames (dead or blinded sensor)", _sensor_fault),
    ("textures", "far", "stripes and checkerboards", _textures),
    ("scenes", "far", "road scenes without a sign", _scenes),
    ("sign_like_boards", "near", "sign-like boards of no GTSRB class", _sign_like_boards),
    ("destroyed_signs", "near", "GTSRB signs blurred and noised beyond recognition", _destroyed_signs),
)


def bundled_ood_sets(size: tuple[int, int], per_set: int = 300, seed: int = 0, names=None) -> list[OodSet]:
    """The generated OOD sets at the model's input ``size`` (height, width): those in ``names``, or all
    (None). Each set is drawn from its own seeded generator, so a set is the same whichever others are drawn."""
    side = max(size)
    sets = []
    for index, (name, kind, description, generate) in enumerate(_GENERATORS):
        if names is not None and name not in names:
            continue
        images = generate(np.random.default_rng([seed, index]), per_set, side)
        if side != size[0] or side != size[1]:
            images = np.stack([cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA) for image in images])
        sets.append(OodSet(name, kind, description, images))
    return sets


OOD_SET_NAMES = tuple(name for name, *_ in _GENERATORS)
#: in a requirement's ``ood_sets``, stands for every OOD set the user gave with ``--ood-set``
GIVEN_OOD_SETS = "given"
