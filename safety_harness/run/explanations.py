"""The run's explanation stage: which explainer, if any, passes its self-checks on this model.

Once per run, every explainer that applies is self-checked (safety_harness/explanations/
self_checks.py: model-parameter randomisation and deletion) on a seeded sample of
:data:`SAMPLE_SIZE` correctly recognised clean images, each explained for its true class.
The chosen explainer is the first, in :data:`~safety_harness.explanations.EXPLAINERS` order,
that passes both checks; its maps are evidence. No explainer applies to an ensemble
(:data:`ENSEMBLE_NOT_EXPLAINED`) nor to a deployed model (TFLite, ONNX: its runtime gives no gradients). When none passes, the best-scoring one
(lowest median randomisation correlation) still draws the report's heatmaps, marked as
having failed its sanity check, and nothing is judged on it.

The per-class view (:meth:`ExplanationStage.class_view`) shows where the model looks on one
class: the mean map (:func:`~safety_harness.metrics.relevance.mean_relevance_map`) over a
seeded sample of its recognised clean signs, explained for that class, and a few of them.
The report draws it for the stop sign and for every class that a requirement blocking the
release names as attracting (``details["attracting_class"]``).
"""

import functools
from dataclasses import dataclass

import numpy as np

from safety_harness.core.gtsrb import STOP_SIGN
from safety_harness.explanations import EXPLAINERS, ExplainedModel, availability
from safety_harness.explanations.self_checks import (
    deletion_check,
    deletion_curves,
    randomisation_check,
    randomised_clone,
)
from safety_harness.metrics.relevance import mean_relevance_map, relevance_mass_in_box
from safety_harness.model_under_test import Ensemble
from safety_harness.model_under_test.inference import preprocess
from safety_harness.run.context import StageContext
from safety_harness.run.prediction_cache import cache_key
from safety_harness.run.stage_code import MODEL_CODE

SAMPLE_SIZE = 16
#: recognised signs of a class its mean map is taken over (a seeded sample when there are more)
CLASS_VIEW_SAMPLE = 256
#: of these, how many the report shows beside the mean
CLASS_VIEW_EXAMPLES = 4
#: why no explainer applies to an ensemble
ENSEMBLE_NOT_EXPLAINED = (
    "the model is an ensemble: its prediction is the mean of its members' probabilities, one network per "
    "member, each with its own input size and preprocessing, so there is no single network whose gradients or "
    "layers explain it, and a member's map explains that member, not the ensemble")


@dataclass(frozen=True)
class ExplainerFigures:
    """One explainer's self-check figures on the run's sample (None where it did not run)."""

    name: str
    applies: bool
    reason: str | None
    median_correlation: float | None = None
    correlation_threshold: float | None = None
    constant_maps: int | None = None
    randomised_layers: tuple[str, ...] = ()
    deletion_auc_difference: float | None = None
    deletion_upper_bound: float | None = None
    deletion_confidence: float | None = None
    passed: bool = False

    def to_dict(self) -> dict:
        return {"name": self.name, "applies": self.applies, "reason": self.reason,
                "median_correlation": self.median_correlation, "correlation_threshold": self.correlation_threshold,
                "constant_maps": self.constant_maps, "randomised_layers": list(self.randomised_layers),
                "deletion_auc_difference": self.deletion_auc_difference,
                "deletion_upper_bound": self.deletion_upper_bound, "deletion_confidence": self.deletion_confidence,
                "passed": self.passed}


@dataclass(frozen=True)
class Heatmaps:
    """Maps of a batch by ``explainer``; ``sanity_passed`` False: they must not be read as evidence."""

    maps: np.ndarray
    explainer: str
    sanity_passed: bool


@dataclass(frozen=True)
class AveragedMaps:
    """Explained images of one group (a class's recognised signs, a SpRAy cluster of training images): their mean
    image, their mean relevance map (:func:`~safety_harness.metrics.relevance.mean_relevance_map`) and the first
    of them as examples, with their files' names."""

    mean_image: np.ndarray
    mean_map: np.ndarray
    example_images: np.ndarray
    example_maps: np.ndarray
    example_names: tuple[str, ...]

    @classmethod
    def of(cls, images: np.ndarray, maps: np.ndarray, example_names) -> "AveragedMaps":
        """The group of ``images`` with their ``maps``; its first ``len(example_names)`` are the examples."""
        shown = len(example_names)
        return cls(np.rint(images.mean(axis=0)).astype(np.uint8), mean_relevance_map(maps), images[:shown],
                   maps[:shown], tuple(example_names))


@dataclass(frozen=True)
class ClassView:
    """Where the model looks on one class; without maps (``explainer`` None) ``reason`` says why.

    ``maps`` are over the ``averaged`` signs, with the first :data:`CLASS_VIEW_EXAMPLES` of them as examples.
    """

    class_id: int
    class_name: str
    recognised: int
    averaged: int = 0
    explainer: str | None = None
    sanity_passed: bool = False
    median_mass_in_box: float | None = None
    reason: str | None = None
    maps: AveragedMaps | None = None

    def to_dict(self) -> dict:
        return {"class": self.class_id, "class_name": self.class_name, "recognised": self.recognised,
                "averaged": self.averaged, "explainer": self.explainer, "sanity_passed": self.sanity_passed,
                "median_mass_in_box": self.median_mass_in_box,
                "examples": [] if self.maps is None else list(self.maps.example_names),
                "reason": self.reason}


class ExplanationStage:
    """The self-checks of every explainer on one run, computed on first use, and maps by the chosen one."""

    def __init__(self, context: StageContext):
        self._context = context

    @functools.cached_property
    def _model(self) -> ExplainedModel:
        model = self._context.model
        return ExplainedModel(model.network, model.loader, model.card.output)

    @property
    def model_wide_reason(self) -> str | None:
        """Why no explainer applies to the model at all (an ensemble, a model without gradients); None when each
        explainer is checked on it."""
        model = self._context.model
        return ENSEMBLE_NOT_EXPLAINED if isinstance(model, Ensemble) else model.gradients_unavailable_reason

    @functools.cached_property
    def sample_positions(self) -> np.ndarray:
        """Positions in the clean predictions of the seeded sample of correctly recognised images."""
        clean = self._context.clean
        correct = np.flatnonzero((clean.labels >= 0) & (clean.labels == clean.predicted))
        rng = np.random.default_rng(self._context.options.seed)
        return np.sort(rng.choice(correct, min(SAMPLE_SIZE, correct.size), replace=False))

    @functools.cached_property
    def figures(self) -> tuple[ExplainerFigures, ...]:
        """Every explainer's self-check figures, read from the run's cache when the model, its card, the
        ingest, the seed and the code are those they were computed with."""
        if self.model_wide_reason is not None:
            return tuple(ExplainerFigures(name, False, self.model_wide_reason) for name in EXPLAINERS)
        run = self._context
        key = cache_key(code=(__name__, MODEL_CODE), stage="explainer self-checks", model=run.model.sha256,
                        card=run.model.card.to_dict(),
                        ingest=run.content_sha256(run.ingest), records=run.ingest.order_sha256, seed=run.options.seed,
                        positions=self.sample_positions, explainers=list(EXPLAINERS))
        stored = run.cache.load_json(key, "explainer self-checks")
        if stored is not None:
            return tuple(ExplainerFigures(**{**figures, "randomised_layers": tuple(figures["randomised_layers"])})
                         for figures in stored["figures"])
        figures = self._checked_figures()
        run.cache.store_json(key, {"figures": [f.to_dict() for f in figures]})
        return figures

    def _checked_figures(self) -> tuple[ExplainerFigures, ...]:
        positions = self.sample_positions
        applicable = availability(self._model)
        if not positions.size:
            return tuple(ExplainerFigures(name, a.applies, a.reason if not a.applies else
                                          "no correctly recognised clean image to check it on")
                         for name, a in applicable.items())
        images, _ = self._context.images(self._context.clean, positions)
        inputs, class_ids = self._inputs(images), self._context.clean.labels[positions]
        twin, layers, twin_reason = self._randomised_twin()
        return tuple(self._check(name, applicable[name], inputs, class_ids, twin, layers, twin_reason)
                     for name in EXPLAINERS)

    def _randomised_twin(self):
        try:
            twin, layers = randomised_clone(self._model, seed=self._context.options.seed)
        except ValueError as error:  # a SavedModel has no layers to re-draw
            return None, (), str(error)
        return twin, layers, None

    def _check(self, name, applicability, inputs, class_ids, twin, layers, twin_reason) -> ExplainerFigures:
        if not applicability.applies:
            return ExplainerFigures(name, False, applicability.reason)
        explainer, seed = EXPLAINERS[name][0], self._context.options.seed
        input_range = tuple(self._context.model.card.pixel_range)
        maps = explainer(self._model, inputs, class_ids, input_range)
        deletion = deletion_check(*deletion_curves(self._model, inputs, maps, class_ids, seed=seed), seed=seed)
        figures = {"deletion_auc_difference": deletion.mean_difference,
                   "deletion_upper_bound": deletion.difference_upper_bound,
                   "deletion_confidence": deletion.confidence}
        if twin is None:
            return ExplainerFigures(name, True, f"randomisation check impossible: {twin_reason}", **figures)
        randomisation = randomisation_check(maps, explainer(twin, inputs, class_ids, input_range), layers)
        return ExplainerFigures(name, True, None, median_correlation=randomisation.median_correlation,
                                correlation_threshold=randomisation.threshold,
                                constant_maps=randomisation.constant_maps, randomised_layers=layers,
                                passed=randomisation.passed and deletion.passed, **figures)

    def _inputs(self, images) -> np.ndarray:
        return preprocess(images, self._context.model.card)

    @property
    def chosen(self) -> str | None:
        """The first explainer that passed both self-checks; None when none did."""
        return next((f.name for f in self.figures if f.passed), None)

    @property
    def heatmap_explainer(self) -> str | None:
        """The chosen explainer, else the applicable one with the lowest median correlation (None: none applies)."""
        if self.chosen is not None:
            return self.chosen
        scored = [f for f in self.figures if f.applies]
        if not scored:
            return None
        return min(scored, key=lambda f: np.inf if f.median_correlation is None else f.median_correlation).name

    def heatmaps(self, images: np.ndarray, class_ids) -> Heatmaps | None:
        """Maps of uint8 ``images`` (as the model saw them, before the card's preprocessing) for ``class_ids``,
        by :attr:`heatmap_explainer`, in one batch; None when no explainer applies. The maps are kept in the
        run's cache under the model, its card, the explainer, the images and the classes: a warm run reads them."""
        name = self.heatmap_explainer
        if name is None or not len(images):
            return None
        run, class_ids = self._context, np.asarray(class_ids, np.int64)
        maps = run.cache.cached(
            "heatmaps", lambda: {"maps": EXPLAINERS[name][0](self._model, self._inputs(images), class_ids,
                                                              tuple(run.model.card.pixel_range))},
            model=run.model.sha256, card=run.model.card.to_dict(), explainer=name, images=images,
            class_ids=class_ids, code=MODEL_CODE)["maps"]
        return Heatmaps(maps, name, name == self.chosen)

    def viewed_classes(self, results) -> list[int]:
        """The classes the report's per-class view shows: the stop sign (when the model has that class),
        then every class a requirement that blocks the release names as attracting, in the order judged
        (``results``: the run's recorded results)."""
        classes = [STOP_SIGN] if STOP_SIGN < len(self._context.class_names) else []
        for result in results:
            attracting = result.details.get("attracting_class")
            if result.verdict.blocks_release and attracting is not None and attracting not in classes:
                classes.append(int(attracting))
        return classes

    def class_view(self, class_id: int) -> ClassView:
        """Where the model looks on ``class_id``: the mean map over a seeded sample of at most
        :data:`CLASS_VIEW_SAMPLE` of its recognised clean signs, explained for that class, and a few examples."""
        clean = self._context.clean
        recognised = np.flatnonzero((clean.labels == class_id) & (clean.predicted == class_id))
        view = functools.partial(ClassView, class_id, self._context.class_names[class_id], int(recognised.size))
        if self.heatmap_explainer is None:
            return view(reason="no explainer applies to this model")
        if not (clean.labels >= 0).any():
            return view(reason="the ingest is unlabelled: no recognised sign to average over")
        if not recognised.size:
            return view(reason="no clean image of this class is recognised as it")
        rng = np.random.default_rng([self._context.options.seed, class_id])
        positions = np.sort(rng.choice(recognised, min(CLASS_VIEW_SAMPLE, recognised.size), replace=False))
        images, boxes = self._context.images(clean, positions)
        heatmaps = self.heatmaps(images, np.full(len(images), class_id))
        boxed = (boxes >= 0).all(axis=1)
        in_box = relevance_mass_in_box(heatmaps.maps[boxed], boxes[boxed]) if boxed.any() else None
        shown = positions[:CLASS_VIEW_EXAMPLES]
        return view(averaged=int(positions.size), explainer=heatmaps.explainer,
                    sanity_passed=heatmaps.sanity_passed,
                    median_mass_in_box=None if in_box is None else float(np.median(in_box)),
                    maps=AveragedMaps.of(images, heatmaps.maps,
                                         [clean.ingest.records[int(clean.indices[p])].path.name for p in shown]))

    def to_dict(self, class_views=()) -> dict:
        """The self-check figures, with the figures of the per-class ``class_views`` the report shows."""
        return {"sample_size": int(self.sample_positions.size), "seed": self._context.options.seed,
                "sample": "correctly recognised clean images, explained for their true class",
                "chosen": self.chosen, "heatmaps_from": self.heatmap_explainer,
                "explainers": [f.to_dict() for f in self.figures],
                "class_views": [view.to_dict() for view in class_views]}
