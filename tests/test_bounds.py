"""Clopper–Pearson bounds and sample sizes against scipy's exact binomial test and known answers."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from safety_harness.metrics.bounds import (
    clopper_pearson_lower,
    clopper_pearson_upper,
    events_to_block,
    one_sided_bound,
    samples_needed,
)

counts = st.integers(min_value=1, max_value=3000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)
confidences = st.sampled_from([0.9, 0.95, 0.99])


@given(counts, confidences)
def test_bounds_equal_scipy_exact_one_sided_intervals(kn, confidence):
    k, n = kn
    lower = binomtest(k, n, alternative="greater").proportion_ci(confidence_level=confidence, method="exact").low
    upper = binomtest(k, n, alternative="less").proportion_ci(confidence_level=confidence, method="exact").high
    assert clopper_pearson_lower(k, n, confidence) == pytest.approx(lower, abs=1e-9)
    assert clopper_pearson_upper(k, n, confidence) == pytest.approx(upper, abs=1e-9)


@given(counts, confidences)
def test_bounds_bracket_the_estimate(kn, confidence):
    k, n = kn
    assert clopper_pearson_lower(k, n, confidence) <= k / n <= clopper_pearson_upper(k, n, confidence)


@given(counts, confidences)
def test_bounds_are_monotone_in_successes(kn, confidence):
    k, n = kn
    if k < n:
        assert clopper_pearson_lower(k + 1, n, confidence) > clopper_pearson_lower(k, n, confidence)
        assert clopper_pearson_upper(k + 1, n, confidence) > clopper_pearson_upper(k, n, confidence)


@given(st.integers(0, 20), st.integers(1, 2000), confidences)
def test_more_samples_at_the_same_misses_raise_the_lower_bound(misses, n, confidence):
    n = n + misses
    assert clopper_pearson_lower(n + 1 - misses, n + 1, confidence) > clopper_pearson_lower(n - misses, n, confidence)


def test_known_answers():
    # 0.05 ** (1 / n) is the lower bound with no miss: 299 samples show 0.99, 298 do not.
    assert clopper_pearson_lower(299, 299) == pytest.approx(0.05 ** (1 / 299))
    assert clopper_pearson_lower(299, 299) >= 0.99 > clopper_pearson_lower(298, 298)
    assert clopper_pearson_upper(0, 299) == pytest.approx(1 - 0.05 ** (1 / 299))
    assert clopper_pearson_lower(0, 10) == 0.0 and clopper_pearson_upper(10, 10) == 1.0
    assert clopper_pearson_lower(0, 0) == 0.0 and clopper_pearson_upper(0, 0) == 1.0


def test_samples_needed_known_answers():
    assert samples_needed(0, 0, 0.99, ">=") == math.ceil(math.log(0.05) / math.log(0.99)) == 299
    assert samples_needed(270, 270, 0.99, ">=") == 299  # the real GTSRB test set has 270 stop signs
    assert samples_needed(0, 100, 0.01, "<=") == 299
    assert samples_needed(5, 10, 1.0, ">=") is None
    assert samples_needed(1, 10, 0.0, "<=") is None


@settings(max_examples=60)
@given(st.integers(0, 10), st.sampled_from([0.9, 0.95, 0.99]), st.sampled_from([">=", "<="]), confidences)
def test_samples_needed_is_the_smallest_deciding_size(adverse, threshold, direction, confidence):
    if direction == "<=":
        threshold = round(1 - threshold, 2)
    m = samples_needed(adverse, adverse, threshold, direction, confidence) if direction == "<=" else \
        samples_needed(0, adverse, threshold, direction, confidence)
    successes = (lambda size: size - adverse) if direction == ">=" else (lambda size: adverse)

    def clears(size):
        bound = one_sided_bound(successes(size), size, direction, confidence)
        return bound >= threshold if direction == ">=" else bound <= threshold

    assert clears(m)
    assert m == max(adverse, 1) or not clears(m - 1)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: clopper_pearson_lower(5, 3), "successes"),
        (lambda: clopper_pearson_lower(-1, 3), "successes"),
        (lambda: clopper_pearson_lower(1, -3), "n must be"),
        (lambda: clopper_pearson_lower(1.5, 3), "integers"),
        (lambda: clopper_pearson_lower(1, 3, confidence=1.0), "confidence"),
        (lambda: one_sided_bound(1, 3, ">"), "direction"),
        (lambda: samples_needed(1, 3, 1.5, ">="), "threshold"),
    ],
)
def test_invalid_arguments_are_named(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


@settings(max_examples=60)
@given(counts, st.sampled_from([0.5, 0.9, 0.95, 0.99]), st.sampled_from([">=", "<="]), confidences)
def test_events_to_block_is_the_fewest_further_adverse_events_that_stop_the_bound_clearing(kn, threshold, direction,
                                                                                          confidence):
    k, n = kn
    if direction == "<=":
        threshold = round(1 - threshold, 2)
    floor = direction == ">="

    def blocks(more):
        bound = one_sided_bound(k - more if floor else k + more, n, direction, confidence)
        return bound < threshold if floor else bound > threshold

    more = events_to_block(k, n, threshold, direction, confidence)
    assert more is not None and blocks(more) and (more == 0 or not blocks(more - 1))


def test_events_to_block_known_answers():
    # 270 stop signs all recognised: 8 misses bring the 95 % lower bound below 0.95, 7 do not
    assert events_to_block(270, 270, 0.95, ">=") == 8
    assert clopper_pearson_lower(263, 270) >= 0.95 > clopper_pearson_lower(262, 270)
    assert events_to_block(0, 4900, 0.005, "<=") == 17
    assert events_to_block(10, 10, 0.0, ">=") is None and events_to_block(0, 10, 1.0, "<=") is None
    assert events_to_block(5, 10, 0.9, ">=") == 0
