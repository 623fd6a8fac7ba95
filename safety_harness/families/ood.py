"""Out-of-distribution alarms (safety_harness/ood): the alarm rate on an OOD set and the false-alarm rate on
held-out in-distribution data (rates), the separation of in- and out-of-distribution scores (AUROC on DeLong's
bound) and the drift of the ingest's scores from the reference's (a KS distance on its DKW bound); the safety
tests are in safety_tests/test_uncertainty.py."""

from typing import Annotated, Literal

import numpy as np
from pydantic import AfterValidator, Field

from safety_harness.core.names import NAME_PATTERN
from safety_harness.evidence.results import MissedOodInputs, RequirementResult, SampleGallery, ScoreHistograms
from safety_harness.families.judging import bound_result, rate_result
from safety_harness.families.registry import MetricFamily, MetricSpec, register
from safety_harness.families.schema import ThresholdedEntry
from safety_harness.metrics.bounds import clopper_pearson_upper
from safety_harness.metrics.classification import Proportion
from safety_harness.metrics.drift import HISTOGRAM_BINS, ks_distance_upper_bound, occupied_histogram_bins
from safety_harness.metrics.ranking import fpr_at_tpr
from safety_harness.ood import DETECTORS
from safety_harness.run.uncertainty import inputs_of

#: ingest images shown beside a drift verdict, most alarming first
MOST_ALARMING = 8

Detector = Literal[tuple(DETECTORS)]
TargetFalseAlarmRate = Annotated[float, Field(gt=0, lt=1)]
OodSetName = Annotated[str, Field(pattern=rf"^{NAME_PATTERN}$")]


def _distinct_ood_sets(value: list) -> list:
    repeated = sorted({name for name in value if value.count(name) > 1})
    if repeated:
        raise ValueError(f"lists {', '.join(repeated)} more than once")
    return value


OodSets = Annotated[list[OodSetName], Field(min_length=1), AfterValidator(_distinct_ood_sets)]


class AlarmRequirement(ThresholdedEntry):
    metric: Literal["alarm_rate"]
    detector: Detector
    target_false_alarm_rate: TargetFalseAlarmRate = 0.05
    ood_sets: OodSets


class FalseAlarmRequirement(ThresholdedEntry):
    metric: Literal["false_alarm_rate"]
    detector: Detector
    target_false_alarm_rate: TargetFalseAlarmRate = 0.05


class DriftRequirement(ThresholdedEntry):
    metric: Literal["drift"]
    detector: Detector
    target_false_alarm_rate: TargetFalseAlarmRate = 0.05


class SeparationRequirement(ThresholdedEntry):
    metric: Literal["auroc"]
    detector: Detector
    ood_sets: OodSets


def judge_alarms(case, run, alarms: Proportion, detector, threshold: float, scores_in, scores_out, ood_set=None,
                 held_out=None) -> RequirementResult:
    """An alarm rate on an OOD set (``ood_set``), or a false-alarm rate on held-out
    in-distribution data (``held_out`` predictions); both score sets with the threshold, and
    the inputs that count against the requirement, are kept for the report."""
    result = rate_result(case, run, alarms, held_out, "In-distribution images that raised the alarm",
                         groups=None if ood_set is None else run.ood_set_groups(ood_set))
    result.details.update(detector_details(run, detector, threshold))
    if ood_set is None:
        name_in, name_out = "threshold-fitting in-distribution", "held-out in-distribution"
    else:
        name_in, name_out = "in-distribution (held out)", f"{ood_set.name} ({ood_set.kind} OOD)"
        result.details.update({"ood_set": ood_set.name, "ood_kind": ood_set.kind,
                               "ood_description": ood_set.description})
        missed = alarms.adverse_positions(case.requirement.direction)
        result.exhibits += (MissedOodInputs(ood_set.name, ood_set.images, missed, np.asarray(scores_out)),)
    result.exhibits += (ScoreHistograms(np.asarray(scores_in), np.asarray(scores_out), threshold,
                                        name_in=name_in, name_out=name_out),)
    return result


def judge_separation(case, run, separation, scores_in, scores_out, detector, ood_set,
                     compared: dict | None = None) -> RequirementResult:
    """AUROC (OOD positive) on its DeLong bound (``separation``: metrics.ranking.AurocInterval
    of ``scores_in`` against ``scores_out``); FPR at 95 % TPR is recorded beside it, and
    ``compared`` (the classifier-independent detectors' AUROCs on the same images, by name) when given."""
    details = {"n_in_distribution": int(scores_in.size), "n_out_of_distribution": int(scores_out.size),
               "interval": "DeLong", "standard_error": separation.standard_error,
               "positive_class": "out-of-distribution",
               "fpr_at_95_tpr": fpr_at_tpr(scores_in, scores_out, 0.95), "detector": detector.name,
               "detector_reference": detector.reference, "detector_blind_spot": detector.blind_spot,
               "ood_set": ood_set.name, "ood_kind": ood_set.kind,
               "ood_description": ood_set.description, "reference": run.uncertainty.reference_source,
               **mc_dropout_details(run, detector)}
    if compared is not None:
        details["classifier_independent_aurocs"] = compared
    return bound_result(case, run, separation.auroc, separation.bound, scores_in.size + scores_out.size,
                        details, (), "not group-aware: DeLong's variance counts every image as independent")


def judge_drift(case, run, drift, ingest_alarms: Proportion, threshold: float, scores_reference, scores_ingest
                ) -> RequirementResult:
    """The KS distance between reference and ingest scores on its DKW upper bound. For
    information, the share of ingest images that raise the alarm (with its upper bound); both
    score sets and the most alarming ingest images are kept for the report."""
    requirement = case.requirement
    bound = ks_distance_upper_bound(drift, requirement.confidence)
    details = {"p_value": drift.p_value, "n_reference": drift.n_reference, "n_ingest": drift.n_ingest,
               "reference": run.uncertainty.reference_source, "threshold": threshold,
               "ingest_alarm_rate": ingest_alarms.value,
               "ingest_alarm_rate_bound": clopper_pearson_upper(ingest_alarms.successes, ingest_alarms.n,
                                                               requirement.confidence)}
    scores_ingest = np.asarray(scores_ingest)
    most_alarming = np.argsort(-scores_ingest, kind="stable")[:MOST_ALARMING]
    exhibits = (ScoreHistograms(np.asarray(scores_reference), scores_ingest, threshold,
                                name_in="reference", name_out="ingest"),
                SampleGallery("The most alarming ingest images", run.clean, most_alarming, adverse=False))
    occupied = occupied_histogram_bins(scores_reference, scores_ingest, threshold)
    degenerate = (f"uninformative: all reference and ingest scores in {occupied} of {HISTOGRAM_BINS} histogram "
                  "bins" if occupied <= 1 else None)
    return bound_result(case, run, drift.statistic, bound, drift.n_ingest, details, exhibits,
                        "not group-aware: the Dvoretzky–Kiefer–Wolfowitz bound counts every image as independent",
                        degenerate=degenerate)


def detector_details(run, detector, threshold: float) -> dict:
    """The alarm's evidence: the detector, its threshold and the in-distribution data behind both."""
    uncertainty = run.uncertainty
    details = {"detector": detector.name, "detector_reference": detector.reference,
               "detector_blind_spot": detector.blind_spot, "threshold": threshold,
               "reference": uncertainty.reference_source}
    if hasattr(detector, "source"):
        details["energy_from"] = detector.source(inputs_of(uncertainty.fitting))
    return {**details, **mc_dropout_details(run, detector)}


def mc_dropout_details(run, detector) -> dict:
    """For a detector that reads MC dropout passes: how they were run (passes, seed, Dropout layers)."""
    return {"mc_dropout": run.mc_dropout.describe()} if detector.needs_mc_dropout else {}


ALARM = register(MetricFamily(AlarmRequirement, {
    "alarm_rate": MetricSpec("forbidden", needs_labels=False, conditions="clean", variants_key="ood_sets")},
    judge=judge_alarms))
FALSE_ALARM = register(MetricFamily(FalseAlarmRequirement, {
    "false_alarm_rate": MetricSpec("forbidden", needs_labels=False, conditions="clean")}, judge=judge_alarms))
DRIFT = register(MetricFamily(DriftRequirement, {
    "drift": MetricSpec("forbidden", needs_labels=False, conditions="clean", binomial=False,
                        bound="Kolmogorov–Smirnov distance plus the Dvoretzky–Kiefer–Wolfowitz margins")},
    judge=judge_drift))
SEPARATION = register(MetricFamily(SeparationRequirement, {
    "auroc": MetricSpec("forbidden", needs_labels=False, conditions="clean", variants_key="ood_sets", binomial=False,
                        bound="DeLong's normal bound (exact over disjoint pairs at perfect separation)")},
    judge=judge_separation))
