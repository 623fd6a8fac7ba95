"""Verdict rules: pass on the bound, fail on the estimate, insufficient evidence in between."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safety_harness.metrics.bounds import one_sided_bound
from safety_harness.metrics.verdicts import Verdict, judge_bound, judge_proportion


def test_stop_sign_examples_from_the_gtsrb_test_set():
    # 6 of 270 stop signs missed: the estimate 0.978 misses 0.99 -> fail
    assert judge_proportion(264, 270, 0.99, ">=", 0.95).verdict is Verdict.FAIL
    # 1 missed: 0.996 clears 0.99 but its bound 0.983 does not -> insufficient evidence, with the size that decides
    judgement = judge_proportion(269, 270, 0.99, ">=", 0.95)
    assert judgement.verdict is Verdict.INSUFFICIENT_EVIDENCE
    assert judgement.samples_needed == 473
    # none missed of 270 is still too few; of 299 it passes
    assert judge_proportion(270, 270, 0.99, ">=", 0.95).samples_needed == 299
    assert judge_proportion(299, 299, 0.99, ">=", 0.95).verdict is Verdict.PASS


def test_no_samples_is_insufficient_evidence_never_a_pass():
    judgement = judge_proportion(0, 0, 0.99, ">=", 0.95)
    assert judgement.verdict is Verdict.INSUFFICIENT_EVIDENCE
    assert math.isnan(judgement.value)
    assert judgement.samples_needed == 299


def test_ceiling_requirement():
    assert judge_proportion(0, 800, 0.01, "<=", 0.95).verdict is Verdict.PASS
    assert judge_proportion(0, 100, 0.01, "<=", 0.95).verdict is Verdict.INSUFFICIENT_EVIDENCE
    assert judge_proportion(3, 100, 0.01, "<=", 0.95).verdict is Verdict.FAIL


counts = st.integers(min_value=0, max_value=2000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)


@given(counts, st.floats(0.0, 1.0), st.sampled_from([">=", "<="]), st.sampled_from([0.9, 0.95, 0.99]))
def test_verdicts_are_consistent_with_the_bounds(kn, threshold, direction, confidence):
    k, n = kn
    judgement = judge_proportion(k, n, threshold, direction, confidence)
    bound = one_sided_bound(k, n, direction, confidence)
    meets = (lambda v: v >= threshold) if direction == ">=" else (lambda v: v <= threshold)
    assert judgement.bound == bound
    if judgement.verdict is Verdict.PASS:
        assert meets(bound) and meets(k / n)
    elif judgement.verdict is Verdict.FAIL:
        assert not meets(k / n)
    else:
        assert judgement.verdict is Verdict.INSUFFICIENT_EVIDENCE
        assert n == 0 or (meets(k / n) and not meets(bound))
    assert (judgement.margin >= 0) == meets(bound)


def test_judge_bound_for_non_binomial_metrics():
    assert judge_bound(0.02, 0.04, 0.05, "<=", 0.95).verdict is Verdict.PASS
    assert judge_bound(0.02, 0.07, 0.05, "<=", 0.95).verdict is Verdict.INSUFFICIENT_EVIDENCE
    assert judge_bound(0.06, 0.08, 0.05, "<=", 0.95).verdict is Verdict.FAIL
    with pytest.raises(ValueError, match="direction"):
        judge_bound(0.1, 0.1, 0.1, "==", 0.95)


def test_blocking_verdicts():
    assert Verdict.FAIL.blocks_release and Verdict.INSUFFICIENT_EVIDENCE.blocks_release
    assert not Verdict.PASS.blocks_release and not Verdict.NOT_APPLICABLE.blocks_release
