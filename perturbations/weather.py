"""Weather at GTSRB sizes (24–64 px): rain, fog, snow, sun flare, shadow.

albumentations' weather transforms are tuned for large photos (at 32x32 its default rain
draws a single drop, its sun flare has a 400 px radius). Here each severity draws its own
parameters, scaled to the image size, and albumentations' functional kernels render rain,
snow, flare and shadow. Fog is a vectorised haze model of our own: albumentations' RandomFog
runs about 150 images per second at 32x32.
"""

import functools
import os

import cv2
import numpy as np

from safety_harness.perturbations.base import Perturbation
from safety_harness.perturbations.registry import register


@functools.cache
def _albumentations():
    """albumentations' functional kernels, imported on first use: the import takes half a second, which a run that
    renders no weather (one refused before any test, or a warm run whose report shows no weather) does not pay."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    from albumentations.augmentations.pixel import functional

    return functional


@register
class Rain(Perturbation):
    """Slanted streaks, darkened scene. ``density``: drops per pixel; ``length``: streak length as a
    fraction of the image height; ``darken``: brightness factor. Streaks stay sharp: at GTSRB
    sizes any blur turns them into a grey veil."""

    name = "rain"
    description = "rain streaks and a darker scene"
    severity_table = (
        {"density": 0.010, "length": 0.10, "darken": 0.95},
        {"density": 0.020, "length": 0.14, "darken": 0.90},
        {"density": 0.035, "length": 0.18, "darken": 0.84},
        {"density": 0.055, "length": 0.22, "darken": 0.77},
        {"density": 0.080, "length": 0.26, "darken": 0.70},
    )

    def _apply(self, image, parameters, rng, roi):
        height, width = image.shape[:2]
        drops = int(round(parameters["density"] * height * width))
        length = max(2, int(round(parameters["length"] * height)))
        starts = np.stack([rng.integers(0, width, drops), rng.integers(-length, height, drops)], axis=1)
        return _albumentations().add_rain(
            image, slant=float(rng.uniform(-0.3, 0.3) * length), drop_length=length, drop_width=1,
            drop_color=(110, 110, 120), blur_value=1,
            brightness_coefficient=parameters["darken"], rain_drops=starts)


@register
class Fog(Perturbation):
    """Haze: ``I' = I (1 - t) + A t`` with airlight ``A`` and a transmission loss ``t`` that varies
    smoothly over the image by ±``patchiness`` (Koschmieder's model, as in ImageNet-C's fog)."""

    name = "fog"
    description = "haze that lowers contrast and raises brightness"
    severity_table = (
        {"haze": 0.20, "patchiness": 0.3, "airlight": 215},
        {"haze": 0.32, "patchiness": 0.3, "airlight": 220},
        {"haze": 0.45, "patchiness": 0.3, "airlight": 225},
        {"haze": 0.58, "patchiness": 0.25, "airlight": 230},
        {"haze": 0.70, "patchiness": 0.2, "airlight": 235},
    )

    def _apply(self, image, parameters, rng, roi):
        height, width = image.shape[:2]
        coarse = rng.uniform(-1, 1, (4, 4)).astype(np.float32)
        variation = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
        loss = np.clip(parameters["haze"] * (1 + parameters["patchiness"] * variation), 0, 0.95)[..., None]
        return image * (1 - loss) + parameters["airlight"] * loss


@register
class Snow(Perturbation):
    """Bright areas bleached (albumentations ``add_snow_bleach``) plus falling flakes.
    ``flakes``: flakes per pixel; ``bleach``: snow point (share of lightness bleached)."""

    name = "snow"
    description = "snowflakes and a bleached, snowy scene"
    severity_table = (
        {"flakes": 0.015, "bleach": 0.05, "brightness": 1.2},
        {"flakes": 0.03, "bleach": 0.10, "brightness": 1.4},
        {"flakes": 0.05, "bleach": 0.15, "brightness": 1.6},
        {"flakes": 0.08, "bleach": 0.20, "brightness": 1.8},
        {"flakes": 0.12, "bleach": 0.25, "brightness": 2.0},
    )

    def _apply(self, image, parameters, rng, roi):
        height, width = image.shape[:2]
        out = _albumentations().add_snow_bleach(image, parameters["bleach"], parameters["brightness"])
        count = int(round(parameters["flakes"] * height * width))
        ys, xs = rng.integers(0, height, count), rng.integers(0, width, count)
        out = out.copy()
        out[ys, xs] = rng.integers(225, 256, (count, 1))
        return out


@register
class SunFlare(Perturbation):
    """A low sun in the frame: a bright disc of ``radius`` (fraction of the image size) near the top,
    with a few ghost circles along a line through the image (albumentations ``add_sun_flare_overlay``),
    and a veiling glare that blends the whole image towards white by ``veil``."""

    name = "sun_flare"
    description = "low sun with lens-flare ghosts"
    severity_table = (
        {"radius": 0.15, "ghosts": 2, "veil": 0.05},
        {"radius": 0.25, "ghosts": 3, "veil": 0.12},
        {"radius": 0.35, "ghosts": 4, "veil": 0.20},
        {"radius": 0.45, "ghosts": 5, "veil": 0.30},
        {"radius": 0.55, "ghosts": 6, "veil": 0.40},
    )

    def _apply(self, image, parameters, rng, roi):
        height, width = image.shape[:2]
        centre = (float(rng.uniform(0, width)), float(rng.uniform(0, 0.4 * height)))
        radius = max(2, int(round(parameters["radius"] * max(height, width))))
        angle = rng.uniform(0, 2 * np.pi)
        circles = []
        for step in rng.uniform(0.2, 1.2, parameters["ghosts"]):
            x = int(centre[0] + np.cos(angle) * step * width)
            y = int(centre[1] + np.sin(angle) * step * height)
            circles.append((float(rng.uniform(0.1, 0.25)), (x, y), int(rng.integers(1, max(2, radius // 2) + 1)),
                            tuple(int(v) for v in rng.integers(200, 256, 3))))
        flared = _albumentations().add_sun_flare_overlay(image, centre, radius, (255, 255, 245), circles)
        return flared * (1 - parameters["veil"]) + 255 * parameters["veil"]


@register
class Shadow(Perturbation):
    """A cast shadow (a tree, a pole, a bridge): ``count`` dark polygons crossing the image, each
    darkening by ``intensity`` (albumentations ``add_shadow``)."""

    name = "shadow"
    description = "cast shadows across the sign"
    severity_table = (
        {"count": 1, "intensity": 0.30},
        {"count": 1, "intensity": 0.45},
        {"count": 2, "intensity": 0.55},
        {"count": 2, "intensity": 0.65},
        {"count": 3, "intensity": 0.75},
    )

    def _apply(self, image, parameters, rng, roi):
        height, width = image.shape[:2]
        polygons = []
        for _ in range(parameters["count"]):
            # a band between two lines that both cross the image
            top = np.sort(rng.uniform(-0.2, 1.2, 2)) * width
            bottom = np.sort(rng.uniform(-0.2, 1.2, 2)) * width
            polygons.append(np.array([[top[0], 0], [top[1], 0], [bottom[1], height], [bottom[0], height]],
                                     dtype=np.int32))
        return _albumentations().add_shadow(image, polygons, np.full(len(polygons), parameters["intensity"]))
