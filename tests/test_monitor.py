"""The classifier with its runtime monitor: silent failures, coverage, selective risk, the risk-coverage
curve, and its chart."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from safety_harness.metrics.monitor import coverage, risk_coverage_curve, selective_risk, silent_failure_rate
from safety_harness.report.charts import risk_coverage_svg

SVG = "{http://www.w3.org/2000/svg}"
# six images: four stop signs (14), two yields (13); the alarm fires on score > 0.5
LABELS = np.array([14, 14, 14, 14, 13, 13])
PREDICTED = np.array([14, 1, 2, 14, 14, 13])
SCORES = np.array([0.1, 0.9, 0.2, 0.5, 0.3, 0.4])


def test_silent_failures_are_misclassified_images_of_the_class_that_raise_no_alarm():
    silent = silent_failure_rate(LABELS, PREDICTED, SCORES, 0.5, class_id=14)
    # stop signs 1 and 2 are misread; 1 raises the alarm (0.9), 2 does not (0.2)
    assert (silent.rate.successes, silent.rate.n, silent.misclassified, silent.caught) == (1, 4, 2, 1)
    assert silent.rate.adverse_positions("<=").tolist() == [2]
    # the yield read as a stop sign is not a silent stop-sign miss
    assert silent_failure_rate(LABELS, PREDICTED, SCORES, 0.5, class_id=13).rate.successes == 1


def test_a_score_equal_to_the_threshold_raises_no_alarm():
    # image 3 (score 0.5) is accepted, as in metrics.ranking.alarm_rate (alarm on score > threshold)
    assert coverage(SCORES, 0.5).hits.tolist() == [True, False, True, True, True, True]
    assert silent_failure_rate(LABELS, np.full(6, 1), SCORES, 0.5, class_id=14).rate.successes == 3


def test_coverage_counts_accepted_inputs():
    accepted = coverage(SCORES, 0.35)
    assert (accepted.successes, accepted.n) == (3, 6)
    assert accepted.adverse_positions(">=").tolist() == [1, 3, 5]
    assert coverage(SCORES, 1.0).value == 1.0 and coverage(SCORES, 0.0).value == 0.0


def test_selective_risk_is_the_error_rate_among_accepted_inputs():
    risk = selective_risk(LABELS, PREDICTED, SCORES, 0.5)
    assert (risk.successes, risk.n) == (2, 5)  # images 2 and 4 are wrong and accepted


def test_risk_coverage_curve_rises_in_coverage_to_the_error_rate_at_full_coverage():
    curve = risk_coverage_curve(LABELS, PREDICTED, SCORES)
    assert np.all(np.diff(curve.coverage) > 0) and np.all(np.diff(curve.thresholds) > 0)
    assert curve.coverage[0] == pytest.approx(1 / 6) and curve.selective_risk[0] == 0.0
    assert curve.coverage[-1] == 1.0 and curve.selective_risk[-1] == pytest.approx(3 / 6)
    # by score: 0.1 right, 0.2 wrong, 0.3 wrong, 0.4 right, 0.5 right, 0.9 wrong
    np.testing.assert_allclose(curve.selective_risk, [0, 1 / 2, 2 / 3, 2 / 4, 2 / 5, 3 / 6])


def test_risk_coverage_curve_accepts_a_tie_whole():
    curve = risk_coverage_curve(np.array([0, 0, 0]), np.array([0, 1, 0]), np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(curve.coverage, [2 / 3, 1])
    np.testing.assert_allclose(curve.selective_risk, [1 / 2, 1 / 3])


@pytest.mark.parametrize(("call", "message"), [
    (lambda: coverage(np.ones((2, 2)), 0.5), "scores must be 1-D"),
    (lambda: coverage([0.1, np.nan], 0.5), "scores must be finite"),
    (lambda: coverage(SCORES, np.inf), "threshold must be finite"),
    (lambda: silent_failure_rate(LABELS, PREDICTED, SCORES[:3], 0.5, 14), "one score per sample"),
    (lambda: risk_coverage_curve(LABELS, PREDICTED.astype(float), SCORES), "integer class ids"),
    (lambda: risk_coverage_curve(np.zeros(0, int), np.zeros(0, int), []), "labels must not be empty"),
])
def test_bad_arguments_are_refused_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_risk_coverage_chart_marks_the_chosen_threshold():
    curve = risk_coverage_curve(LABELS, PREDICTED, SCORES)
    root = ET.fromstring(risk_coverage_svg(curve.coverage, curve.selective_risk, 0.5, 5 / 6, 0.4))
    assert len(root.find(f"{SVG}polyline").get("points").split()) == 6
    assert [c.get("fill") for c in root.iter(f"{SVG}polygon")] == ["#c00"] * 2  # the point and its legend
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"threshold 0.5", "coverage 0.833", "risk 0.4000", "selective risk"} <= set(texts)
    nothing_accepted = ET.fromstring(risk_coverage_svg(curve.coverage, curve.selective_risk, -1.0, 0.0, None))
    assert "risk n/a" in [t.text for t in nothing_accepted.iter(f"{SVG}text")]
