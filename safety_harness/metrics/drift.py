"""Drift of a new ingest from the reference: a two-sample test on detector scores."""

from dataclasses import dataclass

import numpy as np
from scipy.stats import ks_2samp


@dataclass(frozen=True)
class DriftTest:
    """Two-sample Kolmogorov–Smirnov test: ``statistic`` = sup |F_reference - F_ingest|; a small
    ``p_value`` says the ingest's scores are unlikely to come from the reference distribution."""

    statistic: float
    p_value: float
    n_reference: int
    n_ingest: int


#: equal-width bins of the score histogram a drift verdict is shown with
HISTOGRAM_BINS = 30


def score_histogram_edges(scores_a, scores_b, threshold: float, bins: int = HISTOGRAM_BINS) -> np.ndarray:
    """The ``bins + 1`` edges of equal-width bins shared by two score sets, spanning both and the alarm
    ``threshold`` (one unit wide when all three are one value)."""
    low = min(np.min(scores_a), np.min(scores_b), threshold)
    high = max(np.max(scores_a), np.max(scores_b), threshold)
    return np.linspace(low, high + (high == low), bins + 1)


def occupied_histogram_bins(scores_a, scores_b, threshold: float, bins: int = HISTOGRAM_BINS) -> int:
    """How many of the shared bins (:func:`score_histogram_edges`) hold any score of either set; 1: all
    the mass sits in one bin, and the histogram (and a distance between the sets) shows ties, not shapes."""
    edges = score_histogram_edges(scores_a, scores_b, threshold, bins)
    pooled = np.concatenate([np.asarray(scores_a, float).ravel(), np.asarray(scores_b, float).ravel()])
    return int(np.count_nonzero(np.histogram(pooled, edges)[0]))


def ks_drift(reference_scores, ingest_scores) -> DriftTest:
    reference_scores = np.asarray(reference_scores, dtype=np.float64).ravel()
    ingest_scores = np.asarray(ingest_scores, dtype=np.float64).ravel()
    for name, scores in (("reference_scores", reference_scores), ("ingest_scores", ingest_scores)):
        if scores.size == 0:
            raise ValueError(f"{name} must not be empty")
    result = ks_2samp(reference_scores, ingest_scores, method="auto")
    return DriftTest(float(result.statistic), float(result.pvalue), reference_scores.size, ingest_scores.size)


def ks_distance_upper_bound(drift: DriftTest, confidence: float = 0.95) -> float:
    """Upper confidence bound of the true distance sup |F - G| between the two distributions.

    By the Dvoretzky–Kiefer–Wolfowitz inequality with Massart's constant, each empirical CDF is
    within ``sqrt(ln(4 / alpha) / (2 n))`` of its distribution with probability >= 1 - alpha / 2,
    so the true distance is at most ``D + eps_reference + eps_ingest`` with probability
    >= ``confidence`` = 1 - alpha (Massart, Annals of Probability 18, 1990).
    """
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence}")
    alpha = 1 - confidence
    margin = sum(np.sqrt(np.log(4 / alpha) / (2 * n)) for n in (drift.n_reference, drift.n_ingest))
    return float(min(1.0, drift.statistic + margin))
