"""The classifier and its runtime monitor as one system (safety_harness/metrics/monitor.py): the share of a class's
images misclassified without an alarm, and the share of in-distribution images the monitor accepts; rates judged
by the recorder's ``judge_monitored`` (safety_tests/test_uncertainty.py)."""

from typing import Literal

from safety_harness.families.ood import Detector, TargetFalseAlarmRate
from safety_harness.families.registry import MetricFamily, MetricSpec, register
from safety_harness.families.schema import ThresholdedEntry


class MonitoredRequirement(ThresholdedEntry):
    """The classifier with its runtime monitor: ``detector`` alarmed at ``target_false_alarm_rate``."""

    metric: Literal["silent_failure_rate", "coverage"]
    detector: Detector
    target_false_alarm_rate: TargetFalseAlarmRate = 0.05


MONITOR = register(MetricFamily(MonitoredRequirement, {
    "silent_failure_rate": MetricSpec("required"),
    "coverage": MetricSpec("forbidden", needs_labels=False, conditions="clean"),
}))
