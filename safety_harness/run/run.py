"""One evaluation run of a plan: the model, the ingest and the predictions the plan's cases share.

Every image is predicted once per condition and the result shared by all the cases that read
it; only the conditions and classes the cases read are predicted. Inputs are validated here,
before any test runs, so bad input ends the run with one :class:`HarnessInputError`.
"""

import dataclasses
import functools
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from safety_harness.core.errors import HarnessInputError
from safety_harness.core.progress import SILENT, Progress
from safety_harness.core.provenance import GENERATED, Generated, data_set, images_sha256, same_generator
from safety_harness.evidence.results import EvidenceLog
from safety_harness.ingest import FolderClasses, iter_image_batches, open_ingest, read_class_map
from safety_harness.ingest.decoded import DecodedIngest
from safety_harness.ingest.groups import SOURCE_ESTIMATED, Groups, groups_from_records, read_groups_file, singletons
from safety_harness.ingest.reader import OVER_SIZE_CAP, StoredImages
from safety_harness.ingest.similarity_groups import METHOD as GROUPING_METHOD
from safety_harness.ingest.similarity_groups import estimate_groups
from safety_harness.model_under_test import Ensemble, LoadedModel, ensemble_of, load_model, resolve_card
from safety_harness.model_under_test.ensemble import COMBINATION
from safety_harness.model_under_test.loading import admission, deferred_model, detect_format, file_sha256
from safety_harness.model_under_test.preprocessing_check import (
    PreprocessingCheck,
    apply_check,
    compare_preprocessing,
    model_predict,
    sample_indices,
)
from safety_harness.ood.datasets import OOD_GENERATOR
from safety_harness.perturbations import get_perturbation
from safety_harness.plan.plan import RunPlan
from safety_harness.plan.requirements import CLEAN, Condition
from safety_harness.run.baseline import BaselineStage
from safety_harness.run.counterexample import CounterexampleStage
from safety_harness.run.data_independence import DataIndependenceStage
from safety_harness.run.distributed import RayPredictionStage, WorkerSetup
from safety_harness.run.explanations import ExplanationStage
from safety_harness.run.mc_dropout import McDropoutStage
from safety_harness.run.prediction_cache import PredictionCache, cache_key, code_fingerprint
from safety_harness.run.predictions import PREDICTION_CODE, Predictions, model_inputs, predict_batches
from safety_harness.run.sticker_attraction import StickerAttractionStage
from safety_harness.run.training_shortcut import TrainingShortcutStage
from safety_harness.run.trigger_scan import TriggerScanStage
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
        self.folder_classes = folder_classes = self._folder_classes()
        self.ingest = open_ingest(options.ingest_path, folder_classes)
        self.reference_ingest = (None if options.reference_path is None
                                 else open_ingest(options.reference_path, folder_classes))
        self.training_data_ingest = (None if options.training_data_path is None
                                     else open_ingest(options.training_data_path, folder_classes))
        self._check_class_map_used()
        #: each ingest's groups of dependent images, by root: the --groups file is read (and checked) now
        self._groups: dict[Path, Groups] = {}
        if options.groups_path is not None:
            self._groups[self.ingest.root] = read_groups_file(options.groups_path, self.ingest)
        self.given_ood_sets = given_ood_sets(options.ood_set_paths)
        self.cache = PredictionCache(options.cache_dir)
        self._content_hashes: dict[Path, str] = {}
        members = [self.admitted(path, card) for path, card in options.members]
        #: the model under test: a single model, or the ensemble of the models given (--model more than once)
        self.model = members[0] if len(members) == 1 else ensemble_of(members)
        self.class_names = tuple(self.model.card.class_names)
        self._check_ingest_labels()
        #: each member's preprocessing check (one for a single model), None where no sampled image decodes
        self.preprocessing_checks = self._check_preprocessing()
        self._perturbed: dict[Condition, Predictions] = {}
        self.excluded: list[tuple[str, str]] = []
        self.evidence = EvidenceLog()
        #: the prediction stage of the run's ingest on Ray (None: in this process), and what it computed ahead
        self._temporary_store: Path | None = None
        self.distributed = None if options.ray_address is None else RayPredictionStage(
            options.ray_address, options.ray_workers, self._worker_setup(), progress)
        self._predicted_ahead: dict[Condition, tuple[str, tuple[dict, list]]] = {}
        #: the explainers' self-checks and the chosen explainer's maps, computed on first use
        self.explanations = ExplanationStage(self)
        #: MC dropout passes for the detectors that read them, computed on first use
        self.mc_dropout = McDropoutStage(self)
        #: the detectors' data (reference splits, OOD sets) and their fitted states
        self.uncertainty = UncertaintyContext(self, self.mc_dropout, self.given_ood_sets)
        #: stickered signs of every class, predicted on first use, and the relevance on their stickers
        self.sticker_attraction = StickerAttractionStage(self, self.explanations)
        #: every class's reverse-engineered trigger (Neural Cleanse), computed or read from the cache on first use
        self.trigger_scan = TriggerScanStage(self)
        #: sticker counterexample searches, computed or read from the cache
        self.counterexample = CounterexampleStage(self)
        #: the released model the paired requirements compare with (--baseline-model), loaded on first use
        self.baseline = BaselineStage(self)
        #: near-duplicates of the ingest's images in the reference and training data, found on first use
        self.data_independence = DataIndependenceStage(self)
        #: SpRAy over each class's relevance maps in the training data (Clever-Hans discovery), on first use
        self.training_shortcut = TrainingShortcutStage(self, self.explanations)

    def _folder_classes(self) -> FolderClasses:
        """What class folders named by class name are matched to: the card's class names (read without
        loading the model), or the ``--class-map`` file."""
        options = self.options
        card, _, _ = resolve_card(options.model_path, options.card_path)
        class_map = None if options.class_map_path is None else read_class_map(options.class_map_path)
        return FolderClasses(tuple(card.class_names), class_map)

    def admitted(self, path: Path, card_path: Path | None) -> LoadedModel:
        """The model at ``path`` with its card: loaded and screened now, or, when an earlier run admitted the
        same bytes with the same card and trust, as it admitted them, its network loaded on first use (a run
        served entirely from the cache never imports TensorFlow)."""
        model_format = detect_format(path)  # by name and bytes: the same bytes under another name load otherwise
        sha256 = file_sha256(Path(path).resolve())
        card, _, assumed = resolve_card(path, card_path)
        allow_unsafe = self.options.allow_unsafe_model
        key = cache_key(code=load_model, stage="model admission", model=sha256, format=model_format,
                        card=card.to_dict(), card_assumed=assumed, allow_unsafe=allow_unsafe)
        stored = self.cache.load_json(key, f"model admission of {path}")
        if stored is not None:
            return deferred_model(path, card_path, allow_unsafe, sha256, stored)
        model = load_model(path, card_path, allow_unsafe=allow_unsafe, sha256=sha256)
        self.cache.store_json(key, admission(model))
        return model

    def groups(self, ingest) -> Groups:
        """The groups of dependent images of ``ingest`` (the run's or the reference), formed once per run from
        the first source that applies (safety_harness/ingest/groups.py); estimated groups are cached, keyed on
        the ingest's content and order."""
        if ingest.root not in self._groups:
            given = groups_from_records(ingest)
            if given is None and ingest.root in {Path(path).resolve() for path in self.options.generated_paths}:
                given = singletons(len(ingest.records), "drawn by the bundled renderer, every image from its own "
                                                        "seed: each image is its own group")
            self._groups[ingest.root] = given or self._estimated_groups(ingest)
        return self._groups[ingest.root]

    def _estimated_groups(self, ingest) -> Groups:
        seed = self.options.seed
        ids = self.cache.cached(
            f"image groups of {ingest.root}",
            lambda: {"ids": estimate_groups(StoredImages(ingest, self.options.max_image_pixels), ingest.labels, seed)},
            ingest=self.content_sha256(ingest), records=ingest.order_sha256, labels=ingest.labels, seed=seed,
            method=GROUPING_METHOD)["ids"]
        return Groups(np.asarray(ids, dtype=np.int64), SOURCE_ESTIMATED,
                      "estimated from image similarity (near-duplicate images of one class form a group)")

    def ood_set_groups(self, ood_set) -> Groups:
        """The groups of an OOD set's images: a given folder's (as any ingest's), or, for a generated set whose
        every image is drawn on its own, one group per image."""
        if ood_set.name in self.given_ood_sets:
            return self.groups(self.given_ood_sets[ood_set.name])
        return singletons(len(ood_set.images), f"generated OOD set {ood_set.name}, every image drawn on its own: "
                                               "each image is its own group")

    def group_ids(self, predictions: Predictions) -> np.ndarray:
        """The group of each image of ``predictions``."""
        return self.groups(predictions.ingest).ids[predictions.indices]

    def _check_class_map_used(self):
        """A ``--class-map`` that no ingest reads would be ignored silently: refuse it."""
        if self.options.class_map_path is None:
            return
        ingests = [ingest for ingest in (self.ingest, self.reference_ingest, self.training_data_ingest)
                   if ingest is not None]
        if all(ingest.layout != "class-name-folders" for ingest in ingests):
            layouts = ", ".join(f"{ingest.root} is {ingest.layout}" for ingest in ingests)
            raise HarnessInputError(
                f"--class-map {self.options.class_map_path} is given, but no ingest has class folders to map "
                f"({layouts})",
                "Drop --class-map: it maps the class folders of an --ingest (or --reference) laid out as class "
                "folders, and this ingest's labels come from its layout.",
            )

    def predict(self, ingest, condition: Condition, indices=None, stage: str = "ingest") -> tuple[Predictions, list]:
        """Predictions on ``indices`` of ``ingest`` (all: None) under ``condition``, served from the
        persistent cache when every input that determines them is unchanged."""
        parts = self.prediction_key_parts(ingest, condition, indices)
        key, stage = cache_key(**parts), f"{stage} {condition}"
        requested = np.arange(len(ingest.records)) if indices is None else indices
        stored = self.cache.load(key, stage, expected_indices=requested)
        if stored is not None:
            arrays, failures = stored
            predictions = Predictions.from_arrays(ingest, condition, arrays)
        elif self.distributed is not None and ingest is self.ingest:
            # what was predicted ahead serves only the same images: sticker attraction asks a sticker
            # condition for its own sample, the perturbed cases for the classes they read
            ahead_key, ahead = self._predicted_ahead.get(condition, (None, None))
            if ahead_key == key:
                del self._predicted_ahead[condition]
            arrays, failures = ahead if ahead_key == key else self.distributed.predict([(condition, requested, parts)])[0]
            predictions = Predictions.from_arrays(ingest, condition, arrays)
            self.cache.outcomes[stage] = f"computed on {self.distributed.describe()}"
            self.cache.store(key, predictions.arrays(), failures)
        else:
            predictions, failures = predict_batches(self.model, ingest, condition, self._batches(indices, ingest),
                                                    model_inputs(condition, self.options.seed), len(requested),
                                                    self.progress, stage)
            self.cache.store(key, predictions.arrays(), failures)
        if condition in self.plan.mc_dropout_conditions and not self.mc_dropout.unavailable_reason:
            predictions = dataclasses.replace(predictions, mc_dropout=self.mc_dropout.scores(
                key, stage, self._model_input_batches(predictions), predictions.indices.size))
        return predictions, failures

    def prediction_key_parts(self, ingest, condition: Condition, indices) -> dict:
        """What determines the predictions on ``indices`` of ``ingest`` under ``condition``: their cache key's parts,
        the code that computes them included."""
        return dict(code=PREDICTION_CODE, model=self.model.sha256, card=self.model.card.to_dict(), ingest=self.content_sha256(ingest),
                    records=ingest.order_sha256,
                    condition=str(condition), perturbation=self._perturbation_definition(condition),
                    seed=self.options.seed, indices=indices, batch_size=self.options.batch_size,
                    max_image_pixels=self.options.max_image_pixels)

    def _worker_setup(self) -> WorkerSetup:
        options = self.options
        if options.ray_store is None:  # a run without a store of its own keeps its shards until close()
            self._temporary_store = Path(tempfile.mkdtemp(prefix="safety-harness-shards-"))
        store = options.ray_store or self._temporary_store
        return WorkerSetup(model_path=options.model_path, card_path=options.card_path, card=self.model.card,
                           allow_unsafe_model=options.allow_unsafe_model, ingest_path=self.ingest.root,
                           batch_size=options.batch_size, seed=options.seed, store=store,
                           max_image_pixels=options.max_image_pixels,
                           folder_classes=self.folder_classes, records_sha256=self.ingest.order_sha256,
                           code_fingerprint=code_fingerprint())

    def close(self) -> None:
        """Release what the run holds outside this process: the Ray workers and a temporary shard store."""
        if self.distributed is not None:
            self.distributed.close()
        if self._temporary_store is not None:
            shutil.rmtree(self._temporary_store, ignore_errors=True)
            self._temporary_store = None

    def _predict_ahead_on_ray(self) -> None:
        """Every perturbed condition of the plan not yet predicted nor cached, in one job of the Ray
        pool (its actors load the model once for all of them); kept until :meth:`predict` asks."""
        jobs = []
        for condition in self.plan.classes_per_condition:
            if condition in self._perturbed or condition in self._predicted_ahead:
                continue
            indices = self._perturbed_indices(condition)
            parts = self.prediction_key_parts(self.ingest, condition, indices)
            if self.cache.load(cache_key(**parts), f"ingest {condition}", expected_indices=indices) is None:
                jobs.append((condition, indices, parts))
        for (condition, _, parts), predicted in zip(jobs, self.distributed.predict(jobs), strict=True):
            self._predicted_ahead[condition] = (cache_key(**parts), predicted)

    def content_sha256(self, ingest) -> str:
        """``ingest.content_sha256()``, read from the cache under the ingest's manifest (paths, sizes,
        times, inodes) when an earlier run hashed the same files, so unchanged bytes are not re-read."""
        if ingest.root not in self._content_hashes:
            taken, manifest = time.time_ns(), ingest.manifest()
            key = cache_key(code=type(ingest), ingest_manifest=manifest.sha256)
            stored = self.cache.load_json(key, f"content hash of {ingest.root}")
            if stored is None:
                self._content_hashes[ingest.root] = ingest.content_sha256()
                if manifest.trustworthy(taken):
                    self.cache.store_json(key, {"sha256": self._content_hashes[ingest.root]})
            else:
                self._content_hashes[ingest.root] = stored["sha256"]
        return self._content_hashes[ingest.root]

    def _model_input_batches(self, predictions: Predictions):
        """The images behind ``predictions``, in order, as the model saw them (decoded only when iterated)."""
        inputs = model_inputs(predictions.condition, self.options.seed)
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
        """The ingest's labels, and the training data's (its classes are explained by the model), must be the
        model's classes."""
        for name, ingest in (("Ingest", self.ingest), ("--training-data", self.training_data_ingest)):
            unknown = [] if ingest is None else sorted(label for label in ingest.class_counts()
                                                       if label >= len(self.class_names))
            if unknown:
                raise HarnessInputError(
                    f"{name} {ingest.root} is labelled with class(es) {unknown} that the model does not have "
                    f"(its card lists {len(self.class_names)} classes, 0..{len(self.class_names) - 1})",
                    f"Use a model card whose 'classes' cover the labels, or remove those images from {ingest.root}.",
                )

    def _check_preprocessing(self) -> tuple:
        """Check the preprocessing of the model, or of each ensemble member with its own card
        (:meth:`preprocessing_checked`); the checks, in member order."""
        members = self.model.members if isinstance(self.model, Ensemble) else (self.model,)
        checked = [self.preprocessing_checked(member) for member in members]
        self.model = checked[0][0] if len(checked) == 1 else ensemble_of(member for member, _ in checked)
        return tuple(check for _, check in checked)

    def preprocessing_checked(self, model):
        """Compare ``model``'s card's preprocessing with the alternatives on one seeded batch of
        the ingest (:mod:`model_under_test.preprocessing_check`); a clearly better one stops a run with a card and
        replaces an assumed card. Returns the model to evaluate and the check (None: no sampled image decodes).
        The check is read from the cache when an earlier run checked the same model, card and ingest; its labels
        are keyed too: a class map can relabel the same files in the same order."""
        card = model.card
        key = cache_key(code=__name__, stage="preprocessing check", model=model.sha256,
                        card=card.to_dict(),
                        ingest=self.content_sha256(self.ingest), records=self.ingest.order_sha256,
                        labels=self.ingest.labels, seed=self.options.seed)
        stored = self.cache.load_json(key, f"preprocessing check of {model.path}")
        if stored is not None:
            check = None if stored["check"] is None else PreprocessingCheck.from_dict(stored["check"], card)
        else:
            check = self._check_on_sample(model)
            self.cache.store_json(key, {"check": None if check is None else check.to_dict()})
        return (model, None) if check is None else (apply_check(model, check), check)

    def _check_on_sample(self, model) -> PreprocessingCheck | None:
        card = model.card
        sample = sample_indices(len(self.ingest.records), self.options.seed)
        batch = next(iter_image_batches(self.ingest, card.size, card.interpolation, len(sample), sample,
                                        self.options.max_image_pixels))
        if not batch.indices.size:
            return None  # nothing decodes: the clean pass reports every image
        labels = self.ingest.labels[batch.indices] if self.ingest.labelled else None
        return compare_preprocessing(model_predict(model), card, batch.images, labels)

    @functools.cached_property
    def clean(self) -> Predictions:
        """Predictions on the ingest as it is, every image through one batched forward pass."""
        predictions, failures = self.predict(self.ingest, CLEAN)
        if failures:
            listed = "\n".join(f"    {self.ingest.records[i].path}: {reason}" for i, reason in failures[:20])
            more = f"\n    ... and {len(failures) - 20} more" if len(failures) > 20 else ""
            if not self.options.allow_corrupt_images:
                over_cap = sum(reason.startswith(OVER_SIZE_CAP) for _, reason in failures)
                raise HarnessInputError(
                    f"Ingest {self.ingest.root}: {len(failures)} image(s) cannot be used"
                    f"{f' ({over_cap} over the image size cap)' if over_cap else ''}:\n{listed}{more}",
                    ("Raise the size cap with --max-image-pixels for the images over it that you trust, as their "
                     "lines say; replace or remove the others" if over_cap else "Replace or remove them")
                    + ", or pass --allow-corrupt-images to evaluate the rest (the report then lists every excluded "
                    "image).",
                )
            self.excluded = [(str(self.ingest.records[i].path), reason) for i, reason in failures]
        if not predictions.indices.size:
            raise HarnessInputError(
                f"Ingest {self.ingest.root}: no image could be evaluated", "Check that the ingest holds readable images."
            )
        return predictions

    def stage_outcomes(self) -> dict[str, str]:
        """Per stage, computed or read from the cache (with any note), and whether the model was loaded at all."""
        loaded = self.model.network_loaded
        return {**self.cache.outcomes,
                "model network": "loaded" if loaded else "not loaded: every stage that calls it was read from the cache"}

    def model_identity(self) -> dict:
        """The model section of the evidence: the model's identity, or an ensemble's with each member's."""
        if isinstance(self.model, Ensemble):
            return {"combination": COMBINATION, "sha256": self.model.sha256,
                    "input_size": list(self.model.card.size), "resize": self.model.card.resize,
                    "card_assumed": self.model.card_assumed,
                    "members": [_model_identity(member, check)
                                for member, check in zip(self.model.members, self.preprocessing_checks, strict=True)]}
        return _model_identity(self.model, self.preprocessing_checks[0])

    def ingest_identity(self) -> dict:
        ingest = self.ingest
        return {
            "path": str(ingest.root),
            "layout": ingest.layout,
            "label_file": None if ingest.label_file is None else str(ingest.label_file),
            "reading": ingest.reading,
            "folder_classes": dict(ingest.folder_classes),
            "labelled": ingest.labelled,
            "n": len(ingest.records),
            "evaluated": int(self.clean.indices.size),
            "sha256": self.content_sha256(ingest),
            "class_counts": {str(k): v for k, v in sorted(ingest.class_counts().items())},
            "groups": self.groups(ingest).summary(ingest.labels),
            "excluded": [{"path": path, "reason": reason} for path, reason in self.excluded],
            "ignored": [{"path": str(path), "reason": reason} for path, reason in ingest.ignored],
        }

    def data_identity(self) -> dict:
        """The evidence's ``data`` section: every data set the verdicts stand on (the ingest, the reference, each
        OOD set the cases read) and the model's training data as its card names it, each with its provenance."""
        options = self.options
        sets = [data_set("ingest", "ingest", self.content_sha256(self.ingest), options.ingest_generated or (
            f"the folder given with --ingest: {self.ingest.root} (taken as real data: the harness cannot tell how "
            "a given folder was made)"))]
        if self.reference_ingest is not None:
            sets.append(data_set("reference", "reference", self.content_sha256(self.reference_ingest),
                                 options.reference_generated
                                 or f"the folder given with --reference: {self.reference_ingest.root}"))
        sets += [data_set("ood_set", ood.name, images_sha256(ood.images),
                          Generated(OOD_GENERATOR, options.seed, f"generated {ood.kind} OOD set: {ood.description}"))
                 for ood in self.uncertainty.generated_ood_sets]
        sets += [data_set("ood_set", name, self.content_sha256(ingest), f"the folder given with --ood-set: {ingest.root}")
                 for name, ingest in self.given_ood_sets.items() if name in self.plan.ood_sets_needed]
        members = self.model.members if isinstance(self.model, Ensemble) else (self.model,)
        for member in members:
            trained = member.card.training_data
            if trained is not None:
                source = (Generated(trained.generator, None, trained.description) if trained.provenance == GENERATED
                          else trained.description)
                sets.append(data_set("training", f"training data of {Path(member.path).name}", trained.sha256, source))
        return {"demonstration": options.ingest_generated is not None, "sets": sets,
                "same_generator_as_training": same_generator(sets)}

    def _batches(self, indices=None, ingest=None):
        """Decoded batches of ``indices`` of ``ingest`` (default: the run's ingest, all images). The run's
        ingest is decoded once: what was decoded before is read back from :attr:`_decoded`."""
        card = self.model.card
        if ingest is not None and ingest is not self.ingest:
            return iter_image_batches(ingest, card.size, card.interpolation, self.options.batch_size, indices,
                                      self.options.max_image_pixels)
        if indices is not None and self._decoded.holds(indices):
            return self._decoded.batches(indices, self.options.batch_size)
        return self._decoded.keep(iter_image_batches(self.ingest, card.size, card.interpolation, self.options.batch_size,
                                                     indices, self.options.max_image_pixels))

    @functools.cached_property
    def _decoded(self) -> DecodedIngest:
        return DecodedIngest(self.ingest, self.model.card.size)

    def images(self, predictions: Predictions, positions) -> tuple[np.ndarray, np.ndarray]:
        """The images behind ``positions`` of ``predictions`` as the model saw them, and their sign boxes."""
        inputs = model_inputs(predictions.condition, self.options.seed)
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
        if self.distributed is not None and condition not in self._predicted_ahead:
            self._predict_ahead_on_ray()
        return self.predict(self.ingest, condition, self._perturbed_indices(condition))[0]

    def _perturbed_indices(self, condition: Condition) -> np.ndarray:
        """The clean images ``condition`` perturbs: all, or those of the classes its cases read."""
        clean = self.clean
        classes = self.plan.classes_per_condition.get(condition)
        keep = np.ones(clean.indices.size, bool) if classes is None else np.isin(clean.labels, sorted(classes))
        return clean.indices[keep]


def _model_identity(model, check) -> dict:
    """One loaded model's identity, as the evidence records it, with its preprocessing check (or None)."""
    return {
        "path": str(model.path),
        "format": model.format,
        "loader": model.loader,
        "runtime": model.runtime,
        "sha256": model.sha256,
        "input_shape": list(model.input_shape),
        "output_shape": list(model.output_shape),
        "parameters": model.num_parameters,
        "card_path": None if model.card_path is None else str(model.card_path),
        "card_assumed": model.card_assumed,
        "card": model.card.settings(),
        "intended_use": None if model.card.use is None else model.card.use.to_dict(),
        "load_warnings": list(model.load_warnings),
        "preprocessing_check": None if check is None else check.to_dict(),
        "safety_checks": model.screening,
    }
