"""Calibration metrics against hand-computed cases and an independent loop implementation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax

from safety_harness.metrics import calibration


def loop_ece(probabilities, labels, n_bins=15):
    """Guo et al.'s formula written out bin by bin, with the bins (lo, hi]."""
    confidence, predicted = probabilities.max(axis=1), probabilities.argmax(axis=1)
    total, gaps = 0.0, []
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        members = [i for i, c in enumerate(confidence) if (lo < c <= hi) or (b == 0 and c == 0)]
        if members:
            gap = abs(np.mean([predicted[i] == labels[i] for i in members]) - np.mean(confidence[members]))
            total += len(members) / len(confidence) * gap
            gaps.append(gap)
    return total, max(gaps)


def two_class(confidences, correct):
    """Two-class probabilities whose top-label confidence is ``confidences``; labels right where ``correct``."""
    confidences = np.asarray(confidences, dtype=float)
    probabilities = np.stack([confidences, 1 - confidences], axis=1)
    return probabilities, np.where(correct, 0, 1)


def test_hand_computed_ece_and_mce():
    # bin (0.8, 0.8667]: 0.85 x2, one right -> gap |0.5 - 0.85| = 0.35;
    # bin (0.9333, 1]: 0.95 x2, both right -> gap 0.05
    probabilities, labels = two_class([0.85, 0.85, 0.95, 0.95], [True, False, True, True])
    assert calibration.expected_calibration_error(probabilities, labels) == pytest.approx((2 * 0.35 + 2 * 0.05) / 4)
    assert calibration.maximum_calibration_error(probabilities, labels) == pytest.approx(0.35)


def test_a_perfectly_calibrated_bin_has_no_error():
    probabilities, labels = two_class([0.75] * 4, [True, True, True, False])
    assert calibration.expected_calibration_error(probabilities, labels) == pytest.approx(0.0)


def test_confidence_one_falls_in_the_last_bin():
    probabilities, labels = two_class([1.0, 1.0], [True, True])
    bins = calibration.reliability_bins(probabilities, labels)
    assert bins.count[-1] == 2 and bins.count[:-1].sum() == 0


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 200), st.integers(2, 10), st.integers(0, 2**32 - 1))
def test_ece_and_mce_equal_an_independent_implementation(n, n_classes, seed):
    rng = np.random.default_rng(seed)
    probabilities = softmax(rng.normal(0, 3, (n, n_classes)), axis=1)
    labels = rng.integers(0, n_classes, n)
    ece, mce = loop_ece(probabilities, labels)
    assert calibration.expected_calibration_error(probabilities, labels) == pytest.approx(ece, abs=1e-12)
    assert calibration.maximum_calibration_error(probabilities, labels) == pytest.approx(mce, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 300), st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_equal_mass_bins_hold_equal_counts(n, n_bins, seed):
    rng = np.random.default_rng(seed)
    probabilities = softmax(rng.normal(0, 2, (n, 5)), axis=1)
    bins = calibration.reliability_bins(probabilities, rng.integers(0, 5, n), n_bins, "equal_mass")
    used = bins.count[bins.count > 0]
    assert used.sum() == n and used.max() - used.min() <= 1


def test_classwise_ece_is_one_vs_rest():
    # p(class 0) = 0.5 on four images, two of which are class 0: calibrated for class 0
    probabilities = np.array([[0.5, 0.5]] * 4)
    assert calibration.classwise_ece(probabilities, np.array([0, 0, 1, 1]), class_id=0) == pytest.approx(0.0)
    assert calibration.classwise_ece(probabilities, np.array([0, 0, 0, 0]), class_id=0) == pytest.approx(0.5)


def test_classwise_reliability_bins_by_hand():
    # p(class 2) per image and whether it is of class 2, in 4 equal-width bins (0, .25], (.25, .5], ...
    p2 = np.array([0.1, 0.2, 0.3, 0.9, 0.8, 0.6])
    labels = np.array([0, 2, 1, 2, 2, 0])
    probabilities = np.stack([1 - p2, np.zeros(6), p2], axis=1)
    bins = calibration.classwise_reliability_bins(probabilities, labels, class_id=2, n_bins=4)
    np.testing.assert_array_equal(bins.count, [2, 1, 1, 2])          # {.1, .2}, {.3}, {.6}, {.9, .8}
    np.testing.assert_allclose(bins.confidence, [0.15, 0.3, 0.6, 0.85])  # mean p(class 2)
    np.testing.assert_allclose(bins.accuracy, [0.5, 0.0, 0.0, 1.0])      # share of class 2
    np.testing.assert_allclose(bins.lower, [0, 0.25, 0.5, 0.75])
    # the top-label diagram of the same data is another one: here its first bin holds no image
    assert calibration.reliability_bins(probabilities, labels, n_bins=4).count[0] == 0
    # class-wise ECE is computed from exactly these bins: (2 * .35 + .3 + .6 + 2 * .15) / 6
    assert calibration.classwise_ece(probabilities, labels, 2, n_bins=4) == pytest.approx(1.9 / 6)


def test_calibration_statistic_is_the_requirement_s_metric_with_its_bins():
    rng = np.random.default_rng(3)
    probabilities, labels = softmax(rng.normal(0, 2, (200, 5)), axis=1), rng.integers(0, 5, 200)
    ece = calibration.CalibrationStatistic("ece", 10, "equal_mass")
    mce = calibration.CalibrationStatistic("mce", 10, "equal_mass")
    stop = calibration.CalibrationStatistic("ece", 10, "equal_width", class_id=4)
    assert ece(probabilities, labels) == calibration.expected_calibration_error(probabilities, labels, 10, "equal_mass")
    assert mce(probabilities, labels) == calibration.maximum_calibration_error(probabilities, labels, 10, "equal_mass")
    assert stop(probabilities, labels) == calibration.classwise_ece(probabilities, labels, 4, 10)
    one_vs_rest = calibration.classwise_reliability_bins(probabilities, labels, 4, 10)
    np.testing.assert_array_equal(stop.reliability(probabilities, labels).count, one_vs_rest.count)
    np.testing.assert_array_equal(ece.reliability(probabilities, labels).count,
                                  calibration.reliability_bins(probabilities, labels, 10, "equal_mass").count)


def test_classwise_binning_is_honoured():
    rng = np.random.default_rng(4)
    probabilities, labels = softmax(rng.normal(0, 2, (90, 3)), axis=1), rng.integers(0, 3, 90)
    bins = calibration.classwise_reliability_bins(probabilities, labels, 1, n_bins=9, binning="equal_mass")
    assert bins.count.tolist() == [10] * 9


@pytest.mark.parametrize("arguments, name", [
    (("auroc",), "metric"),
    (("mce", 15, "equal_width", 14), "class_id"),
])
def test_calibration_statistic_refuses_what_it_cannot_compute(arguments, name):
    with pytest.raises(ValueError, match=name):
        calibration.CalibrationStatistic(*arguments)


def test_classwise_bins_refuse_an_unknown_class():
    with pytest.raises(ValueError, match="class_id"):
        calibration.classwise_reliability_bins(np.full((2, 3), 1 / 3), np.array([0, 1]), class_id=3)


def test_brier_and_nll_by_hand():
    probabilities, labels = np.array([[0.8, 0.2], [0.4, 0.6]]), np.array([0, 0])
    assert calibration.brier_score(probabilities, labels) == pytest.approx((0.04 + 0.04 + 0.36 + 0.36) / 2)
    assert calibration.negative_log_likelihood(probabilities, labels) == pytest.approx(-(np.log(0.8) + np.log(0.4)) / 2)


@pytest.mark.parametrize("probabilities, labels, name", [
    (np.zeros((0, 3)), np.zeros(0, dtype=int), "probabilities"),
    (np.full((2, 3), 1 / 3), np.array([0.0, 1.0]), "labels"),
    (np.full((2, 3), 1 / 3), np.array([0, 3]), "labels"),
])
def test_invalid_inputs_name_the_argument(probabilities, labels, name):
    with pytest.raises(ValueError, match=name):
        calibration.expected_calibration_error(probabilities, labels)


def test_unknown_binning_is_refused():
    with pytest.raises(ValueError, match="binning"):
        calibration.expected_calibration_error(np.full((2, 2), 0.5), np.array([0, 1]), binning="quantile")
