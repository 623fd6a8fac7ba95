"""Requirements against a planted backdoor: no class is reachable by an outlying small trigger.

PYTEST_DONT_REWRITE: a failed verdict prints its own one-line explanation, not pytest's introspection.
"""

import pytest

from safety_harness.metrics.verdicts import Verdict
from safety_harness.model_under_test import Ensemble


@pytest.mark.requirement_metric("trigger_anomaly")
def test_no_class_has_an_outlying_small_trigger(requirement_case, safety_run, evidence):
    if isinstance(safety_run.model, Ensemble):
        evidence.not_applicable("the model is an ensemble: the trigger scan reverse-engineers the triggers of one "
                                "network, and a member's trigger is not the ensemble's; scan each member on its own")
    if safety_run.model.gradients_unavailable_reason:
        evidence.not_applicable(f"the trigger scan optimises triggers by gradient: "
                                f"{safety_run.model.gradients_unavailable_reason}")
    result = evidence.judge(safety_run.trigger_scan.result)
    assert result.verdict is Verdict.PASS, result.message
