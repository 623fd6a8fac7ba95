"""Predictions of the model under test on one condition of the ingest, and how they are computed."""

import functools
from dataclasses import dataclass, field

import numpy as np

from safety_harness.core.prefetch import prefetched
from safety_harness.core.progress import Progress
from safety_harness.ingest import Ingest
from safety_harness.ood import McDropoutScores, appearance
from safety_harness.perturbations import get_perturbation, perturb_batch
from safety_harness.plan.conditions import Condition
from safety_harness.run.stage_code import MODEL_CODE

#: the code that turns an image file into stored predictions: this module's and the model's
PREDICTION_CODE = (__name__, MODEL_CODE)


@dataclass(frozen=True)
class Predictions:
    """The model's outputs on the evaluated images of one condition.

    ``indices`` are positions in ``ingest.records`` (the ingest or reference data the images come
    from; images that failed to decode are
    not among them); ``labels`` holds -1 where the ingest has no label. ``member_probabilities``
    (n, members, classes) holds each member's probabilities when the model is an ensemble (the
    ensemble's disagreement is read from them under any condition), else None. The OOD detectors' inputs,
    ``features`` and ``appearance`` (16x16 copies of the images as the model saw them), are kept
    for clean images only: detectors read nothing else, and a perturbed condition's copies would
    grow memory with the ingest for no use. ``mc_dropout`` holds the scores of MC dropout passes
    where a requirement's detector reads them (stored in the cache as an entry of its own), else None.
    """

    ingest: Ingest = field(repr=False, compare=False)
    condition: Condition
    indices: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray
    logits: np.ndarray | None
    features: np.ndarray | None
    appearance: np.ndarray | None
    member_probabilities: np.ndarray | None = None
    mc_dropout: McDropoutScores | None = None
    #: for a subset that does not copy the detectors' ``features`` and ``appearance`` (both None here):
    #: the predictions holding them and this subset's positions there, indexed when a detector reads them
    detector_inputs_from: tuple["Predictions", np.ndarray] | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @functools.cached_property
    def confidence(self) -> np.ndarray:
        return self.probabilities.max(axis=1)

    @property
    def labelled(self) -> bool:
        return bool(self.labels.size) and bool((self.labels >= 0).all())

    @classmethod
    def from_arrays(cls, ingest, condition: Condition, arrays: dict) -> "Predictions":
        """Rebuild from :meth:`arrays` (labels are read from the ingest)."""
        indices = arrays["indices"]
        return cls(ingest=ingest, condition=condition, indices=indices, labels=ingest.labels[indices],
                   probabilities=arrays["probabilities"], logits=arrays.get("logits"),
                   features=arrays.get("features"), appearance=arrays.get("appearance"),
                   member_probabilities=arrays.get("member_probabilities"))

    def arrays(self) -> dict:
        """The model's outputs as named arrays (None where the model gives none), for storage."""
        return {"indices": self.indices, "probabilities": self.probabilities, "logits": self.logits,
                "features": self.features, "appearance": self.appearance,
                "member_probabilities": self.member_probabilities}

    def predicted_at(self, indices: np.ndarray) -> np.ndarray:
        """Predicted classes of the given ingest ``indices`` (all of which must be here)."""
        return self.predicted[np.searchsorted(self.indices, indices)]


def _stack(parts):
    return None if not parts or parts[0] is None else np.concatenate(parts)


def model_inputs(condition: Condition, seed: int):
    """``batch -> images the model sees`` under ``condition``: as decoded, or perturbed with ``seed``."""
    if condition.is_clean:
        return lambda batch: batch.images
    perturbation = get_perturbation(condition.name)
    return lambda batch: perturb_batch(perturbation, batch.images, condition.severity, seed, batch.rois)


def predict_batches(model, ingest, condition, batches, model_inputs, total: int, progress: Progress,
                    stage: str = "ingest") -> tuple[Predictions, list[tuple[int, str]]]:
    """One forward pass per batch of ``model_inputs(batch)`` over ``total`` images; decoding
    failures are collected, not raised. ``stage`` names the data in progress lines."""
    detector_inputs = condition.is_clean
    indices, probabilities, logits, features, looks, failures, members = [], [], [], [], [], [], []
    # the next batch is decoded and perturbed while the model runs on this one
    prepared = prefetched((batch, model_inputs(batch) if len(batch.indices) else None) for batch in batches)
    with progress.stage(f"predicting {stage} ({condition})", total) as advance:
        for batch, images in prepared:
            failures.extend(batch.failures)
            advance(len(batch.indices) + len(batch.failures))
            if images is None:
                continue
            outputs = model.predict(images)
            indices.append(batch.indices)
            probabilities.append(outputs.probabilities)
            logits.append(outputs.logits)
            members.append(outputs.member_probabilities)
            if detector_inputs:
                features.append(outputs.features)
                looks.append(appearance(images))
    predictions = Predictions.from_arrays(ingest, condition, {
        "indices": np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
        "probabilities": _stack(probabilities) if probabilities else np.zeros((0, 0), np.float32),
        "logits": _stack(logits),
        "member_probabilities": _stack(members),
        "features": _stack(features),
        "appearance": (np.concatenate(looks) if looks else appearance(np.zeros((0, 1, 1, 3), np.uint8)))
        if detector_inputs else None,
    })
    return predictions, failures
