"""Separating out-of-distribution from in-distribution scores.

Convention: a detector's score is higher for inputs it finds more out-of-distribution, and
out-of-distribution is the positive class.
"""

import numpy as np
from scipy.stats import rankdata

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
