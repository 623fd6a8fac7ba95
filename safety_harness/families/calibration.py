"""Calibration: expected and maximum calibration error (safety_harness/metrics/calibration.py), judged on a seeded
bootstrap bound that resamples whole groups of dependent images (safety_tests/test_uncertainty.py)."""

import dataclasses
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from safety_harness.evidence.results import Reliability, RequirementResult
from safety_harness.families.judging import bound_result, rounded
from safety_harness.families.registry import MetricFamily, MetricSpec, register
from safety_harness.families.schema import ThresholdedEntry
from safety_harness.metrics import calibration
from safety_harness.metrics.bootstrap import batched_bootstrap_bound, group_bootstrap_bound
from safety_harness.metrics.calibration import BINNINGS

#: fewer occupied confidence bins than this make a calibration statistic uninformative (it compares
#: confidence and accuracy at that few points)
MIN_OCCUPIED_CALIBRATION_BINS = 3


class CalibrationRequirement(ThresholdedEntry):
    metric: Literal["ece", "mce"]
    bins: Annotated[int, Field(ge=1, le=100)] = 15
    binning: Literal[BINNINGS] = "equal_width"


def judge(case, run, statistic, predictions) -> RequirementResult:
    """A calibration statistic (metrics.calibration.CalibrationStatistic) of ``predictions``, judged on its
    seeded bootstrap bound; the reliability bins it is computed from are kept for the report."""
    requirement, options = case.requirement, run.options
    probabilities, labels = predictions.probabilities, predictions.labels
    groups = run.group_ids(predictions)
    # over groups of dependent images whole groups are resampled; where each image is its own group
    # (or the requirement says images are independent) the image bootstrap is the same resampling
    count = int(np.unique(groups).size)
    grouped = requirement.independence == "groups" and count < groups.size

    def bootstrap() -> dict:
        def of_rows(rows):
            return statistic.on_resamples(probabilities, labels, rows)
        arguments = dict(direction=requirement.direction, confidence=requirement.confidence,
                         n_resamples=options.bootstrap_resamples, seed=options.seed)
        bound = (group_bootstrap_bound(of_rows, groups, **arguments) if grouped
                 else batched_bootstrap_bound(of_rows, len(labels), **arguments))
        return {"bound": np.array(bound)}

    # a warm run reads the bound back: the resamples are the costliest statistic a verdict needs
    bound = float(run.cache.cached(
        "bootstrap bounds", bootstrap, statistic=dataclasses.asdict(statistic), probabilities=probabilities,
        labels=labels, direction=requirement.direction, confidence=requirement.confidence,
        resamples=options.bootstrap_resamples, seed=options.seed, groups=groups if grouped else None)["bound"])
    details = {"bootstrap_resamples": options.bootstrap_resamples,
               "bootstrap_resamples_whole": "groups" if grouped else "images"}
    bins = statistic.reliability(probabilities, labels)
    details["reliability"] = {
        "class": statistic.class_id, "count": bins.count.tolist(), "confidence": rounded(bins.confidence),
        "accuracy": rounded(bins.accuracy), "lower": rounded(bins.lower), "upper": rounded(bins.upper)}
    # proper scoring rules beside the judged statistic: calibration and sharpness in one figure each
    details["brier_score"] = calibration.brier_score(probabilities, labels)
    details["negative_log_likelihood"] = calibration.negative_log_likelihood(probabilities, labels)
    if grouped:
        how = (f"the bootstrap resamples whole groups of dependent images: "
               f"{run.groups(predictions.ingest).description}")
    elif requirement.independence == "images":
        how = "the requirement sets 'independence: images': the bootstrap resamples images"
    else:
        how = ("the bootstrap resamples images, each its own group: "
               f"{run.groups(predictions.ingest).description}")
    occupied = int(np.count_nonzero(bins.count))
    degenerate = (f"uninformative: {occupied} of {bins.count.size} bins occupied"
                  if occupied < MIN_OCCUPIED_CALIBRATION_BINS else None)
    return bound_result(case, run, statistic(probabilities, labels), bound, len(labels), details,
                        (Reliability(bins, statistic.class_id),), how,
                        count if requirement.independence == "groups" else None, degenerate)


CALIBRATION = register(MetricFamily(CalibrationRequirement, {
    "ece": MetricSpec("optional", binomial=False, bound="bootstrap upper bound, resampling whole groups"),
    "mce": MetricSpec("forbidden", binomial=False, bound="bootstrap upper bound, resampling whole groups"),
}, judge=judge))
