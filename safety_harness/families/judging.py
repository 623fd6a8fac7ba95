"""The judging rules the families share: a rate on its exact one-sided bound over groups of dependent images, a
statistic on the bound its family computed, and the result either gives.

A family's judge (:attr:`~safety_harness.families.registry.MetricFamily.judge`) is a function
``judge(case, run, *measured)`` of the case, the run it was measured in (its class names, groups of dependent
images, options and stages) and what the case's safety test measured, giving the case's
:class:`~safety_harness.evidence.results.RequirementResult`; the recorder (fixtures/evidence.py) records it.
"""

import dataclasses

import numpy as np

from safety_harness.evidence.results import RequirementResult, SampleGallery
from safety_harness.ingest.groups import Groups
from safety_harness.metrics.classification import Proportion
from safety_harness.metrics.verdicts import Judgement, judge_bound, judge_grouped_proportion, judge_proportion

#: adverse samples a rate case lists by file in the evidence (the first in the data's order; the count is exact)
ADVERSE_SAMPLES_CAP = 50


def class_name(case, run) -> str | None:
    """The name of the case's class (None: a case on the whole ingest)."""
    return None if case.class_id is None else run.class_names[case.class_id]


def judged(case, run, judgement: Judgement, **fields) -> RequirementResult:
    """The case's result with ``judgement``'s verdict and ``fields``."""
    return RequirementResult(case=case, verdict=judgement.verdict, judgement=judgement,
                             class_name=class_name(case, run), **fields)


def groups_of(run, predictions) -> Groups:
    """The groups of dependent images of ``predictions``' images, one id per position."""
    return dataclasses.replace(run.groups(predictions.ingest), ids=run.group_ids(predictions))


def rate_result(case, run, rate: Proportion, predictions=None, what: str = "", estimate: float | None = None,
                groups: Groups | None = None) -> RequirementResult:
    """The rate's result, judged on its one-sided bound over the groups of dependent images of its samples
    (``groups``, one id per position of ``rate``'s masks; default: the groups of the images of ``predictions``)
    unless the requirement says its images are independent.

    ``estimate`` replaces ``rate.value`` as the point estimate when the rate only bounds the metric (an accuracy
    drop is bounded by the share of samples lost). The samples that count against the requirement (positions in
    ``predictions``) are listed in the evidence and kept for the report, titled ``what``."""
    requirement = case.requirement
    if groups is None and predictions is not None:
        groups = groups_of(run, predictions)
    if requirement.independence == "groups" and groups is not None and rate.population is not None:
        population = rate.population
        judgement = judge_grouped_proportion(rate.hits[population], groups.ids[population], requirement.threshold,
                                             requirement.direction, requirement.confidence, estimate)
        independence = {"independence": "groups", "reason": groups.description}
    else:
        judgement = judge_proportion(rate.successes, rate.n, requirement.threshold, requirement.direction,
                                     requirement.confidence, estimate)
        independence = {"independence": "images", "reason": "the requirement sets 'independence: images'"
                        if requirement.independence == "images" else "the rate's images carry no groups"}
    result = judged(case, run, judgement, successes=rate.successes, n=rate.n, independence=independence)
    if predictions is not None and rate.population is not None:
        adverse = rate.adverse_positions(requirement.direction)
        result.adverse_samples = adverse_samples(predictions, adverse)
        result.exhibits += (SampleGallery(what, predictions, adverse, adverse=True),)
    return result


def bound_result(case, run, value: float, bound: float, n: int, details: dict, exhibits: tuple,
                 not_group_aware: str, groups: int | None = None, degenerate: str | None = None
                 ) -> RequirementResult:
    """A statistic judged on its own one-sided ``bound`` at the requirement's confidence: over ``groups`` groups
    (its reason ``not_group_aware`` then says how the groups were formed), or treating every image as
    independent (``not_group_aware``: why); ``degenerate``: why the statistic says little about the model
    although it could be computed (None: it is informative)."""
    requirement = case.requirement
    judgement = judge_bound(value, bound, requirement.threshold, requirement.direction, requirement.confidence)
    independence = {"independence": "images" if groups is None else "groups", "reason": not_group_aware,
                    "groups": groups}
    return judged(case, run, judgement, n=n, details=details, exhibits=exhibits, independence=independence,
                  degenerate=degenerate)


def adverse_samples(predictions, positions: np.ndarray) -> dict:
    """The samples at ``positions`` of ``predictions`` that count against a rate case, for the evidence: how
    many, and the first :data:`ADVERSE_SAMPLES_CAP` by file (relative to the root of the data they were read
    from), true class, predicted class and the model's probability of it."""
    records, root = predictions.ingest.records, predictions.ingest.root.resolve()
    listed = [{"path": records[int(predictions.indices[p])].path.resolve().relative_to(root).as_posix(),
               "true_class": int(predictions.labels[p]) if predictions.labels[p] >= 0 else None,
               "predicted_class": int(predictions.predicted[p]),
               "score": round(float(predictions.confidence[p]), 6)} for p in positions[:ADVERSE_SAMPLES_CAP]]
    return {"count": int(positions.size), "cap": ADVERSE_SAMPLES_CAP, "listed": listed}


def rounded(values) -> list:
    """Floats for the evidence, to 6 decimals (NaN: None)."""
    return [None if np.isnan(v) else round(float(v), 6) for v in values]
