"""Requirements against the released model (``--baseline-model``), paired image by image on the same images
(safety_harness/metrics/paired.py): the candidate's recall of a class (accuracy without one) is not worse by more
than a margin, on an exact bound of the paired difference; and the share of images on which both predict the
same class, a rate (safety_tests/test_baseline.py)."""

from typing import Literal

import numpy as np

from safety_harness.evidence.results import DiscordantImages, RequirementResult
from safety_harness.families.judging import groups_of, judged, rate_result
from safety_harness.families.registry import MetricFamily, MetricSpec, register
from safety_harness.families.schema import ThresholdedEntry
from safety_harness.metrics.classification import Proportion
from safety_harness.metrics.paired import grouped_regression_upper_bound, regression_upper_bound
from safety_harness.metrics.verdicts import judge_bound


class RegressionRequirement(ThresholdedEntry):
    """The candidate's recall of ``class`` (accuracy without one) is below the baseline's by at most ``threshold``
    (the margin on the paired difference, baseline's rate minus candidate's)."""

    metric: Literal["regression"]
    direction: Literal["<="]  # a ceiling on how much worse the candidate may be


class AgreementRequirement(ThresholdedEntry):
    """The candidate and the baseline predict the same class on at least ``threshold`` of the images."""

    metric: Literal["agreement"]
    direction: Literal[">="]  # a floor: agreement is what the requirement asks for


def judge_regression(case, run, outcomes, predictions, baseline_predictions) -> RequirementResult:
    """How much worse the model under test's rate is than the baseline's (``outcomes``:
    metrics.paired.PairedOutcomes on ``predictions`` against ``baseline_predictions`` of the same images)
    on the upper bound of the paired difference, over the images' groups of dependent images
    (metrics.paired.grouped_regression_upper_bound) unless the requirement says its images are
    independent (metrics.paired.regression_upper_bound). The evidence lists the discordant images; the
    report shows them with both predictions."""
    requirement = case.requirement
    confidence = requirement.confidence
    groups = groups_of(run, predictions)
    if requirement.independence == "groups":
        bound = grouped_regression_upper_bound(outcomes, groups.ids, confidence)
        population_groups = int(np.unique(groups.ids[outcomes.population]).size)
        independence = {"independence": "groups", "reason": groups.description, "groups": population_groups}
    else:
        bound = regression_upper_bound(outcomes.losses, outcomes.gains, outcomes.n, confidence)
        independence = {"independence": "images", "reason": "the requirement sets 'independence: images'",
                        "groups": None}
    details = {"losses": outcomes.losses, "gains": outcomes.gains,
               "bound_method": "upper bound of the losses minus lower bound of the gains, each at "
                               "1 - (1 - confidence) / 2 (Bonferroni), each Clopper-Pearson at Kish's "
                               "effective sample size over the groups (exact where each image is its own group)",
               **_paired_details(run, predictions, baseline_predictions, outcomes.discordant_positions)}
    exhibits = (DiscordantImages("Images only one of the two models gets right", predictions,
                                 baseline_predictions.predicted, outcomes.discordant_positions),)
    judgement = judge_bound(outcomes.difference, bound, requirement.threshold, requirement.direction, confidence)
    return judged(case, run, judgement, n=outcomes.n, details=details, exhibits=exhibits, independence=independence,
                  reason=f"{outcomes.losses} lost and {outcomes.gains} gained against the baseline")


def judge_agreement(case, run, rate: Proportion, predictions, baseline_predictions) -> RequirementResult:
    """The share of images on which the model under test and the baseline predict the same class
    (``rate``: metrics.paired.agreement) on its exact one-sided bound; the evidence lists the images
    on which they differ, the report shows them with both predictions."""
    result = rate_result(case, run, rate, None, "", groups=groups_of(run, predictions))
    disagreeing = rate.adverse_positions(">=")
    result.details.update(_paired_details(run, predictions, baseline_predictions, disagreeing))
    result.exhibits += (DiscordantImages("Images on which the two models disagree", predictions,
                                         baseline_predictions.predicted, disagreeing),)
    return result


def _paired_details(run, predictions, baseline_predictions, positions) -> dict:
    """The baseline's identity and the listed images, each with its file, true class and both predictions."""
    records, labels = predictions.ingest.records, predictions.labels
    listed = [{"file": str(records[int(predictions.indices[p])].path),
               "true_class": int(labels[p]) if labels[p] >= 0 else None,
               "candidate_predicted": int(predictions.predicted[p]),
               "baseline_predicted": int(baseline_predictions.predicted[p])} for p in positions]
    return {"baseline": run.baseline.identity(), "discordant_images": listed}


REGRESSION = register(MetricFamily(RegressionRequirement, {
    "regression": MetricSpec("optional", paired=True, binomial=False,
                             bound="upper bound of the paired difference: losses' upper minus gains' lower "
                                   "Clopper–Pearson bound (Bonferroni)")},
    judge=judge_regression))
AGREEMENT = register(MetricFamily(AgreementRequirement, {
    "agreement": MetricSpec("optional", needs_labels=False, paired=True)}, judge=judge_agreement))
