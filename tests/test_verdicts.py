"""Verdict rules: pass on the bound, fail on the estimate, insufficient evidence in between."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from safety_harness.evidence.results import RequirementResult
from safety_harness.metrics.bounds import clopper_pearson_upper, one_sided_bound
from safety_harness.metrics.verdicts import (
    SamplesNeeded,
    Verdict,
    judge_bound,
    judge_grouped_proportion,
    judge_proportion,
)
from safety_harness.plan.requirements import CLEAN, Requirement, RequirementCase


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


def test_samples_needed_is_computed_for_an_undecided_rate():
    judgement = judge_proportion(269, 270, 0.99, ">=", 0.95)
    assert judgement.samples_needed_status is SamplesNeeded.COMPUTED and judgement.samples_needed == 473


def test_samples_needed_is_impossible_when_no_sample_size_clears_the_threshold():
    # no miss in 500, but a floor of 1: the lower bound approaches 1 and never reaches it
    judgement = judge_proportion(500, 500, 1.0, ">=", 0.95)
    assert judgement.verdict is Verdict.INSUFFICIENT_EVIDENCE
    assert judgement.samples_needed_status is SamplesNeeded.IMPOSSIBLE and judgement.samples_needed is None


def test_samples_needed_is_not_defined_for_a_bound_that_is_not_a_count_s():
    judgement = judge_bound(0.02, 0.07, 0.05, "<=", 0.95)  # e.g. an ECE and its bootstrap bound
    assert judgement.verdict is Verdict.INSUFFICIENT_EVIDENCE
    assert judgement.samples_needed_status is SamplesNeeded.NOT_DEFINED and judgement.samples_needed is None


@pytest.mark.parametrize("judgement", [
    judge_proportion(299, 299, 0.99, ">=", 0.95), judge_proportion(264, 270, 0.99, ">=", 0.95),
    judge_bound(0.02, 0.04, 0.05, "<=", 0.95), judge_bound(0.06, 0.08, 0.05, "<=", 0.95),
])
def test_a_decided_judgement_has_no_samples_needed(judgement):
    assert judgement.samples_needed_status is None and judgement.samples_needed is None


def test_an_estimate_bounded_by_a_rate_is_judged_on_the_rate_s_bound_and_count():
    # accuracy drop 0.01, bounded by 3 of 100 samples lost: the drop is judged on the rate's upper bound
    judgement = judge_proportion(3, 100, 0.05, "<=", 0.95, estimate=0.01)
    assert judgement.value == 0.01 and judgement.bound == clopper_pearson_upper(3, 100, 0.95)
    assert judgement.verdict is Verdict.INSUFFICIENT_EVIDENCE
    assert judgement.samples_needed_status is SamplesNeeded.COMPUTED
    # at that size the bound of 3 lost clears 0.05 (and the drop, at most the rate, with it); one less does not
    assert clopper_pearson_upper(3, judgement.samples_needed, 0.95) <= 0.05
    assert clopper_pearson_upper(3, judgement.samples_needed - 1, 0.95) > 0.05
    assert judge_proportion(3, 100, 0.05, "<=", 0.95, estimate=0.06).verdict is Verdict.FAIL


def result_of(judgement, metric, successes=None, n=None):
    requirement = Requirement("SR-X", "title", "hazard", metric, judgement.threshold, judgement.direction,
                              judgement.confidence)
    return RequirementResult(RequirementCase(requirement, None, CLEAN), judgement.verdict, judgement,
                             successes=successes, n=n)


@pytest.mark.parametrize("judgement, metric, counts, status, sentence", [
    (judge_proportion(269, 270, 0.99, ">=", 0.95), "recall", (269, 270), "computed",
     "at the observed error count 473 samples would be needed (have 270: 203 more)"),
    (judge_proportion(500, 500, 1.0, ">=", 0.95), "recall", (500, 500), "impossible",
     "no sample size can decide it at the observed error count"),
    (judge_proportion(3, 100, 0.05, "<=", 0.95, estimate=0.01), "accuracy_drop", (3, 100), "computed",
     "samples would be needed (have 100: "),
    (judge_bound(0.02, 0.07, 0.05, "<=", 0.95), "ece", (None, 900), "not_defined",
     "the bound's method gives no sample size that would decide it"),
])
def test_message_and_json_say_whether_a_sample_size_would_decide_it(judgement, metric, counts, status, sentence):
    result = result_of(judgement, metric, *counts)
    record = result.to_dict()
    assert record["samples_needed_status"] == status
    assert record["samples_needed"] == judgement.samples_needed
    assert sentence in result.message
    others = {"computed": "would be needed", "impossible": "no sample size can", "not_defined": "method gives no"}
    assert all(text not in result.message for key, text in others.items() if key != status)


def test_a_decided_result_says_nothing_of_sample_sizes():
    record = result_of(judge_proportion(299, 299, 0.99, ">=", 0.95), "recall", 299, 299).to_dict()
    assert record["samples_needed_status"] is None and record["samples_needed"] is None


def test_blocking_verdicts():
    assert Verdict.FAIL.blocks_release and Verdict.INSUFFICIENT_EVIDENCE.blocks_release
    assert not Verdict.PASS.blocks_release and not Verdict.NOT_APPLICABLE.blocks_release


def test_a_rate_over_groups_is_judged_on_its_group_aware_bound():
    outcomes = np.ones(270, bool)
    # one image per group: the same judgement as over independent images
    alone = judge_grouped_proportion(outcomes, np.arange(270), 0.99, ">=", 0.95)
    assert (alone.verdict, alone.bound, alone.samples_needed) == (
        Verdict.INSUFFICIENT_EVIDENCE, judge_proportion(270, 270, 0.99, ">=", 0.95).bound, 299)
    # 270 frames of 9 tracks: nine trials, so 299 independent tracks would be needed
    tracks = judge_grouped_proportion(outcomes, np.repeat(np.arange(9), 30), 0.95, ">=", 0.95)
    assert tracks.verdict is Verdict.INSUFFICIENT_EVIDENCE and tracks.grouped.groups == 9
    assert tracks.bound == pytest.approx(0.05 ** (1 / 9)) and tracks.samples_needed == 59
    assert judge_proportion(270, 270, 0.95, ">=", 0.95).verdict is Verdict.PASS  # what images alone would claim
