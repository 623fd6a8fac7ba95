"""Verdicts that respect sample size.

A requirement ``metric <direction> threshold`` is judged on a one-sided bound:

- ``pass``: the bound clears the threshold;
- ``fail``: the point estimate itself misses the threshold;
- ``insufficient_evidence``: the estimate clears it but the bound does not —
  too few samples to decide, never a pass;
- ``not_applicable``: the requirement cannot be evaluated on this data (e.g. no labels).
"""

import dataclasses
import enum
import math
from dataclasses import dataclass

from safety_harness.metrics.bounds import one_sided_bound, samples_needed

DIRECTIONS = (">=", "<=")


class Verdict(str, enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    INSUFFICIENT_EVIDENCE = "insufficient_evidence"
    NOT_APPLICABLE = "not_applicable"

    @property
    def blocks_release(self) -> bool:
        return self in (Verdict.FAIL, Verdict.INSUFFICIENT_EVIDENCE)


@dataclass(frozen=True)
class Judgement:
    """The verdict with everything it was decided on."""

    verdict: Verdict
    value: float
    bound: float
    threshold: float
    direction: str
    confidence: float
    samples_needed: int | None = None

    @property
    def margin(self) -> float:
        """How far the bound clears the threshold (negative: it does not)."""
        return self.bound - self.threshold if self.direction == ">=" else self.threshold - self.bound


def _meets(value: float, threshold: float, direction: str) -> bool:
    return value >= threshold if direction == ">=" else value <= threshold


def judge_bound(value: float, bound: float, threshold: float, direction: str, confidence: float) -> Judgement:
    """Verdict for any metric with a point estimate and a one-sided bound (e.g. a bootstrap bound)."""
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
    return Judgement(verdict, value, bound, threshold, direction, confidence)


def judge_proportion(successes: int, n: int, threshold: float, direction: str, confidence: float) -> Judgement:
    """Verdict for a rate ``successes / n`` on its exact Clopper–Pearson bound.

    With ``n = 0`` there is no evidence: ``insufficient_evidence``.
    """
    value = successes / n if n else float("nan")
    bound = one_sided_bound(successes, n, direction, confidence)
    judgement = judge_bound(value, bound, threshold, direction, confidence)
    if judgement.verdict is Verdict.INSUFFICIENT_EVIDENCE:
        needed = samples_needed(successes, n, threshold, direction, confidence)
        judgement = dataclasses.replace(judgement, samples_needed=needed)
    return judgement
