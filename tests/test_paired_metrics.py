"""Paired comparison with a baseline model: counts, the exact bound of the paired difference, agreement."""

import math

import numpy as np
import pytest
from scipy.stats import multinomial

from safety_harness.metrics.bounds import clopper_pearson_lower, clopper_pearson_upper
from safety_harness.metrics.paired import (
    agreement,
    grouped_regression_upper_bound,
    paired_outcomes,
    regression_upper_bound,
)

LABELS = np.array([14, 14, 14, 14, 14, 1, 1, 2])
CANDIDATE = np.array([14, 14, 3, 14, 5, 1, 2, 2])
BASELINE = np.array([14, 3, 14, 14, 5, 1, 1, 7])


def test_losses_and_gains_of_a_class_count_only_its_discordant_images():
    outcomes = paired_outcomes(LABELS, CANDIDATE, BASELINE, class_id=14)
    # image 2: candidate wrong, baseline right (a loss); image 1: the reverse (a gain); image 4: both wrong
    assert (outcomes.losses, outcomes.gains, outcomes.n) == (1, 1, 5)
    assert outcomes.discordant_positions.tolist() == [1, 2]
    assert outcomes.difference == 0


def test_without_a_class_the_rate_is_accuracy():
    outcomes = paired_outcomes(LABELS, CANDIDATE, BASELINE)
    assert (outcomes.losses, outcomes.gains, outcomes.n) == (2, 2, 8)
    assert outcomes.discordant_positions.tolist() == [1, 2, 6, 7]


def test_a_model_against_itself_has_no_discordant_image():
    outcomes = paired_outcomes(LABELS, CANDIDATE, CANDIDATE, class_id=14)
    assert (outcomes.losses, outcomes.gains) == (0, 0)
    assert not outcomes.discordant_positions.size


def test_agreement_counts_same_predictions_right_or_wrong():
    rate = agreement(LABELS, CANDIDATE, BASELINE, class_id=14)
    assert (rate.successes, rate.n) == (3, 5)  # images 0, 3 and 4 (both wrong, the same wrong class)
    assert rate.adverse_positions(">=").tolist() == [1, 2]


def test_the_bound_is_the_difference_of_the_halved_clopper_pearson_bounds():
    assert regression_upper_bound(3, 1, 200, 0.95) == pytest.approx(
        clopper_pearson_upper(3, 200, 0.975) - clopper_pearson_lower(1, 200, 0.975))
    # no discordant image: 1 - (alpha / 2)^(1/n)
    assert regression_upper_bound(0, 0, 738, 0.95) == pytest.approx(1 - 0.025 ** (1 / 738))
    assert regression_upper_bound(0, 0, 738, 0.95) < 0.005 < regression_upper_bound(0, 0, 730, 0.95)
    assert regression_upper_bound(0, 0, 0, 0.95) == 1


@pytest.mark.parametrize("n", [12, 30])
def test_the_bound_covers_the_true_difference_at_least_as_often_as_stated(n):
    """Exact coverage, every outcome (losses, gains) weighed by its multinomial probability."""
    outcomes = [(b, c) for b in range(n + 1) for c in range(n + 1 - b)]
    bounds = np.array([regression_upper_bound(b, c, n, 0.9) for b, c in outcomes])
    counts = np.array([(b, c, n - b - c) for b, c in outcomes])
    worst = 1.0
    for p_lose in np.linspace(0, 0.5, 11):
        for p_gain in np.linspace(0, 0.5, 11):
            probability = multinomial.pmf(counts, n, [p_lose, p_gain, 1 - p_lose - p_gain])
            worst = min(worst, probability[bounds >= p_lose - p_gain - 1e-12].sum())
    assert 0.9 <= worst < 1


@pytest.mark.parametrize("call, message", [
    (lambda: paired_outcomes(LABELS, CANDIDATE, BASELINE[:-1]), "shape"),
    (lambda: paired_outcomes(LABELS, CANDIDATE, BASELINE.astype(float)), "integer"),
    (lambda: agreement(LABELS, CANDIDATE[:3], BASELINE), "shape"),
    (lambda: regression_upper_bound(3, 4, 5), "exceed"),
    (lambda: regression_upper_bound(0, 0, 5, 0.3), "confidence"),
    (lambda: regression_upper_bound(-1, 0, 5), "successes"),
])
def test_invalid_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bound_never_below_the_estimate():
    for b, c, n in [(0, 0, 10), (5, 0, 10), (0, 5, 10), (3, 3, 100), (10, 1, 1000)]:
        assert regression_upper_bound(b, c, n) >= (b - c) / n
    assert math.isclose(regression_upper_bound(10, 0, 10), 1)


def test_the_grouped_bound_is_the_exact_one_for_single_image_groups_and_weaker_for_whole_tracks():
    rng = np.random.default_rng(0)
    labels = np.full(120, 14)
    candidate, baseline = labels.copy(), labels.copy()
    candidate[:6], baseline[6:8] = 3, 3  # six images lost, two gained
    outcomes = paired_outcomes(labels, candidate, baseline, class_id=14)
    singletons = rng.permutation(120)
    assert math.isclose(grouped_regression_upper_bound(outcomes, singletons),
                        regression_upper_bound(6, 2, 120), rel_tol=1e-12)
    # the six losses are one track of six frames: far less evidence than six independent losses
    tracks = np.repeat(np.arange(20), 6)
    assert grouped_regression_upper_bound(outcomes, tracks) > regression_upper_bound(6, 2, 120)
    with pytest.raises(ValueError, match="one id per sample"):
        grouped_regression_upper_bound(outcomes, tracks[:-1])
