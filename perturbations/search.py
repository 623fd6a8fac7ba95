"""Counterexample search: the smallest sticker attack that changes a correct prediction.

Hypothesis explores the admissible sticker space (count, position, size, colour within a
budget of covered sign area) and shrinks a failing placement towards fewer, smaller stickers.
Every candidate placement is applied to all candidate images at once and judged with one
batched ``predict_fn`` call. The search is reproducible: derandomized, no example database,
a fixed budget of candidates.
"""

from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from safety_harness.core.progress import SILENT, Progress
from safety_harness.perturbations.stickers import COLOURS, Sticker, apply_stickers, covered_fraction, covered_pixels

_SIZE_STEPS = 20  # sticker side in steps of 1/20 of the budget's side: shrinking makes stickers smaller


@dataclass
class SearchResult:
    """What the search found. ``found`` is False when no candidate within budget changed a prediction."""

    found: bool
    candidates_tried: int
    budget: float
    stickers: tuple = ()
    image_index: int | None = None
    roi: tuple | None = None
    original: np.ndarray | None = field(default=None, repr=False)
    perturbed: np.ndarray | None = field(default=None, repr=False)
    original_class: int | None = None
    predicted_class: int | None = None
    confidence: float | None = None

    def describe(self) -> str:
        if not self.found:
            return (f"no sticker placement within {self.budget:.0%} of the sign's area changed a prediction "
                    f"({self.candidates_tried} candidates tried)")
        colours = {v: k for k, v in COLOURS.items()}
        stickers = "; ".join(f"{colours.get(s.colour, s.colour)} {s.w:.2f}x{s.h:.2f} at ({s.x:.2f}, {s.y:.2f})"
                             for s in self.stickers)
        x1, y1, x2, y2 = self.roi
        pixels = covered_pixels(self.stickers, self.roi)
        return (f"{len(self.stickers)} sticker(s) painting {pixels} pixel(s), {pixels / ((x2 - x1) * (y2 - y1)):.2%} "
                f"of the sign's {x2 - x1}x{y2 - y1} box (nominal {covered_fraction(self.stickers):.2%}) "
                f"[{stickers}] turn class {self.original_class} into {self.predicted_class} "
                f"(p={self.confidence:.2f}); found after {self.candidates_tried} candidates")


def sticker_strategy(budget: float, max_count: int, colours=tuple(COLOURS)):
    """Placements of 1..``max_count`` stickers whose nominal area stays within ``budget``."""
    side = float(np.sqrt(budget / max_count))
    one = st.builds(
        lambda x, y, w, h, colour: Sticker(x / 20, y / 20, side * w / _SIZE_STEPS, side * h / _SIZE_STEPS,
                                           COLOURS[colour]),
        st.integers(0, 20), st.integers(0, 20), st.integers(1, _SIZE_STEPS), st.integers(1, _SIZE_STEPS),
        st.sampled_from(colours),
    )
    return st.lists(one, min_size=1, max_size=max_count).map(tuple)


def search_counterexample(images, rois, labels, predict_fn, budget: float, max_count: int = 3,
                          max_examples: int = 200, colours=tuple(COLOURS),
                          progress: Progress = SILENT) -> SearchResult:
    """Search sticker placements on ``images`` (uint8 (n, H, W, 3) with true classes ``labels``) for
    one that changes a correct prediction; ``predict_fn`` maps a batch to probabilities.

    Only the images the model classifies correctly without stickers take part.
    """
    correct = predict_fn(images).argmax(axis=1) == labels
    images, rois, labels = images[correct], np.asarray(rois)[correct], np.asarray(labels)[correct]
    if len(images) == 0:
        raise ValueError("images must hold at least one correctly classified image")
    if not 0 < budget <= 1:
        raise ValueError(f"budget must be in (0, 1], got {budget!r}")
    tried = 0

    def flips(stickers):
        nonlocal tried
        tried += 1
        advance()
        batch = np.stack([apply_stickers(image, stickers, roi) for image, roi in zip(images, rois)])
        return bool((predict_fn(batch).argmax(axis=1) != labels).any())

    policy = settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                      phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    with progress.stage("sticker counterexample search (candidates; shrinking adds more)", max_examples) as advance:
        try:
            stickers = find(sticker_strategy(budget, max_count, colours), flips, settings=policy)
        except NoSuchExample:
            return SearchResult(found=False, candidates_tried=tried, budget=budget)
        # hypothesis shrinks sizes well but may keep stickers that no longer matter: drop them one by one
        for sticker in sorted(stickers, key=lambda s: s.w * s.h):
            fewer = tuple(s for s in stickers if s is not sticker)
            if fewer and flips(fewer):
                stickers = fewer
    batch = np.stack([apply_stickers(image, stickers, roi) for image, roi in zip(images, rois)])
    probabilities = predict_fn(batch)
    flipped = int(np.flatnonzero(probabilities.argmax(axis=1) != labels)[0])
    return SearchResult(
        found=True, candidates_tried=tried, budget=budget, stickers=stickers, image_index=flipped,
        roi=tuple(int(v) for v in rois[flipped]),
        original=images[flipped], perturbed=batch[flipped], original_class=int(labels[flipped]),
        predicted_class=int(probabilities[flipped].argmax()), confidence=float(probabilities[flipped].max()),
    )
