"""Classification requirements on clean images: recall floors, phantom stops, critical confusions.

Each test is parametrized by the requirements file (safety_tests/requirements.yaml): one
pytest item per requirement, class and condition, named by the requirement's id.

PYTEST_DONT_REWRITE: a failed verdict prints its own one-line explanation, not pytest's introspection.
"""

import pytest

from safety_harness.metrics import classification
from safety_harness.metrics.verdicts import Verdict


@pytest.mark.requirement_metric("recall")
def test_recall_floor(requirement_case, predictions, evidence):
    rate = classification.recall(predictions.labels, predictions.predicted, requirement_case.class_id)
    result = evidence.judge_rate(rate, predictions, "Missed signs")
    assert result.verdict is Verdict.PASS, result.message


@pytest.mark.requirement_metric("precision")
def test_precision_floor(requirement_case, predictions, evidence):
    rate = classification.precision(predictions.labels, predictions.predicted, requirement_case.class_id)
    result = evidence.judge_rate(rate, predictions, "Other signs taken for this class")
    assert result.verdict is Verdict.PASS, result.message


@pytest.mark.requirement_metric("confusion_rate")
def test_critical_confusion_ceiling(requirement_case, predictions, evidence):
    confused_with = requirement_case.requirement.parameters["confused_with"]
    rate = classification.confusion_rate(predictions.labels, predictions.predicted, requirement_case.class_id,
                                         confused_with)
    result = evidence.judge_rate(rate, predictions, "Critically confused signs")
    assert result.verdict is Verdict.PASS, result.message


@pytest.mark.requirement_metric("accuracy")
def test_accuracy_floor(requirement_case, predictions, evidence):
    rate = classification.accuracy(predictions.labels, predictions.predicted)
    result = evidence.judge_rate(rate, predictions, "Misclassified signs")
    assert result.verdict is Verdict.PASS, result.message
