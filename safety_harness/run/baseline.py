"""The baseline model (``--baseline-model``, the released model) predicting the same images as the model under test.

The paired requirements (``regression``, ``agreement``) compare the two image by image: the baseline
predicts, under each condition they read, exactly the images the model under test was evaluated on,
perturbed with the same seed. It is admitted, screened and preprocessing-checked like the model under
test, and fed by its own card (its own input size, channel order and range). Its predictions are cached
like the candidate's, keyed by its own bytes and card; they are computed in this process (not on Ray).
"""

import functools

from safety_harness.core.errors import HarnessInputError
from safety_harness.ingest import iter_image_batches
from safety_harness.plan.conditions import Condition
from safety_harness.plan.requirements import METRICS
from safety_harness.run.context import StageContext
from safety_harness.run.prediction_cache import cache_key
from safety_harness.run.predictions import Predictions, model_inputs, predict_batches


class BaselineStage:
    """The baseline model of a run, loaded on first use, and its predictions per condition."""

    def __init__(self, context: StageContext):
        self._context = context
        self._predictions: dict[Condition, Predictions] = {}

    @property
    def given(self) -> bool:
        return self._context.options.baseline_model_path is not None

    @property
    def needed(self) -> bool:
        """Whether a case of the plan compares with the baseline and one is given."""
        return self.given and any(METRICS[case.requirement.metric].paired for case in self._context.plan.cases)

    @functools.cached_property
    def _loaded(self):
        """The baseline model as it is evaluated, and its preprocessing check (None: no sampled image decodes)."""
        options, run = self._context.options, self._context
        # the run's own admission and preprocessing check, so the baseline is screened as the candidate is
        model = run.admitted(options.baseline_model_path, options.baseline_card_path)
        if model.card.class_names != run.model.card.class_names:  # the plan checked the cards; this is the loaded one
            raise HarnessInputError(
                f"--baseline-model {model.path} has {len(model.card.class_names)} classes, the model under test "
                f"{len(run.class_names)}", "Compare models of the same classes in the same order.")
        return run.preprocessing_checked(model)

    @property
    def model(self):
        return self._loaded[0]

    @property
    def preprocessing_check(self):
        return self._loaded[1]

    def predictions(self, condition: Condition) -> Predictions:
        """The baseline's predictions on the images the model under test was evaluated on under ``condition``."""
        if condition not in self._predictions:
            self._predictions[condition] = self._predict(condition)
        return self._predictions[condition]

    def _predict(self, condition: Condition) -> Predictions:
        run, model = self._context, self.model
        candidate = run.predictions(condition)
        ingest, indices, options = candidate.ingest, candidate.indices, run.options
        parts = {**run.prediction_key_parts(ingest, condition, indices), "model": model.sha256, "card": model.card.to_dict()}
        stage = f"baseline {condition}"
        stored = run.cache.load(cache_key(**parts), stage, expected_indices=indices)
        if stored is not None:
            return Predictions.from_arrays(ingest, condition, stored[0])
        batches = iter_image_batches(ingest, model.card.size, model.card.interpolation, options.batch_size, indices)
        predictions, failures = predict_batches(model, ingest, condition, batches,
                                                model_inputs(condition, options.seed), indices.size, run.progress,
                                                "baseline")
        run.cache.store(cache_key(**parts), predictions.arrays(), failures)
        return predictions

    def identity(self) -> dict:
        """What the paired evidence records of the baseline: its file, bytes, card and preprocessing check."""
        model, check = self.model, self.preprocessing_check
        return {"path": str(model.path), "sha256": model.sha256,
                "card_path": None if model.card_path is None else str(model.card_path),
                "card_assumed": model.card_assumed, "card": model.card.settings(),
                "preprocessing_check": None if check is None else check.to_dict()}
