"""The group-aware rate bound: exact where every group holds one image, never more optimistic than one trial
per group where the groups' outcomes are all equal, and covering the true rate in simulation."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from safety_harness.metrics.bounds import clopper_pearson_lower, clopper_pearson_upper, events_to_block, samples_needed
from safety_harness.metrics.group_bounds import (
    CORRELATION_ASSUMED,
    CORRELATION_ESTIMATED,
    CORRELATION_SINGLETONS,
    group_bound,
    group_events_to_block,
    group_p_value,
    groups_needed,
)
from safety_harness.metrics.multiplicity import rate_p_value
from tools.group_bound_coverage import coverage_table, markdown

directions = st.sampled_from([">=", "<="])
confidences = st.sampled_from([0.9, 0.95, 0.99])
#: per group: its size and whether its images succeed (all alike)
homogeneous_groups = st.lists(st.tuples(st.integers(1, 30), st.booleans()), min_size=1, max_size=40)
#: per group: its size and how many of its images succeed
mixed_groups = st.lists(st.integers(1, 30).flatmap(lambda m: st.tuples(st.just(m), st.integers(0, m))),
                        min_size=1, max_size=40)


def images_of(groups) -> tuple[np.ndarray, np.ndarray]:
    """Per-image outcomes and group ids of (size, successes) groups."""
    outcomes = np.concatenate([np.arange(size) < successes for size, successes in groups])
    ids = np.repeat(np.arange(len(groups)), [size for size, _ in groups])
    return outcomes, ids


@given(st.lists(st.booleans(), max_size=300), directions, confidences)
def test_one_image_per_group_gives_the_exact_image_level_bound(outcomes, direction, confidence):
    outcomes = np.array(outcomes, bool)
    grouped = group_bound(outcomes, np.arange(outcomes.size) * 7, direction, confidence)
    exact = (clopper_pearson_lower if direction == ">=" else clopper_pearson_upper)(
        int(outcomes.sum()), outcomes.size, confidence)
    assert grouped.bound == grouped.image_bound == exact
    assert grouped.effective_n == outcomes.size and grouped.groups == outcomes.size
    assert grouped.correlation_source == CORRELATION_SINGLETONS or outcomes.size == 0


@given(homogeneous_groups, directions, confidences)
def test_groups_whose_outcomes_are_all_equal_claim_no_more_than_one_trial_per_group(groups, direction, confidence):
    outcomes, ids = images_of([(size, size if success else 0) for size, success in groups])
    grouped = group_bound(outcomes, ids, direction, confidence)
    successful = sum(success for _, success in groups)
    per_group = (clopper_pearson_lower if direction == ">=" else clopper_pearson_upper)(
        successful, len(groups), confidence)
    if direction == ">=":
        assert grouped.bound <= per_group + 1e-12
    else:
        assert grouped.bound >= per_group - 1e-12
    assert grouped.groups == len(groups)


@given(mixed_groups, directions, confidences)
def test_the_group_aware_bound_never_claims_more_than_the_image_level_bound(groups, direction, confidence):
    outcomes, ids = images_of(groups)
    grouped = group_bound(outcomes, ids, direction, confidence)
    if direction == ">=":
        assert grouped.bound <= grouped.image_bound + 1e-12
    else:
        assert grouped.bound >= grouped.image_bound - 1e-12
    assert 0 <= grouped.correlation <= 1
    assert 0 < grouped.effective_n <= grouped.n


def test_how_the_correlation_was_obtained_is_recorded():
    no_miss = group_bound(np.ones(60, bool), np.repeat(np.arange(6), 10), ">=")
    assert no_miss.correlation == 1 and no_miss.correlation_source == CORRELATION_ASSUMED
    assert no_miss.effective_n == 6 and no_miss.bound == pytest.approx(clopper_pearson_lower(6, 6))
    # misses spread over many tracks, one or two per track: the correlation is estimated and low
    outcomes = np.ones(300, bool)
    outcomes[::30] = False
    spread = group_bound(outcomes, np.repeat(np.arange(30), 10), ">=")
    assert spread.correlation_source == CORRELATION_ESTIMATED and spread.correlation < 0.2
    assert spread.groups < spread.effective_n < spread.n
    # the same misses bunched in one track make it look like one trial per group
    bunched = group_bound(np.sort(outcomes), np.repeat(np.arange(30), 10), ">=")
    assert bunched.correlation_source == CORRELATION_ASSUMED and bunched.bound < spread.bound


def test_groups_needed_counts_independent_groups():
    # one image per group: the image-level sample size
    singletons = group_bound(np.ones(270, bool), np.arange(270), ">=")
    assert groups_needed(singletons, 0.99) == samples_needed(270, 270, 0.99, ">=") == 299
    # tracks entirely right: one trial per track, so 299 tracks
    tracks = group_bound(np.ones(270, bool), np.repeat(np.arange(9), 30), ">=")
    assert groups_needed(tracks, 0.99) == 299
    one_miss = np.ones(270, bool)
    one_miss[0] = False
    assert groups_needed(group_bound(one_miss, np.arange(270), ">="), 0.99) == samples_needed(269, 270, 0.99, ">=")
    assert groups_needed(group_bound(one_miss, np.arange(270), ">="), 1.0) is None
    assert groups_needed(group_bound(np.zeros(50, bool), np.arange(50), "<="), 0.01) == 299


def test_events_to_block_over_groups_counts_images_at_the_effective_sample_size():
    # one image per group: the exact image-level count
    singletons = group_bound(np.ones(270, bool), np.arange(270), ">=")
    assert group_events_to_block(singletons, 0.95) == events_to_block(270, 270, 0.95, ">=") == 8
    # 9 tracks of 30 all right count as 9 trials: each further miss weighs 30 times an independent one's
    tracks = group_bound(np.ones(270, bool), np.repeat(np.arange(9), 30), ">=")
    assert tracks.bound >= 0.7 and 0 < group_events_to_block(tracks, 0.7) < events_to_block(270, 270, 0.7, ">=")
    assert group_events_to_block(tracks, 0.0) is None and group_events_to_block(tracks, 0.8) == 0


@pytest.mark.parametrize("outcomes, groups, message", [
    (np.ones(3, bool), np.arange(4), "one length"),
    (np.ones(3), np.arange(3), "booleans"),
])
def test_bad_arguments_are_rejected(outcomes, groups, message):
    with pytest.raises(ValueError, match=message):
        group_bound(outcomes, groups, ">=")
    with pytest.raises(ValueError, match="direction"):
        group_bound(np.ones(3, bool), np.arange(3), "==")


def test_simulated_coverage_of_the_group_aware_bound():
    """The README's table: at least 94 % coverage in every setting, where the image-level bound falls short."""
    rows = coverage_table()
    print(markdown(rows))
    for row in rows:
        assert row["group_aware"] >= 0.94, row
    correlated = [row for row in rows if row["rho"] >= 0.7 and row["rate"] == 0.95]
    assert all(row["image_level"] < 0.9 for row in correlated), correlated


@given(st.lists(st.booleans(), min_size=1, max_size=300), directions, st.floats(0.01, 0.99))
def test_the_p_value_is_the_exact_binomial_one_where_every_image_is_its_own_group(outcomes, direction, threshold):
    outcomes = np.array(outcomes, bool)
    grouped = group_bound(outcomes, np.arange(outcomes.size), direction)
    exact = rate_p_value(int(outcomes.sum()), outcomes.size, threshold, direction)
    assert group_p_value(grouped, threshold) == pytest.approx(exact, abs=1e-9)


def test_the_p_value_over_tracks_counts_one_trial_per_track():
    tracks = group_bound(np.ones(270, bool), np.repeat(np.arange(9), 30), ">=")
    assert group_p_value(tracks, 0.9) == pytest.approx(0.9 ** 9)
    assert rate_p_value(270, 270, 0.9, ">=") == pytest.approx(0.9 ** 270)
