"""The run's sticker counterexample searches (perturbations/search.py), cached.

A search tries up to :data:`SEARCH_IMAGES` signs of a class that the model recognises under a
condition, every candidate sticker placement on all of them in one batch. It is derandomised, so its
result is a function of the model, the signs searched (their pixels, boxes and class), the search's
parameters and hypothesis's version. The result is kept in the prediction cache under all of these
(and, through the cache's code fingerprint, the search's code), so a warm run reads it back without
calling the model: the same result, field by field, and so the same evidence.
"""

import hypothesis
import numpy as np

from safety_harness.perturbations.search import SearchResult, search_counterexample
from safety_harness.perturbations.stickers import COLOURS, Sticker
from safety_harness.run.context import StageContext
from safety_harness.run.prediction_cache import cache_key
from safety_harness.run.stage_code import MODEL_CODE

SEARCH_IMAGES = 128  # correctly recognised signs each candidate sticker placement is tried on, in one batch
MAX_COUNT = 3  # stickers per placement
STAGE = "sticker counterexample search"


class CounterexampleStage:
    """The sticker counterexample searches of one run, computed or read from the cache."""

    def __init__(self, context: StageContext):
        self._context = context

    def search(self, predictions, class_id: int, budget: float, max_examples: int) -> SearchResult | None:
        """The search on the first :data:`SEARCH_IMAGES` signs of ``class_id`` recognised in ``predictions``
        (labelled and predicted as the class) for a placement within ``budget`` of a sign's box that changes a
        prediction, trying ``max_examples`` candidates; None when no sign of the class is recognised."""
        run = self._context
        recognised = np.flatnonzero((predictions.labels == class_id) & (predictions.predicted == class_id))
        if not recognised.size:
            return None
        images, rois = run.images(predictions, recognised[:SEARCH_IMAGES])
        labels = np.full(len(images), class_id)
        key = cache_key(code=(__name__, MODEL_CODE), stage=STAGE, model=run.model.sha256,
                        card=run.model.card.to_dict(), images=images, rois=rois, labels=labels, budget=budget,
                        max_examples=max_examples, max_count=MAX_COUNT,
                        colours=list(COLOURS.items()), hypothesis=hypothesis.__version__)
        stored = run.cache.load(key, f"{STAGE} {predictions.condition} class {class_id}")
        if stored is not None:
            return _result(stored[0], budget)
        result = search_counterexample(images, rois, labels, lambda batch: run.model.predict(batch).probabilities,
                                       budget=budget, max_count=MAX_COUNT, max_examples=max_examples,
                                       colours=tuple(COLOURS), progress=run.progress)
        run.cache.store(key, _arrays(result), [])
        return result


def _arrays(result: SearchResult) -> dict:
    """``result`` as named arrays but its budget, which is part of the key (those of a search that found nothing
    are None, so not stored)."""
    stickers = result.stickers
    return {"found": np.array(result.found), "candidates_tried": np.array(result.candidates_tried),
            "sticker_boxes": np.array([[s.x, s.y, s.w, s.h] for s in stickers], np.float64).reshape(-1, 4),
            "sticker_colours": np.array([s.colour for s in stickers], np.int64).reshape(-1, 3),
            "image_index": None if result.image_index is None else np.array(result.image_index),
            "roi": None if result.roi is None else np.array(result.roi, np.int64),
            "original": result.original, "perturbed": result.perturbed,
            "original_class": None if result.original_class is None else np.array(result.original_class),
            "predicted_class": None if result.predicted_class is None else np.array(result.predicted_class),
            "confidence": None if result.confidence is None else np.array(result.confidence, np.float64)}


def _result(arrays: dict, budget: float) -> SearchResult:
    """The :class:`SearchResult` of ``budget`` that :func:`_arrays` stored, rebuilt with the same Python types."""
    def scalar(name, kind):
        return None if name not in arrays else kind(arrays[name])

    stickers = tuple(Sticker(*(float(v) for v in box), tuple(int(c) for c in colour))
                     for box, colour in zip(arrays["sticker_boxes"], arrays["sticker_colours"], strict=True))
    roi = arrays.get("roi")
    return SearchResult(found=bool(arrays["found"]), candidates_tried=int(arrays["candidates_tried"]),
                        budget=budget, stickers=stickers, image_index=scalar("image_index", int),
                        roi=None if roi is None else tuple(int(v) for v in roi), original=arrays.get("original"),
                        perturbed=arrays.get("perturbed"), original_class=scalar("original_class", int),
                        predicted_class=scalar("predicted_class", int), confidence=scalar("confidence", float))
