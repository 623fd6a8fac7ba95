"""Uncertainty requirements: confidence that means what it says, an alarm on what the model does not know,
and the classifier with that alarm as its runtime monitor, judged as one system.

PYTEST_DONT_REWRITE: a failed verdict prints its own one-line explanation, not pytest's introspection.
"""

import pytest

from safety_harness.metrics import calibration, monitor, ranking
from safety_harness.metrics.drift import ks_drift
from safety_harness.metrics.verdicts import Verdict
from safety_harness.ood import DETECTORS
from safety_harness.plan.requirements import GIVEN_OOD_SETS
from safety_harness.run.uncertainty import inputs_of


def calibration_statistic(requirement_case):
    """ECE or MCE with the requirement's bins; class-wise (one-vs-rest) ECE for a requirement on one class."""
    requirement = requirement_case.requirement
    return calibration.CalibrationStatistic(requirement.metric, requirement.parameters["bins"],
                                            requirement.parameters["binning"], requirement_case.class_id)


@pytest.mark.requirement_metric("ece")
def test_expected_calibration_error_ceiling(requirement_case, predictions, evidence):
    result = evidence.judge(calibration_statistic(requirement_case), predictions)
    assert result.verdict is Verdict.PASS, result.message


@pytest.mark.requirement_metric("mce")
def test_maximum_calibration_error_ceiling(requirement_case, predictions, evidence):
    result = evidence.judge(calibration_statistic(requirement_case), predictions)
    assert result.verdict is Verdict.PASS, result.message


def ood_set(safety_run, requirement_case, evidence):
    """The OOD set a case reads, as (set, detector inputs)."""
    if requirement_case.variant == GIVEN_OOD_SETS:
        evidence.not_applicable("no OOD folder given (--ood-set DIR), e.g. signs of another country")
    return safety_run.uncertainty.ood_sets[requirement_case.variant]


def fitted_detector(safety_run, requirement_case, evidence):
    detector = safety_run.uncertainty.detector(requirement_case.requirement.parameters["detector"])
    if isinstance(detector, str):
        evidence.not_applicable(f"detector unavailable: {detector}")
    return detector


@pytest.mark.requirement_metric("alarm_rate")
def test_ood_alarm_rate_floor(requirement_case, safety_run, evidence):
    uncertainty = safety_run.uncertainty
    chosen_set, ood_inputs = ood_set(safety_run, requirement_case, evidence)
    detector = fitted_detector(safety_run, requirement_case, evidence)
    threshold = uncertainty.threshold(detector, requirement_case.requirement.parameters["target_false_alarm_rate"])
    scores_in = uncertainty.scores(detector, inputs_of(uncertainty.held_out))
    scores_out = uncertainty.scores(detector, ood_inputs)
    result = evidence.judge(ranking.alarm_rate(scores_out, threshold), detector, threshold, scores_in, scores_out,
                            ood_set=chosen_set)
    assert result.verdict is Verdict.PASS, result.message


@pytest.mark.requirement_metric("false_alarm_rate")
def test_false_alarm_rate_ceiling(requirement_case, safety_run, evidence):
    uncertainty = safety_run.uncertainty
    detector = fitted_detector(safety_run, requirement_case, evidence)
    threshold = uncertainty.threshold(detector, requirement_case.requirement.parameters["target_false_alarm_rate"])
    scores_calibration, scores_held_out = (uncertainty.scores(detector, inputs_of(uncertainty.calibration)),
                                           uncertainty.scores(detector, inputs_of(uncertainty.held_out)))
    result = evidence.judge(ranking.alarm_rate(scores_held_out, threshold), detector, threshold,
                            scores_calibration, scores_held_out, held_out=uncertainty.held_out)
    assert result.verdict is Verdict.PASS, result.message


def independent_detector_aurocs(safety_run, ood_inputs) -> dict:
    """AUROC on the same held-out and OOD images of every classifier-independent detector, by name
    (None: unavailable for this model): the alternatives to the judged one, side by side."""
    uncertainty, aurocs = safety_run.uncertainty, {}
    for name, detector_class in DETECTORS.items():
        if detector_class.classifier_independent:
            detector = uncertainty.detector(name)
            aurocs[name] = None if isinstance(detector, str) else ranking.auroc(
                uncertainty.scores(detector, inputs_of(uncertainty.held_out)), uncertainty.scores(detector, ood_inputs))
    return aurocs


@pytest.mark.requirement_metric("auroc")
def test_ood_separation_floor(requirement_case, safety_run, evidence):
    uncertainty = safety_run.uncertainty
    chosen_set, ood_inputs = ood_set(safety_run, requirement_case, evidence)
    detector = fitted_detector(safety_run, requirement_case, evidence)
    scores_in = uncertainty.scores(detector, inputs_of(uncertainty.held_out))
    scores_out = uncertainty.scores(detector, ood_inputs)
    requirement = requirement_case.requirement
    separation = ranking.auroc_delong(scores_in, scores_out, requirement.direction, requirement.confidence)
    compared = independent_detector_aurocs(safety_run, ood_inputs) if detector.classifier_independent else None
    result = evidence.judge(separation, scores_in, scores_out, detector, chosen_set, compared)
    assert result.verdict is Verdict.PASS, result.message


@pytest.mark.requirement_metric("drift")
def test_ingest_drift_ceiling(requirement_case, safety_run, evidence):
    uncertainty = safety_run.uncertainty
    if not uncertainty.independent_reference:
        evidence.not_applicable("no independent reference (--reference): the ingest cannot drift from itself")
    detector = fitted_detector(safety_run, requirement_case, evidence)
    threshold = uncertainty.threshold(detector, requirement_case.requirement.parameters["target_false_alarm_rate"])
    scores_reference, scores_ingest = (uncertainty.scores(detector, inputs_of(uncertainty.calibration)),
                                       uncertainty.scores(detector, inputs_of(safety_run.clean)))
    result = evidence.judge(ks_drift(scores_reference, scores_ingest), ranking.alarm_rate(scores_ingest, threshold),
                            threshold, scores_reference, scores_ingest)
    assert result.verdict is Verdict.PASS, result.message


def fitted_monitor(safety_run, requirement_case, evidence):
    """The runtime monitor: the requirement's detector and its threshold fitted to the target false-alarm rate."""
    detector = fitted_detector(safety_run, requirement_case, evidence)
    target = requirement_case.requirement.parameters["target_false_alarm_rate"]
    return detector, safety_run.uncertainty.threshold(detector, target)


@pytest.mark.requirement_metric("silent_failure_rate")
def test_silent_failure_rate_ceiling(requirement_case, predictions, safety_run, evidence):
    """Images of the class misclassified with no alarm: acted upon, wrong, and unnoticed."""
    detector, threshold = fitted_monitor(safety_run, requirement_case, evidence)
    inputs = inputs_of(predictions)
    unavailable = detector.unavailable_reason(inputs)
    if unavailable:
        evidence.not_applicable(f"detector {detector.name} cannot score images under {requirement_case.condition}: "
                                f"{unavailable} (predictions under a perturbed condition keep probabilities and "
                                "logits only, an ensemble's member probabilities and MC dropout scores; detectors "
                                "msp, energy, ensemble_disagreement, mc_entropy and mc_mutual_information read them)")
    silent = monitor.silent_failure_rate(predictions.labels, predictions.predicted,
                                         safety_run.uncertainty.scores(detector, inputs), threshold,
                                         requirement_case.class_id)
    result = evidence.judge(silent.rate, predictions, "Misclassified images that raised no alarm", detector, threshold,
                            {"scored_on": f"the images under {requirement_case.condition}",
                             "images_of_class": silent.rate.n, "misclassified": silent.misclassified,
                             "misclassified_with_alarm": silent.caught, "silent_failures": silent.rate.successes})
    assert result.verdict is Verdict.PASS, result.message


@pytest.mark.requirement_metric("coverage")
def test_coverage_floor(requirement_case, safety_run, evidence):
    """Held-out in-distribution images the monitor accepts: the alarm leaves the classifier work to do."""
    detector, threshold = fitted_monitor(safety_run, requirement_case, evidence)
    held_out = safety_run.uncertainty.held_out
    scores = safety_run.uncertainty.scores(detector, inputs_of(held_out))
    accepted = monitor.coverage(scores, threshold)
    counts = {"held_out": accepted.n, "accepted": accepted.successes, "alarms": accepted.n - accepted.successes}
    risk = curve = None
    if held_out.labelled:  # without labels there is no error rate among the accepted images
        risk = monitor.selective_risk(held_out.labels, held_out.predicted, scores, threshold)
        curve = monitor.risk_coverage_curve(held_out.labels, held_out.predicted, scores)
    result = evidence.judge(accepted, held_out, "Held-out in-distribution images that raised the alarm",
                            detector, threshold, counts, risk, curve)
    assert result.verdict is Verdict.PASS, result.message
