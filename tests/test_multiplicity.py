"""Rate p-values against the Clopper–Pearson bounds, Holm's joint confidence against its definition and Bonferroni."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from safety_harness.evidence.results import EvidenceLog, RequirementResult
from safety_harness.metrics.bounds import one_sided_bound
from safety_harness.metrics.multiplicity import holm_deciding_hypotheses, holm_joint_confidence, rate_p_value
from safety_harness.metrics.verdicts import Verdict, judge_proportion
from safety_harness.plan.conditions import CLEAN
from safety_harness.plan.requirements import Requirement, RequirementCase

counts = st.integers(min_value=1, max_value=2000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n)))
thresholds = st.floats(min_value=0.01, max_value=0.99)
confidences = st.sampled_from([0.9, 0.95, 0.99])


@given(counts, thresholds, st.sampled_from([">=", "<="]), confidences)
def test_the_bound_clears_the_threshold_iff_the_p_value_is_at_most_one_minus_confidence(kn, threshold, direction,
                                                                                      confidence):
    k, n = kn
    bound = one_sided_bound(k, n, direction, confidence)
    p = rate_p_value(k, n, threshold, direction)
    clears = bound >= threshold if direction == ">=" else bound <= threshold
    # away from the boundary, where floating point decides either way
    if abs(p - (1 - confidence)) > 1e-9:
        assert clears == (p <= 1 - confidence), (bound, p)


def test_p_value_known_answers():
    # 299 stop signs of 299: P(X = 299 | 0.99) = 0.99 ** 299 < 0.05, so recall >= 0.99 holds at 95 %
    assert rate_p_value(299, 299, 0.99, ">=") == pytest.approx(0.99 ** 299)
    assert rate_p_value(0, 299, 0.01, "<=") == pytest.approx(0.99 ** 299)
    assert rate_p_value(0, 10, 0.5, ">=") == 1.0 and rate_p_value(10, 10, 0.5, "<=") == 1.0
    assert rate_p_value(0, 0, 0.5, ">=") == 1.0


def test_holm_hand_example():
    # p sorted: 0.01, 0.02, 0.03 -> 3 * 0.01, 2 * 0.02, 1 * 0.03 -> max 0.04 -> 96 %
    assert holm_joint_confidence([0.03, 0.01, 0.02]) == pytest.approx(0.96)
    # Bonferroni would give 1 - 3 * 0.03 = 91 %
    assert holm_joint_confidence([0.5]) == pytest.approx(0.5)
    assert holm_joint_confidence([0.6, 0.6]) == 0.0


def _holm_rejects_all(p_values, alpha):
    """Holm's step-down procedure as stated: reject in ascending order while p_(i) <= alpha / (m - i + 1)."""
    ordered = sorted(p_values)
    m = len(ordered)
    return all(p <= alpha / (m - i) for i, p in enumerate(ordered))


@given(st.lists(st.floats(min_value=0, max_value=0.2), min_size=1, max_size=12))
def test_holm_is_the_largest_confidence_at_which_the_procedure_rejects_all_and_never_below_bonferroni(p_values):
    joint = holm_joint_confidence(p_values)
    bonferroni = 1 - min(1.0, len(p_values) * max(p_values))
    assert joint >= bonferroni - 1e-12
    alpha = 1 - joint
    if alpha < 1:
        assert _holm_rejects_all(p_values, alpha + 1e-12)
    for smaller in np.linspace(0, alpha, 20, endpoint=False)[1:]:
        assert not _holm_rejects_all(p_values, smaller - 1e-12)


@pytest.mark.parametrize("arguments, message", [
    ((5, 4, 0.9, ">="), "successes"), ((1, 4, 1.5, ">="), "threshold"), ((1, 4, 0.5, ">"), "direction"),
])
def test_p_value_refuses_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        rate_p_value(*arguments)


@pytest.mark.parametrize("p_values", [[], [[0.1]], [0.1, 1.2], [float("nan")], [-0.1]])
def test_holm_refuses_bad_p_values(p_values):
    with pytest.raises(ValueError, match="p_values"):
        holm_joint_confidence(p_values)


def _result(requirement_id, verdict, successes=None, n=None, threshold=0.9, direction=">="):
    requirement = Requirement(requirement_id, "title", "hazard", "recall", threshold, direction, 0.95)
    judgement = judge_proportion(successes, n, threshold, direction, 0.95) if successes is not None else None
    return RequirementResult(RequirementCase(requirement, None, CLEAN), verdict, judgement, successes=successes, n=n)


def test_the_evidence_covers_the_passing_rates_and_names_the_statistics_left_out():
    log = EvidenceLog()
    for result in (_result("A", Verdict.PASS, 299, 299, 0.99), _result("B", Verdict.PASS, 0, 299, 0.01, "<="),
                   _result("C", Verdict.FAIL, 80, 100), _result("ECE", Verdict.PASS)):
        log.record(result)
    joint = log.to_dict()["gate_joint_confidence"]
    # two equal p-values 0.99 ** 299: Holm gives max(2 p, p) = 2 p
    # set by both; at the Bonferroni level over the run's 4 rate cases (0.05 / 4) neither would pass
    assert joint == {"value": round(1 - 2 * 0.99 ** 299, 6), "method": "holm", "rate_cases": 2, "set_by": ["B", "A"],
                     "family_wise_passing": 0, "family_wise_gate": "fail", "left_out": ["ECE"],
                     "family_wise": False}
    assert EvidenceLog().gate_joint_confidence()["value"] is None


def test_the_joint_confidence_is_set_by_the_hypotheses_from_the_maximising_p_value_up():
    zero_event = 0.995 ** 700  # no silent miss in 700 stop signs against a ceiling of 0.005
    p_values = [1e-9, zero_event, 1e-6, *[zero_event] * 15]
    deciding = holm_deciding_hypotheses(p_values)
    assert sorted(deciding.tolist()) == [1, *range(3, 18)]
    assert holm_joint_confidence(p_values) == pytest.approx(1 - 16 * zero_event)
    # one p-value far above the rest sets it alone
    assert holm_deciding_hypotheses([0.001, 0.002, 0.04]).tolist() == [2]
    # largest p-value first
    assert holm_deciding_hypotheses([0.01, 0.012]).tolist() == [1, 0]


def test_the_family_wise_verdict_says_which_passing_rates_survive_bonferroni():
    log = EvidenceLog()
    for result in (_result("A", Verdict.PASS, 999, 1000, 0.9), _result("B", Verdict.PASS, 299, 299, 0.99)):
        log.record(result)
    joint = log.gate_joint_confidence()
    # A's p-value is tiny; B's (0.99 ** 299 = 0.0495) is above 0.05 / 2
    assert (joint["family_wise_passing"], joint["family_wise_gate"]) == (1, "fail")
    assert joint["set_by"] == ["B"]
    # --family-wise judged them there already: every passing rate case passes at its own level
    assert log.gate_joint_confidence(family_wise=True)["family_wise_gate"] == "pass"
