"""The run's sticker-attraction stage: stickered signs of every class, predicted once, and where the
run's explainer puts its relevance when a sticker turns a sign into another class.

One seeded sample of the ingest's labelled, decoded images (:data:`IMAGES_PER_FAMILY`, or all of them
when the ingest has fewer) is stickered by each sticker family of the registry
(:data:`ATTRACTION_STICKERS`) at two placements, the family's severities
:data:`PLACEMENT_SEVERITIES` (stickers covering 4 % and 8 % of the sign's box, each placement drawn at
its own random place). Each family at one placement is a *stickered set*, predicted like any
condition, through the prediction cache; the metric (safety_harness/metrics/attraction.py) counts
every set on its own.

Corroboration: a *flip* is a sign recognised on clean input whose stickered copy is predicted as
another class. For the flips into the attracting class and, beside them, the flips into any other
class (up to :data:`EXPLAINED_FLIPS` each, drawn with the seed), the share of positive relevance of
the predicted class on the sticker's pixels, with a seeded bootstrap interval: a model that learned
the sticker puts its relevance there.
"""

import functools
from dataclasses import dataclass

import numpy as np

from safety_harness.metrics.attraction import StickerAttraction, sticker_attraction
from safety_harness.metrics.bootstrap import bootstrap_bound
from safety_harness.metrics.relevance import relevance_mass_in_mask
from safety_harness.perturbations import get_perturbation
from safety_harness.plan.conditions import Condition
from safety_harness.run.context import StageContext
from safety_harness.run.explanations import ExplanationStage

#: the sticker families of the perturbation registry pasted on every class
ATTRACTION_STICKERS = ("sticker", "sticker_white", "sticker_colour")
#: the registry's severities each family is pasted at: two placements per image, covering 3-10 % of the box
PLACEMENT_SEVERITIES = (2, 3)
#: images stickered by every family (all the labelled ones when the ingest has fewer)
IMAGES_PER_FAMILY = 1000
#: flips explained per side (into the attracting class, into the others)
EXPLAINED_FLIPS = 128
#: flips into the attracting class shown in the report, with their maps
SHOWN_FLIPS = 6
#: two-sided confidence of the relevance-share interval (each bound one-sided at (1 + it) / 2)
INTERVAL_CONFIDENCE = 0.95


@dataclass(frozen=True)
class RelevanceOnStickers:
    """Share of positive relevance on the sticker's pixels over ``n`` flips: mean and bootstrap interval
    (None when there is no flip)."""

    n: int
    mean: float | None
    lower: float | None
    upper: float | None

    def to_dict(self) -> dict:
        return {"n": self.n, "mean_share": self.mean, "interval": None if self.mean is None else [self.lower, self.upper],
                "interval_confidence": INTERVAL_CONFIDENCE}


@dataclass(frozen=True)
class Corroboration:
    """Relevance on the stickers of flips into ``class_id`` and into other classes, by ``explainer``
    (``sanity_passed`` False: it failed its self-checks, and its figures are not evidence); the first
    flips into the class with their maps, for the report."""

    class_id: int
    explainer: str
    sanity_passed: bool
    into_class: RelevanceOnStickers
    into_others: RelevanceOnStickers
    images: np.ndarray
    maps: np.ndarray
    captions: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"class": self.class_id, "explainer": self.explainer, "sanity_passed": self.sanity_passed,
                "into_attracting_class": self.into_class.to_dict(), "into_other_classes": self.into_others.to_dict()}


@dataclass(frozen=True)
class _Flips:
    """Flips, as stickered set and position in that set's predictions, with their predicted class."""

    sets: np.ndarray
    positions: np.ndarray
    predicted: np.ndarray


class StickerAttractionStage:
    """The stickered sets of one run, predicted on first use, and the corroboration of an attracting class."""

    def __init__(self, context: StageContext, explanations: ExplanationStage):
        self._context = context
        #: the explanation stage whose maps corroborate a sticker's attraction
        self._explanations = explanations
        self._corroborations: dict[int, Corroboration | None] = {}

    @property
    def sets(self) -> tuple[Condition, ...]:
        return tuple(Condition(name, severity) for name in ATTRACTION_STICKERS for severity in PLACEMENT_SEVERITIES)

    @functools.cached_property
    def sample(self) -> np.ndarray:
        """Ingest indices of the seeded sample of labelled, decoded images every set stickers, ascending."""
        clean = self._context.clean
        labelled = clean.indices[clean.labels >= 0]
        rng = np.random.default_rng(self._context.options.seed)
        return np.sort(rng.choice(labelled, min(IMAGES_PER_FAMILY, labelled.size), replace=False))

    @functools.cached_property
    def predictions(self) -> dict:
        """The predictions of every stickered set (Condition -> Predictions), through the prediction cache."""
        run = self._context
        return {condition: run.predict(run.ingest, condition, self.sample, stage="sticker attraction")[0]
                for condition in self.sets}

    def attraction(self, limit: float, confidence: float) -> StickerAttraction:
        """The metric over every stickered set against ``limit`` at joint ``confidence``."""
        predictions = self.predictions.values()
        return sticker_attraction(np.concatenate([p.labels for p in predictions]),
                                  np.concatenate([p.predicted for p in predictions]),
                                  np.concatenate([np.full(p.indices.size, str(p.condition)) for p in predictions]),
                                  len(self._context.class_names), limit, confidence)

    def _flips(self) -> _Flips:
        sets, positions, predicted = [], [], []
        for number, stickered in enumerate(self.predictions.values()):
            clean = self._context.clean.predicted_at(stickered.indices)
            flipped = np.flatnonzero((clean == stickered.labels) & (stickered.predicted != clean))
            sets.append(np.full(flipped.size, number))
            positions.append(flipped)
            predicted.append(stickered.predicted[flipped])
        return _Flips(*(np.concatenate(parts).astype(np.int64) for parts in (sets, positions, predicted)))

    def corroboration(self, class_id: int) -> Corroboration | None:
        """Relevance on the stickers of flips into ``class_id`` and into other classes, computed once per class;
        None when no explainer applies to the model."""
        explanations = self._explanations
        if explanations.heatmap_explainer is None:
            return None
        if class_id not in self._corroborations:
            flips = self._flips()
            rng = np.random.default_rng(self._context.options.seed)
            sides = [np.sort(rng.choice(candidates, min(EXPLAINED_FLIPS, candidates.size), replace=False))
                     for candidates in (np.flatnonzero(flips.predicted == class_id),
                                        np.flatnonzero(flips.predicted != class_id))]
            chosen = np.concatenate(sides)
            images, masks, captions = self._stickered_images(flips, chosen)
            heatmaps = explanations.heatmaps(images, flips.predicted[chosen])
            maps = np.zeros(masks.shape, np.float32) if heatmaps is None else heatmaps.maps  # None: no flip at all
            shares = relevance_mass_in_mask(maps, masks)
            into_class, into_others = shares[:sides[0].size], shares[sides[0].size:]
            shown = slice(0, min(SHOWN_FLIPS, sides[0].size))
            captions = tuple(f"{caption}; {share:.0%} of the relevance on the stickers"
                             for caption, share in zip(captions[shown], into_class[shown]))
            self._corroborations[class_id] = Corroboration(
                class_id, explanations.heatmap_explainer, explanations.heatmap_explainer == explanations.chosen,
                self._summary(into_class), self._summary(into_others), images[shown], maps[shown], captions)
        return self._corroborations[class_id]

    def _stickered_images(self, flips: _Flips, chosen) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The stickered images of the ``chosen`` flips as the model saw them, their sticker masks and captions."""
        run, seed, names = self._context, self._context.options.seed, self._context.class_names
        height, width = run.model.card.size
        images = np.zeros((len(chosen), height, width, 3), np.uint8)
        masks = np.zeros((len(chosen), height, width), bool)
        captions = [""] * len(chosen)
        for number, stickered in enumerate(self.predictions.values()):
            rows = np.flatnonzero(flips.sets[chosen] == number)
            positions = flips.positions[chosen][rows]
            clean_images, boxes = run.images(run.clean, np.searchsorted(run.clean.indices, stickered.indices[positions]))
            perturbation, severity = get_perturbation(stickered.condition.name), stickered.condition.severity
            for row, image, box, position in zip(rows, clean_images, boxes, positions):
                images[row] = perturbation.apply(image, severity, seed, box)
                masks[row] = perturbation.mask(image, severity, seed, box)
                label, predicted = int(stickered.labels[position]), int(stickered.predicted[position])
                record = stickered.ingest.records[int(stickered.indices[position])]
                captions[row] = (f"{record.path.name} ({stickered.condition}): {names[label]} ({label}) -> "
                                 f"{names[predicted]} ({predicted}), p={stickered.confidence[position]:.2f}")
        return images, masks, captions

    def _summary(self, shares: np.ndarray) -> RelevanceOnStickers:
        if not shares.size:
            return RelevanceOnStickers(0, None, None, None)
        options, level = self._context.options, (1 + INTERVAL_CONFIDENCE) / 2
        lower, upper = (bootstrap_bound(np.mean, [(shares,)], direction, level, n_resamples=options.bootstrap_resamples,
                                        seed=options.seed) for direction in (">=", "<="))
        return RelevanceOnStickers(int(shares.size), float(shares.mean()), lower, upper)
