"""The data behind the uncertainty requirements: reference, held-out in-distribution, OOD sets, fitted alarms.

The in-distribution data is ``--reference DIR`` (for example the model's validation set), the
bundled reference for the bundled default, or else the ingest itself, and the report says which.
Seeded thirds of it fit the detectors, fit the alarm threshold, and count false alarms: never on
data the threshold or the detector was fitted on. Drift compares the
ingest with an independent reference only.
"""

import dataclasses
import functools
from pathlib import Path

import numpy as np

from safety_harness.core.errors import HarnessInputError, shown
from safety_harness.core.names import is_safe_name
from safety_harness.ingest import iter_image_batches, open_ingest
from safety_harness.ood import (
    DETECTORS,
    GIVEN_OOD_SETS,
    OOD_SET_NAMES,
    DetectorInputs,
    OodSet,
    appearance,
    bundled_ood_sets,
    fit_threshold,
)
from safety_harness.plan.conditions import CLEAN
from safety_harness.run.context import StageContext
from safety_harness.run.mc_dropout import McDropoutStage
from safety_harness.run.prediction_cache import cache_key
from safety_harness.run.stage_code import MODEL_CODE

OOD_SET_SIZE = 300


def inputs_of(predictions) -> DetectorInputs:
    features, looks = predictions.features, predictions.appearance
    if predictions.detector_inputs_from is not None:
        source, positions = predictions.detector_inputs_from
        features, looks = _pick(source.features, positions), _pick(source.appearance, positions)
    return DetectorInputs(predictions.probabilities, predictions.logits, features, looks,
                          predictions.member_probabilities, predictions.mc_dropout)


class UncertaintyContext:
    """Reference and held-out predictions, OOD-set predictions, detectors fitted once each."""

    def __init__(self, context: StageContext, mc_dropout: McDropoutStage, given_ood_sets):
        self._context = context
        #: the MC dropout passes the detectors that read them are fitted on
        self._mc_dropout_passes = mc_dropout
        #: the out-of-distribution sets given with --ood-set
        self._given_ood_sets = given_ood_sets
        self._fitted: dict[str, object] = {}
        #: the cache key of each costly detector's fitted state
        self._fit_keys: dict[str, str] = {}

    @functools.cached_property
    def _split(self):
        run = self._context
        if run.reference_ingest is not None:
            data, source = self._predict_reference(run.reference_ingest), f"reference data {run.reference_ingest.root}"
        else:
            data, source = run.clean, "the ingest (no --reference given)"
        # three disjoint seeded thirds: a threshold fitted on the detector's own fitting data would be
        # too tight (those scores are optimistically low), and false alarms need data seen by neither
        parts = np.array_split(np.random.default_rng(run.options.seed).permutation(data.indices.size), 3)
        source += (": seeded thirds fit the detectors, fit the alarm threshold, and serve as the held-out "
                   "in-distribution data")
        return (*(_subset(data, np.sort(part)) for part in parts), source, run.reference_ingest is not None)

    @property
    def fitting(self):
        """In-distribution data the detectors are fitted on."""
        return self._split[0]

    @property
    def calibration(self):
        """In-distribution data the alarm threshold is fitted on, and the drift reference."""
        return self._split[1]

    @property
    def held_out(self):
        """In-distribution data used for nothing but counting false alarms."""
        return self._split[2]

    @property
    def reference_source(self) -> str:
        return self._split[3]

    @property
    def independent_reference(self) -> bool:
        return self._split[4]

    def _predict_reference(self, reference):
        predictions, failures = self._context.predict(reference, CLEAN, stage="reference data")
        if failures:
            index, reason = failures[0]
            raise HarnessInputError(f"Reference {reference.root}: {len(failures)} image(s) cannot be used, e.g. "
                                    f"{reference.records[index].path} ({reason})", "Repair or remove them.")
        return predictions

    @functools.cached_property
    def generated_ood_sets(self) -> list[OodSet]:
        """The generated OOD sets the plan's cases read, at the model's input size."""
        run = self._context
        return bundled_ood_sets(run.model.card.size, OOD_SET_SIZE, run.options.seed, names=run.plan.ood_sets_needed)

    @functools.cached_property
    def ood_sets(self) -> dict:
        """The generated and user-given OOD sets the plan's cases read, at the model's input size:
        name -> (set, DetectorInputs)."""
        run = self._context
        card, needed = run.model.card, run.plan.ood_sets_needed
        sets = list(self.generated_ood_sets)
        for name, ingest in self._given_ood_sets.items():
            if name not in needed:
                continue
            batches = list(iter_image_batches(ingest, card.size, card.interpolation, run.options.batch_size,
                                              max_pixels=run.options.max_image_pixels))
            if any(batch.failures for batch in batches):
                path, reason = next((ingest.records[i].path, r) for b in batches for i, r in b.failures)
                raise HarnessInputError(f"OOD set {ingest.root}: {path} cannot be used ({reason})",
                                        "Repair or remove it.")
            sets.append(OodSet(name, "near", f"given with --ood-set: {ingest.root}",
                               np.concatenate([batch.images for batch in batches])))
        result = {}
        for ood_set in sets:
            batches = [ood_set.images[i:i + run.options.batch_size]
                       for i in range(0, len(ood_set.images), run.options.batch_size)]
            outputs = run.cache.cached(f"OOD set {ood_set.name} predictions",
                                       functools.partial(_predicted, run.model, batches), code=MODEL_CODE,
                                       model=run.model.sha256,
                                       card=run.model.card.to_dict(), images=ood_set.images,
                                       batch_size=run.options.batch_size)
            result[ood_set.name] = (ood_set, DetectorInputs(
                outputs["probabilities"], outputs.get("logits"), outputs.get("features"), appearance(ood_set.images),
                outputs.get("member_probabilities"), self._ood_set_mc_dropout(ood_set, batches)))
        return result

    def _ood_set_mc_dropout(self, ood_set, batches):
        """The MC dropout scores of an OOD set when a case reads them and the model allows them, else None."""
        run = self._context
        if not run.plan.mc_dropout_conditions or self._mc_dropout_passes.unavailable_reason:
            return None
        key = cache_key(code=MODEL_CODE, model=run.model.sha256, card=run.model.card.to_dict(),
                        images=ood_set.images)
        return self._mc_dropout_passes.scores(key, f"OOD set {ood_set.name}", batches, len(ood_set.images))

    def detector(self, name: str):
        """The fitted detector, or a string saying why it is unavailable for this model."""
        if name not in self._fitted:
            detector = DETECTORS[name]()
            fitting = self.fitting
            reason = ((detector.needs_mc_dropout and self._mc_dropout_passes.unavailable_reason)
                      or detector.unavailable_reason(inputs_of(fitting)))
            if reason is None:
                self._fit(detector, inputs_of(fitting), fitting.labels if fitting.labelled else fitting.predicted)
            self._fitted[name] = reason or detector
        return self._fitted[name]

    def _fit(self, detector, inputs, labels):
        """Fit ``detector``; one that trains a network reads the images only and is kept in the persistent
        cache keyed on its own inputs: the fitting images, its seed and its code (its parameters are constants
        of that code), not the model, so a second model on the same reference reads it from the cache."""
        if not detector.costly_fit:
            detector.fit(inputs, labels)
            return
        cache = self._context.cache
        key = self._fit_keys[detector.name] = cache_key(code=type(detector), detector=detector.name,
                                                        images=inputs.images, seed=detector.seed)
        stored = cache.load(key, f"{detector.name} detector")
        if stored is not None:
            arrays, _ = stored
            detector.restore([arrays[name] for name in sorted(arrays)])
            return
        detector.fit(inputs, labels)
        cache.store(key, {f"w{i:03d}": weights for i, weights in enumerate(detector.state())}, [])

    def scores(self, detector, inputs: DetectorInputs) -> np.ndarray:
        """``detector``'s scores of ``inputs``. A costly detector reads the images only (its fit is keyed by
        them too): its scores are kept in the run's cache under its fitted state's key and the images, so a
        warm run neither builds its network nor runs it."""
        if not detector.costly_fit:
            return detector.score(inputs)
        return self._context.cache.cached(f"{detector.name} detector scores", lambda: {"scores": detector.score(inputs)},
                                      detector=self._fit_keys[detector.name], images=inputs.images)["scores"]

    def threshold(self, detector, target_false_alarm_rate: float) -> float:
        return fit_threshold(self.scores(detector, inputs_of(self.calibration)), target_false_alarm_rate)


def _predicted(model, batches) -> dict:
    """The model's outputs on ``batches``, concatenated, by name (None: the model does not give it)."""
    outputs = [model.predict(batch) for batch in batches]
    return {name: None if getattr(outputs[0], name) is None else np.concatenate([getattr(o, name) for o in outputs])
            for name in ("probabilities", "logits", "features", "member_probabilities")}


def _pick(array, positions):
    return None if array is None else array[positions]


def _subset(predictions, positions):
    """``predictions`` at ``positions``. The features and appearance, the largest arrays, are not copied
    but indexed from ``predictions`` when a detector reads them (:func:`inputs_of`): the thirds stay alive
    all run, and copies would double the clean images' detector inputs."""
    return dataclasses.replace(predictions, indices=predictions.indices[positions], labels=predictions.labels[positions],
                   probabilities=predictions.probabilities[positions], logits=_pick(predictions.logits, positions),
                   features=None, appearance=None, detector_inputs_from=(predictions, positions),
                   member_probabilities=_pick(predictions.member_probabilities, positions),
                   mc_dropout=None if predictions.mc_dropout is None else predictions.mc_dropout.subset(positions))


def given_ood_sets(paths) -> dict:
    """The user's OOD folders by name (the folder's name), opened and checked before any test."""
    sets = {}
    for path in paths:
        name = Path(path).name
        if not is_safe_name(name):
            raise HarnessInputError(
                f"--ood-set {shown(str(path))}: its folder name {shown(name)} becomes part of test ids and the report, "
                "and may hold only letters, digits and _ . -",
                "Rename the folder (or link it under such a name) and pass that path.")
        if name in OOD_SET_NAMES or name == GIVEN_OOD_SETS or name in sets:
            raise HarnessInputError(f"--ood-set {path}: the name {name!r} is already taken",
                                    "Give each OOD folder a distinct name that is not a generated set's.")
        ingest = open_ingest(path)
        if not ingest.records:
            raise HarnessInputError(f"--ood-set {path} holds no image", "Point --ood-set at a folder of images.")
        sets[name] = ingest
    return sets
