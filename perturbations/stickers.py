"""Stickers on the sign, as in the study that put black stickers on GTSRB signs.

A placement is explicit (:class:`StickerParams`), so the counterexample search can drive it;
the registered perturbations draw placements at random within a severity's budget: the share
of the sign's box the stickers cover (2, 4, 8, 12, 18 %), as one or several stickers.
"""

from dataclasses import dataclass

import numpy as np

from safety_harness.perturbations.base import Perturbation
from safety_harness.perturbations.registry import register

COLOURS = {
    "black": (15, 15, 15),
    "white": (245, 245, 245),
    "yellow": (240, 200, 20),
    "green": (40, 160, 60),
    "blue": (30, 80, 200),
}


@dataclass(frozen=True)
class Sticker:
    """One rectangular sticker: centre ``(x, y)`` and size ``(w, h)`` as fractions of the sign's box."""

    x: float
    y: float
    w: float
    h: float
    colour: tuple[int, int, int]


def _pixel_rectangles(stickers, roi):
    """``(sticker, left, top, w, h)`` in pixels: at least one pixel each, never outside the box."""
    x1, y1, x2, y2 = roi
    box_w, box_h = max(1, x2 - x1), max(1, y2 - y1)
    for sticker in stickers:
        w = min(box_w, max(1, int(round(sticker.w * box_w))))
        h = min(box_h, max(1, int(round(sticker.h * box_h))))
        left = x1 + int(round(sticker.x * box_w - w / 2))
        top = y1 + int(round(sticker.y * box_h - h / 2))
        yield sticker, min(max(left, x1), x2 - w), min(max(top, y1), y2 - h), w, h


def apply_stickers(image: np.ndarray, stickers, roi) -> np.ndarray:
    """Paint ``stickers`` inside ``roi`` (x1, y1, x2, y2, exclusive ends); they never leave the box."""
    out = image.copy()
    for sticker, left, top, w, h in _pixel_rectangles(stickers, roi):
        out[top:top + h, left:left + w] = sticker.colour
    return out


def sticker_mask(stickers, roi, shape) -> np.ndarray:
    """bool ``shape`` (height, width): the pixels :func:`apply_stickers` paints."""
    mask = np.zeros(shape, bool)
    for _, left, top, w, h in _pixel_rectangles(stickers, roi):
        mask[top:top + h, left:left + w] = True
    return mask


def covered_pixels(stickers, roi) -> int:
    """How many pixels of the box the stickers actually paint (overlaps counted once)."""
    x1, y1, x2, y2 = roi
    return int(sticker_mask(stickers, roi, (max(y2, 1), max(x2, 1))).sum())


def covered_fraction(stickers) -> float:
    """The nominal share of the box the stickers cover (overlaps counted twice)."""
    return float(sum(s.w * s.h for s in stickers))


class _StickerPerturbation(Perturbation):
    colours: tuple[str, ...] = ()
    severity_table = (
        {"coverage": 0.02, "max_count": 1},
        {"coverage": 0.04, "max_count": 2},
        {"coverage": 0.08, "max_count": 2},
        {"coverage": 0.12, "max_count": 3},
        {"coverage": 0.18, "max_count": 3},
    )

    def _apply(self, image, parameters, rng, roi):
        return apply_stickers(image, self._draw(parameters, rng), roi)

    def mask(self, image: np.ndarray, severity: int, seed: int, roi=None) -> np.ndarray:
        """bool (H, W): the pixels :meth:`apply` paints on ``image`` with the same arguments (a sticker may
        paint a pixel the colour it had: it is still the sticker's)."""
        if severity == 0:
            return np.zeros(image.shape[:2], bool)
        parameters, rng, roi = self._drawing(image, severity, seed, roi)
        return sticker_mask(self._draw(parameters, rng), roi, image.shape[:2])

    def _draw(self, parameters, rng) -> list[Sticker]:
        count = int(rng.integers(1, parameters["max_count"] + 1))
        stickers = []
        for share in rng.dirichlet(np.ones(count)) * parameters["coverage"]:
            aspect = rng.uniform(0.5, 2.0)
            w, h = np.sqrt(share * aspect), np.sqrt(share / aspect)
            colour = COLOURS[self.colours[int(rng.integers(len(self.colours)))]]
            stickers.append(Sticker(float(rng.uniform(0.15, 0.85)), float(rng.uniform(0.15, 0.85)),
                                    float(min(w, 1.0)), float(min(h, 1.0)), colour))
        return stickers


@register
class BlackStickers(_StickerPerturbation):
    name = "sticker"
    description = "black stickers on the sign (covered share of the sign's box grows with severity)"
    colours = ("black",)


@register
class WhiteStickers(_StickerPerturbation):
    name = "sticker_white"
    description = "white stickers on the sign"
    colours = ("white",)


@register
class ColouredStickers(_StickerPerturbation):
    name = "sticker_colour"
    description = "yellow, green or blue stickers on the sign"
    colours = ("yellow", "green", "blue")
