"""What a stage of a run may read of it: the stage context.

A stage (explanations, MC dropout, the trigger scan, ...) is given the run as a :class:`StageContext`: the
options and plan, the admitted model and its classes, the ingests, the progress display, the artefact store,
and the run's shared predictions and images. Another stage it builds on is handed to it by name
(e.g. the explanation stage to the sticker-attraction stage), never reached through the run, so the run is the
only hub and no stage calls back into the run's evidence or into a stage it was not given.
``tests/test_stage_context.py`` checks that every stage reads only these members.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # for the annotations only: a stage's code (its cache key) is what it runs, not these
    from pathlib import Path

    import numpy as np

    from safety_harness.core.progress import Progress
    from safety_harness.ingest import Ingest
    from safety_harness.ingest.groups import Groups
    from safety_harness.model_under_test import LoadedModel
    from safety_harness.plan.plan import RunOptions, RunPlan
    from safety_harness.plan.requirements import Condition
    from safety_harness.run.prediction_cache import PredictionCache
    from safety_harness.run.predictions import Predictions


class StageContext(Protocol):
    """The members of a run (``safety_harness.run.run.SafetyRun``) a stage reads."""

    options: RunOptions
    plan: RunPlan
    #: the admitted model under test (a single model or an ensemble), its card checked
    model: LoadedModel
    class_names: tuple[str, ...]
    ingest: Ingest
    reference_ingest: Ingest | None
    training_data_ingest: Ingest | None
    progress: Progress
    #: the one artefact store: every stage's cached entries
    cache: PredictionCache

    @property
    def clean(self) -> Predictions:
        """Predictions on the ingest as it is."""

    def predictions(self, condition: Condition) -> Predictions:
        """Predictions on the ingest's images a condition is evaluated on."""

    def predict(self, ingest, condition: Condition, indices=None, stage: str = "ingest") -> tuple[Predictions, list]:
        """Predictions on ``indices`` of any ingest under ``condition``, cached."""

    def prediction_key_parts(self, ingest, condition: Condition, indices) -> dict:
        """What determines the predictions on ``indices`` of ``ingest`` under ``condition``."""

    def images(self, predictions: Predictions, positions) -> tuple[np.ndarray, np.ndarray]:
        """The model-sized images at ``positions`` of ``predictions`` and their sign boxes."""

    def content_sha256(self, ingest) -> str:
        """The SHA-256 of the ingest's image files' contents."""

    def groups(self, ingest) -> Groups:
        """The ingest's groups of dependent images."""

    def admitted(self, path: Path, card_path: Path | None) -> LoadedModel:
        """Another model (the baseline) admitted as the model under test was."""

    def preprocessing_checked(self, model: LoadedModel) -> tuple[LoadedModel, object]:
        """A model to evaluate after its preprocessing check, and the check."""


#: the members of :class:`StageContext`, for the check that stages read nothing else
STAGE_CONTEXT_MEMBERS = frozenset(
    name for name in (*StageContext.__annotations__, *vars(StageContext)) if not name.startswith("_"))
