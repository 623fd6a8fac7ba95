"""SpRAy (safety_harness/metrics/spray.py) against known answers on small arrays."""

import numpy as np
import pytest

from safety_harness.metrics.bounds import clopper_pearson_lower
from safety_harness.metrics.spray import (
    judge_shortcut_clusters,
    most_concentrating_cluster,
    pooled_maps,
    relevance_profiles,
    spectral_clusters,
    top_mass,
)
from safety_harness.metrics.verdicts import Verdict


def class_maps(diffuse: int, patched: int, seed: int = 0) -> np.ndarray:
    """``diffuse`` 32x32 maps whose relevance spreads over a sign-sized disc (noisy), then ``patched`` maps that put
    most of theirs on a 4x4 patch at a random place inside it: a class of which a share learned a sticker."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[:32, :32]
    disc = ((rows - 15.5) ** 2 + (columns - 15.5) ** 2 < 12 ** 2).astype(float)
    maps = disc * rng.uniform(0.5, 1.5, (diffuse + patched, 32, 32))
    for index in range(diffuse, diffuse + patched):
        top, left = rng.integers(8, 20, 2)
        maps[index] *= 0.3
        maps[index, top:top + 4, left:left + 4] += 8
    return maps


def test_pooled_maps_hold_unit_mass_per_cell_grid_whatever_the_map_size_and_ignore_negative_relevance():
    maps = np.zeros((3, 30, 30))
    maps[0, :15, :15] = 1
    maps[1] = -1  # no positive relevance: points nowhere
    maps[2, 0, 0], maps[2, 29, 29] = 2, -5
    pooled = pooled_maps(maps, grid=4)
    assert pooled.shape == (3, 4, 4)
    assert pooled[0].sum() == pytest.approx(1) and pooled[0, :2, :2].sum() == pytest.approx(1)
    assert not pooled[1].any()
    assert pooled[2, 0, 0] == pytest.approx(1)
    profiles = relevance_profiles(maps, grid=4)
    assert (np.diff(profiles, axis=1) <= 0).all() and profiles[2, 0] == pytest.approx(1)
    assert top_mass(profiles, 1 / 16).tolist() == pytest.approx([0.25, 0, 1])


def test_two_separate_groups_give_an_eigengap_of_two_clusters_numbered_by_first_member_deterministically():
    rng = np.random.default_rng(1)
    features = np.r_[rng.normal(0, 0.1, (15, 3)), rng.normal(5, 0.1, (25, 3))][::-1]  # the far group first
    clusters = spectral_clusters(features, n_neighbors=10, seed=3)
    assert clusters.k == 2 and clusters.eigenvalues[1] == pytest.approx(0, abs=1e-9)
    assert clusters.labels.tolist() == [0] * 25 + [1] * 15
    assert (spectral_clusters(features, n_neighbors=10, seed=3).labels == clusters.labels).all()


def test_the_patched_share_of_a_class_is_the_most_concentrating_cluster_and_a_diffuse_class_has_no_excess():
    found = most_concentrating_cluster(class_maps(60, 20))
    assert set(found.members.tolist()) == set(range(60, 80)) and found.share == pytest.approx(0.25)
    assert found.excess > 0.3 and found.median_top_mass > found.rest_median_top_mass
    clean = most_concentrating_cluster(class_maps(80, 0))
    assert clean is None or clean.excess < 0.05


def test_a_flagged_cluster_fails_when_its_share_bound_exceeds_the_ceiling_bonferroni_over_flagged_classes():
    # class 0: 30 of 100 in a flagged cluster; class 1: 40 of 100 but not concentrating; class 2: one cluster only
    judged = judge_shortcut_clusters([30, 40, 0], [100, 100, 80], [0.2, 0.05, np.nan], 0.1, 0.1)
    assert judged.verdict is Verdict.FAIL and judged.flagged.tolist() == [True, False, False]
    assert judged.bound_confidence == pytest.approx(0.95)
    assert judged.lower_bounds[0] == pytest.approx(clopper_pearson_lower(30, 100, 0.95)) and judged.lower_bounds[1] == 0
    two = judge_shortcut_clusters([30, 30], [100, 100], [0.2, 0.3], 0.1, 0.1)
    assert two.bound_confidence == pytest.approx(0.975)
    assert two.lower_bounds[0] == pytest.approx(clopper_pearson_lower(30, 100, 0.975))


def test_a_flagged_share_above_the_ceiling_with_its_bound_below_is_insufficient_and_small_ones_pass():
    assert judge_shortcut_clusters([4], [20], [0.2], 0.1, 0.1).verdict is Verdict.INSUFFICIENT_EVIDENCE  # 20 %, bound 7 %
    assert judge_shortcut_clusters([2, 50], [100, 100], [0.3, 0.02], 0.1, 0.1).verdict is Verdict.PASS
    assert judge_shortcut_clusters([], [], [], 0.1, 0.1).verdict is Verdict.INSUFFICIENT_EVIDENCE


@pytest.mark.parametrize("call", [
    lambda: pooled_maps(np.zeros((2, 8)), 4),
    lambda: pooled_maps(np.full((1, 8, 8), np.nan), 4),
    lambda: pooled_maps(np.zeros((1, 8, 8)), 9),
    lambda: spectral_clusters(np.zeros((5, 2)), n_neighbors=5),
    lambda: judge_shortcut_clusters([3], [2], [0.2], 0.1, 0.1),
    lambda: judge_shortcut_clusters([1], [2], [0.2], 0, 0.1),
])
def test_bad_parameters_are_refused(call):
    with pytest.raises(ValueError):
        call()
