"""One evaluation run of a plan: the model, the ingest and the predictions the plan's cases share.

Every image is predicted once per condition and the result shared by all the cases that read
it; only the conditions and classes the cases read are predicted. Inputs are validated here,
before any test runs, so bad input ends the run with one :class:`HarnessInputError`.
"""

import dataclasses
import functools
import time
from pathlib import Path

import numpy as np

from model_under_test import load_model
from model_under_test.preprocessing_check import apply_check, compare_preprocessing, model_predict, sample_indices
from perturbations import get_perturbation, perturb_batch
from safety_harness.core.errors import HarnessInputError
from safety_harness.core.progress import SILENT, Progress
from safety_harness.evidence.results import EvidenceLog
from safety_harness.ingest import iter_image_batches, open_ingest
from safety_harness.ingest.decoded import DecodedIngest
from safety_harness.plan.plan import RunPlan
from safety_harness.plan.requirements import CLEAN, Condition
from safety_harness.run.explanations import ExplanationStage
from safety_harness.run.mc_dropout import McDropoutStage
from safety_harness.run.prediction_cache import PredictionCache, cache_key
from safety_harness.run.predictions import Predictions, predict_batches
from safety_harness.run.uncertainty import UncertaintyContext, given_ood_sets


class SafetyRun:
    """Loads and validates the inputs of a planned run; computes the predictions its cases read, on
    demand, once."""

    def __init__(self, plan: RunPlan, progress: Progress = SILENT):
        self.plan = plan
        #: where long stages report their counts (a terminal, or nowhere)
        self.progress = progress
        self.options = options = plan.options
        # cheapest checks first: a wrong path or layout is reported before TensorFlow is imported
        self.ingest = open_ingest(options.ingest_path)
        self.reference_ingest = None if options.reference_path is None else open_ingest(options.reference_path)
        self.given_ood_sets = given_ood_sets(options.ood_set_paths)
        self.model = load_model(options.model_path, options.card_path, allow_unsafe=options.allow_unsafe_model)
        self.class_names = tuple(self.model.card.class_names)
        self._check_ingest_labels()
        self.preprocessing_check = self._check_preprocessing()
        self.uncertainty = UncertaintyContext(self)
        self._perturbed: dict[Condition, Predictions] = {}
        self.excluded: list[tuple[str, str]] = []
        self.evidence = EvidenceLog()
        self.cache = PredictionCache(options.cache_dir)
        self._content_hashes: dict[Path, str] = {}
        #: the explainers' self-checks and the chosen explainer's maps, computed on first use
        self.explanations = ExplanationStage(self)
        #: MC dropout passes for the detectors that read them, computed on first use
        self.mc_dropout = McDropoutStage(self)

    def predict(self, ingest, condition: Condition, indices=None, stage: str = "ingest") -> tuple[Predictions, list]:
        """Predictions on ``indices`` of ``ingest`` (all: None) under ``condition``, served from the
        persistent cache when every input that determines them is unchanged."""
        key = cache_key(model=self.model.sha256, card=self.model.card.to_dict(), ingest=self.content_sha256(ingest),
                        condition=str(condition), perturbation=self._perturbation_definition(condition),
                        seed=self.options.seed, indices=indices, batch_size=self.options.batch_size)
        requested = np.arange(len(ingest.records)) if indices is None else indices
        stored = self.cache.load(key, f"{stage} {condition}", expected_indices=requested)
        if stored is not None:
            arrays, failures = stored
            predictions = Predictions.from_arrays(ingest, condition, arrays)
        else:
            predictions, failures = predict_batches(self.model, ingest, condition, self._batches(indices, ingest),
                                                    self._model_inputs(condition), len(requested), self.progress,
                                                    stage)
            self.cache.store(key, predictions.arrays(), failures)
        if condition in self.plan.mc_dropout_conditions and not self.mc_dropout.unavailable_reason:
            predictions = dataclasses.replace(predictions, mc_dropout=self.mc_dropout.scores(
                key, f"{stage} {condition}", self._model_input_batches(predictions), predictions.indices.size))
        return predictions, failures

    def content_sha256(self, ingest) -> str:
        """``ingest.content_sha256()``, read from the cache under the ingest's manifest (paths, sizes,
        times, inodes) when an earlier run hashed the same files, so unchanged bytes are not re-read."""
        if ingest.root not in self._content_hashes:
            taken, manifest = time.time_ns(), ingest.manifest()
            key = cache_key(ingest_manifest=manifest.sha256)
            stored = self.cache.load(key, f"content hash of {ingest.root}")
            if stored is None:
                self._content_hashes[ingest.root] = ingest.content_sha256()
                if manifest.trustworthy(taken):
                    self.cache.store(key, {"sha256": np.array(self._content_hashes[ingest.root])}, [])
            else:
                self._content_hashes[ingest.root] = str(stored[0]["sha256"])
        return self._content_hashes[ingest.root]

    def _model_input_batches(self, predictions: Predictions):
        """The images behind ``predictions``, in order, as the model saw them (decoded only when iterated)."""
        inputs = self._model_inputs(predictions.condition)
        for batch in self._batches(predictions.indices, predictions.ingest):
            yield inputs(batch)

    @staticmethod
    def _perturbation_definition(condition: Condition):
        if condition.is_clean:
            return None
        perturbation = get_perturbation(condition.name)
        return {"class": f"{type(perturbation).__module__}.{type(perturbation).__qualname__}",
                "parameters": perturbation.severity_parameters(condition.severity)}

    def _check_ingest_labels(self):
        counts = self.ingest.class_counts()
        unknown = sorted(label for label in counts if label >= len(self.class_names))
        if unknown:
            raise HarnessInputError(
                f"Ingest {self.ingest.root} is labelled with class(es) {unknown} that the model does not have "
                f"(its card lists {len(self.class_names)} classes, 0..{len(self.class_names) - 1})",
                "Use a model card whose 'classes' cover the ingest's labels, or remove those images from the ingest.",
            )

    def _check_preprocessing(self):
        """Compare the card's channel order and pixel range with the alternatives on one seeded batch of the
        ingest (:mod:`model_under_test.preprocessing_check`); a clearly better one stops a run with a card and
        replaces an assumed card."""
        card = self.model.card
        sample = sample_indices(len(self.ingest.records), self.options.seed)
        batch = next(iter_image_batches(self.ingest, card.size, card.resize, len(sample), sample))
        if not batch.indices.size:
            return None  # nothing decodes: the clean pass reports every image
        labels = self.ingest.labels[batch.indices] if self.ingest.labelled else None
        check = compare_preprocessing(model_predict(self.model), card, batch.images, labels)
        self.model = apply_check(self.model, check)
        return check

    @functools.cached_property
    def clean(self) -> Predictions:
        """Predictions on the ingest as it is, every image through one batched forward pass."""
        predictions, failures = self.predict(self.ingest, CLEAN)
        if failures:
            listed = "\n".join(f"    {self.ingest.records[i].path}: {reason}" for i, reason in failures[:20])
            more = f"\n    ... and {len(failures) - 20} more" if len(failures) > 20 else ""
            if not self.options.allow_corrupt_images:
                raise HarnessInputError(
                    f"Ingest {self.ingest.root}: {len(failures)} image(s) cannot be decoded:\n{listed}{more}",
                    "Replace or remove them, or pass --allow-corrupt-images to evaluate the rest "
                    "(the report then lists every excluded image).",
                )
            self.excluded = [(str(self.ingest.records[i].path), reason) for i, reason in failures]
        if not predictions.indices.size:
            raise HarnessInputError(
                f"Ingest {self.ingest.root}: no image could be evaluated", "Check that the ingest holds readable images."
            )
        return predictions

    def model_identity(self) -> dict:
        model = self.model
        return {
            "path": str(model.path),
            "format": model.format,
            "loader": model.loader,
            "sha256": model.sha256,
            "input_shape": list(model.input_shape),
            "output_shape": list(model.output_shape),
            "parameters": model.num_parameters,
            "card_path": None if model.card_path is None else str(model.card_path),
            "card_assumed": model.card_assumed,
            "card": model.card.to_dict(),
            "load_warnings": list(model.load_warnings),
            "preprocessing_check": None if self.preprocessing_check is None else self.preprocessing_check.to_dict(),
            "safety_checks": model.screening,
        }

    def ingest_identity(self) -> dict:
        ingest = self.ingest
        return {
            "path": str(ingest.root),
            "layout": ingest.layout,
            "label_file": None if ingest.label_file is None else str(ingest.label_file),
            "labelled": ingest.labelled,
            "n": len(ingest.records),
            "evaluated": int(self.clean.indices.size),
            "sha256": self.content_sha256(ingest),
            "class_counts": {str(k): v for k, v in sorted(ingest.class_counts().items())},
            "excluded": [{"path": path, "reason": reason} for path, reason in self.excluded],
            "ignored": [{"path": str(path), "reason": reason} for path, reason in ingest.ignored],
        }

    def _batches(self, indices=None, ingest=None):
        """Decoded batches of ``indices`` of ``ingest`` (default: the run's ingest, all images). The run's
        ingest is decoded once: what was decoded before is read back from :attr:`_decoded`."""
        card = self.model.card
        if ingest is not None and ingest is not self.ingest:
            return iter_image_batches(ingest, card.size, card.resize, self.options.batch_size, indices)
        if indices is not None and self._decoded.holds(indices):
            return self._decoded.batches(indices, self.options.batch_size)
        return self._decoded.keep(iter_image_batches(self.ingest, card.size, card.resize, self.options.batch_size,
                                                     indices))

    @functools.cached_property
    def _decoded(self) -> DecodedIngest:
        return DecodedIngest(self.ingest, self.model.card.size)

    def _model_inputs(self, condition: Condition):
        """``batch -> images the model sees`` under ``condition``: as decoded, or perturbed."""
        if condition.is_clean:
            return lambda batch: batch.images
        perturbation = get_perturbation(condition.name)
        return lambda batch: perturb_batch(perturbation, batch.images, condition.severity, self.options.seed,
                                           batch.rois)

    def images(self, predictions: Predictions, positions) -> tuple[np.ndarray, np.ndarray]:
        """The images behind ``positions`` of ``predictions`` as the model saw them, and their sign boxes."""
        inputs = self._model_inputs(predictions.condition)
        batches = list(self._batches(predictions.indices[np.asarray(positions, dtype=np.int64)], predictions.ingest))
        if not batches:
            return np.zeros((0, *self.model.card.size, 3), np.uint8), np.zeros((0, 4), np.int32)
        return np.concatenate([inputs(b) for b in batches]), np.concatenate([b.rois for b in batches])

    def predictions(self, condition: Condition) -> Predictions:
        """Predictions under ``condition`` (clean or a perturbation at a severity), computed once per run."""
        if condition.is_clean:
            return self.clean
        if condition not in self._perturbed:
            self._perturbed[condition] = self._predict_perturbed(condition)
        return self._perturbed[condition]

    def _predict_perturbed(self, condition: Condition) -> Predictions:
        clean = self.clean
        classes = self.plan.classes_per_condition.get(condition)
        keep = np.ones(clean.indices.size, bool) if classes is None else np.isin(clean.labels, sorted(classes))
        return self.predict(self.ingest, condition, clean.indices[keep])[0]
