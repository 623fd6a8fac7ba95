"""Requirements against the released model (``--baseline-model``): judged image by image on the same images,
conditions and seed. Without a baseline they are not applicable.

PYTEST_DONT_REWRITE: a failed verdict prints its own one-line explanation, not pytest's introspection.
"""

import pytest

from safety_harness.metrics import paired
from safety_harness.metrics.verdicts import Verdict


@pytest.mark.requirement_metric("regression")
def test_no_regression_against_baseline(requirement_case, baseline_predictions, predictions, evidence):
    outcomes = paired.paired_outcomes(predictions.labels, predictions.predicted, baseline_predictions.predicted,
                                      requirement_case.class_id)
    result = evidence.judge(outcomes, predictions, baseline_predictions)
    assert result.verdict is Verdict.PASS, result.message


@pytest.mark.requirement_metric("agreement")
def test_agreement_with_baseline(requirement_case, baseline_predictions, predictions, evidence):
    if requirement_case.class_id is not None and not predictions.labelled:
        evidence.not_applicable("the ingest has no labels, so its images of this class are unknown")
    rate = paired.agreement(predictions.labels, predictions.predicted, baseline_predictions.predicted,
                            requirement_case.class_id)
    result = evidence.judge(rate, predictions, baseline_predictions)
    assert result.verdict is Verdict.PASS, result.message
