"""Classification rates on clean or perturbed images: recall and precision of a class, accuracy, the share of a
class taken for critical other classes, and what a perturbation changes against clean (flips, accuracy lost).

Each is a rate, judged by the recorder's ``judge_rate`` on its exact one-sided bound over the groups of
dependent images (safety_harness/families/judging.py); the rates are computed by safety_harness/metrics/classification.py
in the safety tests of safety_tests/test_classification.py and safety_tests/test_robustness.py.
"""

from typing import Annotated, Literal

from pydantic import Field, field_validator

from safety_harness.families.registry import MetricFamily, MetricSpec, register
from safety_harness.families.schema import ClassId, ThresholdedEntry


class ClassificationRequirement(ThresholdedEntry):
    metric: Literal["recall", "precision", "accuracy", "flip_rate", "accuracy_drop"]


class ConfusionRequirement(ThresholdedEntry):
    metric: Literal["confusion_rate"]
    #: the classes a sign of ``class`` must not be taken for
    confused_with: Annotated[list[ClassId], Field(min_length=1)]

    @field_validator("confused_with")
    @classmethod
    def _not_its_own_class(cls, value, info):
        own = info.data.get("class_")
        if own in value:
            raise ValueError(f"must not contain the requirement's own class {own}")
        return value


CLASSIFICATION = register(MetricFamily(ClassificationRequirement, {
    "recall": MetricSpec("required"),
    "precision": MetricSpec("required"),
    "accuracy": MetricSpec("forbidden"),
    "flip_rate": MetricSpec("optional", conditions="perturbed"),
    "accuracy_drop": MetricSpec("forbidden", conditions="perturbed"),
}))
CONFUSION = register(MetricFamily(ConfusionRequirement, {"confusion_rate": MetricSpec("required")}))
