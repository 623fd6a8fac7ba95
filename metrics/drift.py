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


def ks_drift(reference_scores, ingest_scores) -> DriftTest:
    reference_scores = np.asarray(reference_scores, dtype=np.float64).ravel()
    ingest_scores = np.asarray(ingest_scores, dtype=np.float64).ravel()
    for name, scores in (("reference_scores", reference_scores), ("ingest_scores", ingest_scores)):
        if scores.size == 0:
            raise ValueError(f"{name} must not be empty")
    result = ks_2samp(reference_scores, ingest_scores, method="auto")
    return DriftTest(float(result.statistic), float(result.pvalue), reference_scores.size, ingest_scores.size)
