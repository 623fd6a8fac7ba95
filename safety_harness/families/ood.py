"""Out-of-distribution alarms (safety_harness/ood): the alarm rate on an OOD set and the false-alarm rate on
held-out in-distribution data (rates), the separation of in- and out-of-distribution scores (AUROC on DeLong's
bound) and the drift of the ingest's scores from the reference's (a KS distance on its DKW bound); the safety
tests are in safety_tests/test_uncertainty.py."""

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from safety_harness.core.names import NAME_PATTERN
from safety_harness.families.registry import MetricFamily, MetricSpec, register
from safety_harness.families.schema import ThresholdedEntry
from safety_harness.ood import DETECTORS

#: in ``ood_sets``, stands for every OOD set the user gave with ``--ood-set``
GIVEN_OOD_SETS = "given"

Detector = Literal[tuple(DETECTORS)]
TargetFalseAlarmRate = Annotated[float, Field(gt=0, lt=1)]
OodSetName = Annotated[str, Field(pattern=rf"^{NAME_PATTERN}$")]


def _distinct_ood_sets(value: list) -> list:
    repeated = sorted({name for name in value if value.count(name) > 1})
    if repeated:
        raise ValueError(f"lists {', '.join(repeated)} more than once")
    return value


OodSets = Annotated[list[OodSetName], Field(min_length=1), AfterValidator(_distinct_ood_sets)]


class AlarmRequirement(ThresholdedEntry):
    metric: Literal["alarm_rate"]
    detector: Detector
    target_false_alarm_rate: TargetFalseAlarmRate = 0.05
    ood_sets: OodSets


class FittedAlarmRequirement(ThresholdedEntry):
    metric: Literal["false_alarm_rate", "drift"]
    detector: Detector
    target_false_alarm_rate: TargetFalseAlarmRate = 0.05


class SeparationRequirement(ThresholdedEntry):
    metric: Literal["auroc"]
    detector: Detector
    ood_sets: OodSets


ALARM = register(MetricFamily(AlarmRequirement, {
    "alarm_rate": MetricSpec("forbidden", needs_labels=False, conditions="clean", variants_key="ood_sets")}))
FITTED_ALARM = register(MetricFamily(FittedAlarmRequirement, {
    "false_alarm_rate": MetricSpec("forbidden", needs_labels=False, conditions="clean"),
    "drift": MetricSpec("forbidden", needs_labels=False, conditions="clean", binomial=False,
                        bound="Kolmogorov–Smirnov distance plus the Dvoretzky–Kiefer–Wolfowitz margins"),
}))
SEPARATION = register(MetricFamily(SeparationRequirement, {
    "auroc": MetricSpec("forbidden", needs_labels=False, conditions="clean", variants_key="ood_sets", binomial=False,
                        bound="DeLong's normal bound (exact over disjoint pairs at perfect separation)")}))
