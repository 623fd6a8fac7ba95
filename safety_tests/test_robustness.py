"""Robustness requirements: the model keeps its decisions under weather, stickers and corruptions.

Recall floors under a condition are judged by test_classification.py (a requirement lists its
conditions, one pytest item each); this module judges what compares a condition with clean.

PYTEST_DONT_REWRITE: a failed verdict prints its own one-line explanation, not pytest's introspection.
"""

import pytest

from safety_harness.metrics import classification
from safety_harness.metrics.verdicts import Verdict


@pytest.mark.requirement_metric("flip_rate")
def test_flip_rate_ceiling(requirement_case, predictions, safety_run, evidence):
    clean_predicted = safety_run.clean.predicted_at(predictions.indices)
    rate = classification.flip_rate(predictions.labels, clean_predicted, predictions.predicted,
                                    requirement_case.class_id)
    result = evidence.judge_rate(rate, predictions, "Signs whose recognised class flipped")
    assert result.verdict is Verdict.PASS, result.message


@pytest.mark.requirement_metric("accuracy_drop")
def test_accuracy_drop_ceiling(requirement_case, predictions, safety_run, evidence):
    clean_predicted = safety_run.clean.predicted_at(predictions.indices)
    drop = classification.accuracy_drop(predictions.labels, clean_predicted, predictions.predicted)
    result = evidence.judge_rate(drop.lost, predictions, "Signs lost to the perturbation", estimate=drop.value)
    assert result.verdict is Verdict.PASS, result.message


@pytest.mark.requirement_metric("counterexample")
def test_no_sticker_counterexample(requirement_case, predictions, safety_run, evidence):
    class_id, parameters = requirement_case.class_id, requirement_case.requirement.parameters
    search = safety_run.counterexample.search(predictions, class_id, budget=parameters["budget"],
                                              max_examples=parameters["max_examples"])
    if search is None:
        evidence.not_applicable(f"no sign of class {class_id} is recognised on clean images to search from")
    result = evidence.judge(search)
    assert result.verdict is Verdict.PASS, result.message
