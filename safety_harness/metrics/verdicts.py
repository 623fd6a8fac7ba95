"""Verdicts that respect sample size.

A requirement ``metric <direction> threshold`` is judged on a one-sided bound:

- ``pass``: the bound clears the threshold;
- ``fail``: the point estimate itself misses the threshold;
- ``insufficient_evidence``: the estimate clears it but the bound does not —
  too few samples to decide, never a pass;
- ``not_applicable``: the requirement cannot be evaluated on this data (e.g. no labels).

An ``insufficient_evidence`` judgement says whether a sample size would decide it
(:class:`SamplesNeeded`): computed for a rate, impossible for a rate whose threshold no
sample size can clear at the observed error count, not defined for a bootstrap bound.
"""

import dataclasses
import enum
import math
from dataclasses import dataclass

from safety_harness.metrics.bounds import events_to_block, one_sided_bound, samples_needed
from safety_harness.metrics.group_bounds import GroupedBound, group_bound, group_events_to_block, groups_needed

DIRECTIONS = (">=", "<=")


class Verdict(str, enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    INSUFFICIENT_EVIDENCE = "insufficient_evidence"
    NOT_APPLICABLE = "not_applicable"

    @property
    def blocks_release(self) -> bool:
        return self in (Verdict.FAIL, Verdict.INSUFFICIENT_EVIDENCE)


class SamplesNeeded(str, enum.Enum):
    """What can be said about the sample size that would decide an ``insufficient_evidence`` judgement."""

    #: the smallest deciding sample size at the observed error count is ``Judgement.samples_needed``
    COMPUTED = "computed"
    #: no sample size can decide it at the observed error count (a floor of 1: the lower bound never reaches it)
    IMPOSSIBLE = "impossible"
    #: the bound's method gives no sample size (a bootstrap or distance bound)
    NOT_DEFINED = "not_defined"


@dataclass(frozen=True)
class Judgement:
    """The verdict with everything it was decided on."""

    verdict: Verdict
    value: float
    bound: float
    threshold: float
    direction: str
    confidence: float
    #: set for ``insufficient_evidence`` only: whether a deciding sample size exists, and which
    samples_needed_status: SamplesNeeded | None = None
    #: images, or independent groups where ``grouped`` is set
    samples_needed: int | None = None
    #: for a rate judged over groups of dependent images: the group-aware bound (``bound``) with the
    #: image-level one, the effective sample size and the intra-class correlation it used
    grouped: GroupedBound | None = None
    #: for a passing rate: the fewest further adverse events (of the same samples) that turn the pass into a
    #: block; None: no count can, or not a rate
    events_to_block: int | None = None

    @property
    def margin(self) -> float:
        """How far the bound clears the threshold (negative: it does not)."""
        return self.bound - self.threshold if self.direction == ">=" else self.threshold - self.bound


def _meets(value: float, threshold: float, direction: str) -> bool:
    return value >= threshold if direction == ">=" else value <= threshold


def judge_bound(value: float, bound: float, threshold: float, direction: str, confidence: float) -> Judgement:
    """Verdict for any metric with a point estimate and a one-sided bound (e.g. a bootstrap bound).

    The bound's method gives no sample size: an ``insufficient_evidence`` judgement says so
    (``SamplesNeeded.NOT_DEFINED``).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if math.isnan(value):
        verdict = Verdict.INSUFFICIENT_EVIDENCE
    elif not _meets(value, threshold, direction):
        verdict = Verdict.FAIL
    elif _meets(bound, threshold, direction):
        verdict = Verdict.PASS
    else:
        verdict = Verdict.INSUFFICIENT_EVIDENCE
    status = SamplesNeeded.NOT_DEFINED if verdict is Verdict.INSUFFICIENT_EVIDENCE else None
    return Judgement(verdict, value, bound, threshold, direction, confidence, status)


def judge_proportion(successes: int, n: int, threshold: float, direction: str, confidence: float,
                     estimate: float | None = None) -> Judgement:
    """Verdict for a rate ``successes / n`` on its exact Clopper–Pearson bound.

    ``estimate`` replaces ``successes / n`` as the point estimate when the rate only bounds the
    metric conservatively (an accuracy drop is at most the share of samples lost): the bound, and
    the sample size that would decide it at the observed count, are still the rate's. With
    ``n = 0`` there is no evidence: ``insufficient_evidence``.
    """
    value = (successes / n if n else float("nan")) if estimate is None else estimate
    bound = one_sided_bound(successes, n, direction, confidence)
    judgement = judge_bound(value, bound, threshold, direction, confidence)
    if judgement.verdict is Verdict.INSUFFICIENT_EVIDENCE:
        needed = samples_needed(successes, n, threshold, direction, confidence)
        status = SamplesNeeded.IMPOSSIBLE if needed is None else SamplesNeeded.COMPUTED
        judgement = dataclasses.replace(judgement, samples_needed_status=status, samples_needed=needed)
    if judgement.verdict is Verdict.PASS:
        judgement = dataclasses.replace(
            judgement, events_to_block=events_to_block(successes, n, threshold, direction, confidence))
    return judgement


def judge_grouped_proportion(outcomes, groups, threshold: float, direction: str, confidence: float,
                             estimate: float | None = None) -> Judgement:
    """Verdict for the rate of ``outcomes`` (booleans, True a success) over samples in ``groups`` (a group
    id per sample) on its group-aware bound (:func:`safety_harness.metrics.group_bounds.group_bound`);
    ``estimate`` as for :func:`judge_proportion`. An ``insufficient_evidence`` judgement gives the number
    of independent groups that would decide it (``samples_needed``)."""
    grouped = group_bound(outcomes, groups, direction, confidence)
    value = (grouped.successes / grouped.n if grouped.n else float("nan")) if estimate is None else estimate
    judgement = dataclasses.replace(judge_bound(value, grouped.bound, threshold, direction, confidence),
                                    grouped=grouped)
    if judgement.verdict is Verdict.INSUFFICIENT_EVIDENCE:
        needed = groups_needed(grouped, threshold)
        status = SamplesNeeded.IMPOSSIBLE if needed is None else SamplesNeeded.COMPUTED
        judgement = dataclasses.replace(judgement, samples_needed_status=status, samples_needed=needed)
    if judgement.verdict is Verdict.PASS:
        judgement = dataclasses.replace(judgement, events_to_block=group_events_to_block(grouped, threshold))
    return judgement
