"""The classifier and its runtime monitor as one system (safety_harness/metrics/monitor.py): the share of a class's
images misclassified without an alarm, and the share of in-distribution images the monitor accepts; rates judged
by the recorder's ``judge_monitored`` (safety_tests/test_uncertainty.py)."""

from typing import Literal

import numpy as np

from safety_harness.evidence.results import RequirementResult, RiskCoverage
from safety_harness.families.judging import rate_result, rounded
from safety_harness.families.ood import Detector, TargetFalseAlarmRate, detector_details
from safety_harness.families.registry import MetricFamily, MetricSpec, register
from safety_harness.families.schema import ThresholdedEntry
from safety_harness.metrics.bounds import clopper_pearson_upper
from safety_harness.metrics.classification import Proportion

#: points of a risk-coverage curve kept in the evidence (evenly spaced in coverage)
RISK_COVERAGE_POINTS = 50


class MonitoredRequirement(ThresholdedEntry):
    """The classifier with its runtime monitor: ``detector`` alarmed at ``target_false_alarm_rate``."""

    metric: Literal["silent_failure_rate", "coverage"]
    detector: Detector
    target_false_alarm_rate: TargetFalseAlarmRate = 0.05


def judge(case, run, rate: Proportion, predictions, what: str, detector, threshold: float, counts: dict, risk=None,
          curve=None) -> RequirementResult:
    """A rate of the classifier with its runtime monitor (``detector``, alarm above
    ``threshold``) on its one-sided bound over groups; ``counts`` go to the evidence, and the samples
    that count against the requirement (positions in ``predictions``) to the report, titled ``what``.
    With the selective ``risk`` at the threshold and the risk-coverage ``curve``
    (metrics.monitor), the curve is kept, thinned, in the evidence and drawn in the report."""
    requirement = case.requirement
    result = rate_result(case, run, rate, predictions, what)
    result.details.update({**detector_details(run, detector, threshold),
                           "target_false_alarm_rate": requirement.parameters["target_false_alarm_rate"],
                           **counts})
    if curve is not None:
        kept = np.unique(np.minimum(np.searchsorted(curve.coverage, np.linspace(0, 1, RISK_COVERAGE_POINTS + 1)[1:]),
                                    curve.coverage.size - 1))
        chosen_risk = risk.value if risk.n else None  # nothing accepted: no risk to speak of
        result.details["selective_risk"] = chosen_risk
        result.details["selective_risk_bound"] = clopper_pearson_upper(risk.successes, risk.n,
                                                                       requirement.confidence)
        result.details["risk_coverage"] = {"threshold": rounded(curve.thresholds[kept]),
                                           "coverage": rounded(curve.coverage[kept]),
                                           "selective_risk": rounded(curve.selective_risk[kept])}
        result.exhibits += (RiskCoverage(curve.coverage[kept], curve.selective_risk[kept], threshold,
                                         rate.value, chosen_risk),)
    return result


MONITOR = register(MetricFamily(MonitoredRequirement, {
    "silent_failure_rate": MetricSpec("required"),
    "coverage": MetricSpec("forbidden", needs_labels=False, conditions="clean"),
}, judge=judge))
