"""Bootstrap bounds: seeded, the resample count as given, strata resampled on their own, and the
bounds of the calibration and AUROC requirements as the harness computed them before they shared
one module."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax

from safety_harness.metrics import calibration
from safety_harness.metrics.bootstrap import (
    DEFAULT_RESAMPLES,
    batched_bootstrap_bound,
    bootstrap_bound,
    group_bootstrap_bound,
)
from safety_harness.metrics.ranking import auroc
from safety_harness.plan.plan import RunOptions


def calibration_sample(seed, n=300, n_classes=3):
    rng = np.random.default_rng(seed)
    return softmax(rng.normal(0, 2, (n, n_classes)), axis=1), rng.integers(0, n_classes, n)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_calibrated_by_construction_has_an_ece_interval_near_zero(seed):
    # labels drawn from the predicted distribution itself: calibrated by construction
    rng = np.random.default_rng(seed)
    probabilities = softmax(rng.normal(0, 2, (2000, 4)), axis=1)
    labels = (rng.random((2000, 1)) > probabilities.cumsum(axis=1)).sum(axis=1)
    ece = calibration.expected_calibration_error(probabilities, labels)
    bound = bootstrap_bound(calibration.expected_calibration_error, [(probabilities, labels)], "<=", seed=seed)
    assert ece <= bound < 0.08


def test_overconfidence_is_caught_by_the_bound():
    rng = np.random.default_rng(0)
    correct = rng.random(500) < 0.8
    probabilities, labels = np.tile([0.99, 0.01], (500, 1)), np.where(correct, 0, 1)
    bound = bootstrap_bound(calibration.expected_calibration_error, [(probabilities, labels)], "<=")
    assert calibration.expected_calibration_error(probabilities, labels) > 0.15 and bound > 0.15


def test_bootstrap_bound_is_seeded():
    strata = [calibration_sample(1)]
    statistic = calibration.expected_calibration_error
    assert bootstrap_bound(statistic, strata, "<=", seed=3) == bootstrap_bound(statistic, strata, "<=", seed=3)
    assert bootstrap_bound(statistic, strata, "<=", seed=3) != bootstrap_bound(statistic, strata, "<=", seed=4)


@pytest.mark.parametrize("n_resamples", [100, 257])
def test_the_statistic_is_recomputed_once_per_resample(n_resamples):
    sizes = []

    def statistic(scores_in, scores_out):
        sizes.append((scores_in.size, scores_out.size))
        return float(scores_out.mean() - scores_in.mean())

    bootstrap_bound(statistic, [(np.arange(7.0),), (np.arange(3.0),)], ">=", n_resamples=n_resamples)
    assert sizes == [(7, 3)] * n_resamples  # each stratum resampled at its own size


def test_a_run_bootstraps_with_the_named_default_unless_told_otherwise():
    options = RunOptions(model_path=None, card_path=None, ingest_path=None, requirements_path=None)
    assert options.bootstrap_resamples == DEFAULT_RESAMPLES == 1000


def test_the_calibration_bound_is_the_confidence_quantile_of_paired_resamples():
    # written out as the harness computed it in metrics/calibration.py before the bootstraps shared a module
    probabilities, labels = calibration_sample(2)
    statistic = calibration.CalibrationStatistic("ece", n_bins=10)
    rng, values = np.random.default_rng(5), []
    for _ in range(200):
        draw = rng.integers(0, labels.size, labels.size)
        values.append(statistic(probabilities[draw], labels[draw]))
    bound = bootstrap_bound(statistic, [(probabilities, labels)], "<=", 0.9, n_resamples=200, seed=5)
    assert bound == float(np.quantile(values, 0.9))


def test_the_auroc_bound_resamples_each_set_separately_and_is_a_lower_quantile():
    # written out as the evidence recorder computed it before the bootstraps shared a module
    rng = np.random.default_rng(0)
    scores_in, scores_out = rng.normal(0, 1, 120), rng.normal(1.5, 1, 40)
    generator = np.random.default_rng(7)
    values = [auroc(generator.choice(scores_in, scores_in.size), generator.choice(scores_out, scores_out.size))
              for _ in range(300)]
    bound = bootstrap_bound(auroc, [(scores_in,), (scores_out,)], ">=", 0.95, n_resamples=300, seed=7)
    assert bound == float(np.quantile(values, 0.05))
    assert bound < auroc(scores_in, scores_out)


@pytest.mark.parametrize("strata, direction, keywords, name", [
    ([(np.zeros(3), np.zeros(4))], "<=", {}, "strata"),
    ([(np.zeros(0),)], "<=", {}, "strata"),
    ([], "<=", {}, "strata"),
    ([(np.zeros(3),)], "==", {}, "direction"),
    ([(np.zeros(3),)], "<=", {"confidence": 1.0}, "confidence"),
    ([(np.zeros(3),)], "<=", {"n_resamples": 99}, "n_resamples"),
])
def test_invalid_arguments_are_named(strata, direction, keywords, name):
    with pytest.raises(ValueError, match=name):
        bootstrap_bound(np.mean, strata, direction, **keywords)


@pytest.mark.parametrize("statistic", [
    calibration.CalibrationStatistic("ece", 15), calibration.CalibrationStatistic("mce", 15),
    calibration.CalibrationStatistic("ece", 10, "equal_mass"), calibration.CalibrationStatistic("mce", 10, "equal_mass"),
    calibration.CalibrationStatistic("ece", 15, class_id=2)], ids=["ece", "mce", "ece-mass", "mce-mass", "classwise"])
def test_calibration_statistics_on_many_resamples_equal_the_statistic_resample_by_resample(statistic):
    probabilities, labels = calibration_sample(3)
    rows = np.random.default_rng(1).integers(0, labels.size, (25, labels.size))
    expected = [statistic(probabilities[r], labels[r]) for r in rows]
    assert statistic.on_resamples(probabilities, labels, rows) == pytest.approx(expected, abs=1e-12)
    batched = batched_bootstrap_bound(lambda r: statistic.on_resamples(probabilities, labels, r), labels.size, "<=",
                                      0.95, n_resamples=300, seed=9)
    assert batched == pytest.approx(bootstrap_bound(statistic, [(probabilities, labels)], "<=", 0.95,
                                                    n_resamples=300, seed=9), abs=1e-12)


def test_a_batched_bootstrap_checks_its_arguments():
    with pytest.raises(ValueError, match="n must be"):
        batched_bootstrap_bound(np.mean, 0, "<=")
    with pytest.raises(ValueError, match="n_resamples"):
        batched_bootstrap_bound(np.mean, 10, "<=", n_resamples=5)
    probabilities, labels = calibration_sample(0)
    with pytest.raises(ValueError, match="rows"):
        calibration.CalibrationStatistic("ece").on_resamples(probabilities, labels, np.zeros(5, int))
    with pytest.raises(ValueError, match="class_id"):
        calibration.CalibrationStatistic("ece", class_id=7).on_resamples(probabilities, labels, np.zeros((1, 5), int))


@pytest.mark.parametrize("metric", ["ece", "mce"])
def test_equal_mass_statistics_on_resamples_break_ties_as_the_statistic_does(metric):
    # saturated confidences tie; a bin edge inside the tie must split it as reliability_bins does
    rng = np.random.default_rng(0)
    probabilities = np.tile([1.0, 0.0, 0.0], (200, 1))
    probabilities[:50] = [0.5, 0.3, 0.2]
    labels = rng.integers(0, 3, 200)
    statistic = calibration.CalibrationStatistic(metric, 10, "equal_mass")
    rows = np.random.default_rng(1).integers(0, labels.size, (20, labels.size))
    expected = [statistic(probabilities[r], labels[r]) for r in rows]
    assert statistic.on_resamples(probabilities, labels, rows) == pytest.approx(expected, abs=1e-12)


def test_the_group_bootstrap_resamples_whole_groups():
    rng = np.random.default_rng(3)
    signs = rng.normal(size=25)
    frames, tracks = np.repeat(signs, 30), np.repeat(np.arange(25), 30)  # 30 identical frames of each sign

    def mean_of(values):
        return lambda rows: values[rows].mean(axis=1)

    over_signs = batched_bootstrap_bound(mean_of(signs), signs.size, "<=", n_resamples=2000, seed=1)
    over_tracks = group_bootstrap_bound(mean_of(frames), tracks, "<=", n_resamples=2000, seed=1)
    over_frames = batched_bootstrap_bound(mean_of(frames), frames.size, "<=", n_resamples=2000, seed=1)
    # resampling tracks claims what 25 signs show; resampling frames claims far more
    assert over_tracks == pytest.approx(over_signs, abs=0.05)
    assert over_frames - signs.mean() < (over_tracks - signs.mean()) / 3
    assert over_tracks == group_bootstrap_bound(mean_of(frames), tracks, "<=", n_resamples=2000, seed=1)
    with pytest.raises(ValueError, match="groups"):
        group_bootstrap_bound(mean_of(frames), np.zeros((2, 2)), "<=")
