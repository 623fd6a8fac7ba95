"""Separating out-of-distribution from in-distribution scores.

Convention: a detector's score is higher for inputs it finds more out-of-distribution, and
out-of-distribution is the positive class.
"""

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, rankdata

from safety_harness.metrics.bounds import clopper_pearson_lower, clopper_pearson_upper
from safety_harness.metrics.classification import Proportion


def _scores(name, scores):
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0 or not np.isfinite(scores).all():
        raise ValueError(f"{name} must be a non-empty array of finite scores")
    return scores


def auroc(scores_in, scores_out) -> float:
    """Area under the ROC curve = P(score_out > score_in) + P(tie) / 2 = U / (n_in n_out).

    U is the Mann–Whitney statistic of the out-of-distribution scores, from mid-ranks
    (Hanley & McNeil, Radiology 143, 1982).
    """
    scores_in, scores_out = _scores("scores_in", scores_in), _scores("scores_out", scores_out)
    ranks = rankdata(np.concatenate([scores_in, scores_out]))
    u = ranks[scores_in.size:].sum() - scores_out.size * (scores_out.size + 1) / 2
    return float(u / (scores_in.size * scores_out.size))


@dataclass(frozen=True)
class AurocInterval:
    """AUROC with its DeLong standard error and the one-sided normal bound a requirement is judged on."""

    auroc: float
    standard_error: float
    bound: float


def auroc_delong(scores_in, scores_out, direction: str = ">=", confidence: float = 0.95) -> AurocInterval:
    """AUROC and its one-sided bound from DeLong's variance, in closed form (no resampling).

    With the placement values ``V_out,i = (R_i - r_i) / n_in`` (the share of in-distribution scores
    below out-of-distribution score ``i``, ties counting one half; ``R_i`` its mid-rank among all
    scores, ``r_i`` among the out-of-distribution ones) and ``V_in,j = 1 - (R_j - r_j) / n_out``,
    ``Var(AUROC) = s^2(V_out) / n_out + s^2(V_in) / n_in`` (sample variances). The bound is
    ``AUROC - z SE`` for a floor (``direction=">="``), ``AUROC + z SE`` for a ceiling, with ``z``
    the standard normal's ``confidence`` quantile, clipped to [0, 1]. Where the variance estimate is 0
    (every pair ranked alike: perfect separation or its reverse), the bound is the exact
    Clopper–Pearson bound of ``min(n_in, n_out)`` disjoint pairs, each an independent trial. With fewer than two scores on
    a side there is no variance: the standard error is infinite and the bound the uninformative 0 or 1.

    References: E. R. DeLong, D. M. DeLong, D. L. Clarke-Pearson, "Comparing the areas under two
    or more correlated receiver operating characteristic curves: a nonparametric approach",
    Biometrics 44 (1988); X. Sun, W. Xu, "Fast implementation of DeLong's algorithm", IEEE Signal
    Processing Letters 21 (2014) (the mid-rank form used here).
    """
    scores_in, scores_out = _scores("scores_in", scores_in), _scores("scores_out", scores_out)
    if direction not in (">=", "<="):
        raise ValueError(f"direction must be '>=' or '<=', got {direction!r}")
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence!r}")
    n_in, n_out = scores_in.size, scores_out.size
    ranks = rankdata(np.concatenate([scores_in, scores_out]))
    placement_out = (ranks[n_in:] - rankdata(scores_out)) / n_in
    placement_in = 1 - (ranks[:n_in] - rankdata(scores_in)) / n_out
    area = float(placement_out.mean())
    if min(n_in, n_out) < 2:  # no variance from one score: the bound says nothing
        return AurocInterval(area, float("inf"), 0.0 if direction == ">=" else 1.0)
    error = float(np.sqrt(placement_out.var(ddof=1) / n_out + placement_in.var(ddof=1) / n_in))
    if error == 0:
        return AurocInterval(area, error, _disjoint_pairs_bound(area, min(n_in, n_out), direction, confidence))
    shift = norm.ppf(confidence) * error
    return AurocInterval(area, error, float(np.clip(area - shift if direction == ">=" else area + shift, 0, 1)))


def _disjoint_pairs_bound(area: float, pairs: int, direction: str, confidence: float) -> float:
    """The exact bound of ``m`` disjoint (in, out) pairs: independent trials that each rank out above in
    with probability AUROC, ``area * m`` of them observed to (Clopper–Pearson). Where every pair agrees
    (perfect separation, or its reverse) DeLong's variance is 0 and would claim certainty at any size."""
    successes = int(round(area * pairs))
    if direction == ">=":
        return clopper_pearson_lower(successes, pairs, confidence)
    return clopper_pearson_upper(successes, pairs, confidence)


def fpr_at_tpr(scores_in, scores_out, tpr: float = 0.95) -> float:
    """False-alarm rate on in-distribution inputs at the threshold that raises the alarm on a
    share ``tpr`` of the out-of-distribution inputs (alarm: score >= threshold)."""
    scores_in, scores_out = _scores("scores_in", scores_in), _scores("scores_out", scores_out)
    if not 0 < tpr <= 1:
        raise ValueError(f"tpr must be in (0, 1], got {tpr}")
    threshold = np.sort(scores_out)[::-1][int(np.ceil(tpr * scores_out.size)) - 1]
    return float(np.mean(scores_in >= threshold))


def alarm_rate(scores, threshold: float) -> Proportion:
    """Share of inputs whose score exceeds ``threshold`` (the alarm fires on ``score > threshold``)."""
    scores = _scores("scores", scores)
    alarms = scores > threshold
    return Proportion(int(alarms.sum()), alarms.size, np.ones(alarms.size, bool), alarms)
