"""Seeded percentile-bootstrap bounds for statistics with no exact interval (ECE, MCE, AUROC).

A statistic ``T`` of one or more samples is recomputed on ``n_resamples`` resamples, each sample
(a *stratum*) drawn with replacement from itself alone and at its own size; the one-sided bound
that a requirement ``T <direction> threshold`` is judged on is the ``1 - confidence`` quantile of
the resampled statistics for a floor (``>=``) and the ``confidence`` quantile for a ceiling
(``<=``). Calibration statistics resample (probability, label) pairs as one stratum; AUROC
resamples in- and out-of-distribution scores separately, so each resample keeps both set sizes.

Reference: B. Efron and R. J. Tibshirani, "An Introduction to the Bootstrap", Chapman & Hall
1993, ch. 13 (percentile intervals).
"""

import numpy as np

#: resamples of every bootstrap bound unless the run says otherwise (RunOptions.bootstrap_resamples)
DEFAULT_RESAMPLES = 1000
#: fewer resamples make the tail quantile a bound itself too noisy to judge on
MIN_RESAMPLES = 100
_DIRECTIONS = (">=", "<=")


def _check_strata(strata) -> list[tuple[np.ndarray, ...]]:
    checked = []
    for stratum in strata:
        arrays = tuple(np.asarray(array) for array in stratum)
        sizes = {array.shape[0] if array.ndim else None for array in arrays}
        if not arrays or len(sizes) != 1 or None in sizes or 0 in sizes:
            raise ValueError("strata must be non-empty sequences of non-empty arrays, the arrays of a stratum "
                             f"of one length, got lengths {sorted(map(str, sizes))}")
        checked.append(arrays)
    if not checked:
        raise ValueError("strata must hold at least one stratum")
    return checked


def _check_bound(direction, confidence, n_resamples):
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence!r}")
    if n_resamples < MIN_RESAMPLES:
        raise ValueError(f"n_resamples must be >= {MIN_RESAMPLES}, got {n_resamples}")


def _quantile(values, direction, confidence) -> float:
    return float(np.quantile(values, confidence if direction == "<=" else 1 - confidence))


def bootstrap_bound(statistic, strata, direction: str, confidence: float = 0.95,
                    n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> float:
    """One-sided percentile-bootstrap bound of ``statistic(*arrays of every stratum, in order)``.

    ``strata`` is a sequence of strata, each a tuple of arrays of one length resampled together
    (the same drawn rows of each). A resample draws, stratum by stratum, ``n_s`` row indices
    uniformly with replacement from a generator seeded with ``seed``; one resample is held at a
    time, so memory stays O(n), not O(n * n_resamples).
    """
    strata = _check_strata(strata)
    _check_bound(direction, confidence, n_resamples)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_resamples):
        resampled = []
        for arrays in strata:
            rows = rng.integers(0, arrays[0].shape[0], arrays[0].shape[0])
            resampled.extend(array[rows] for array in arrays)
        values.append(statistic(*resampled))
    return _quantile(values, direction, confidence)


#: row indices drawn per batch of a batched bootstrap: bounds its memory whatever the sample size
_BATCH_DRAWS = 1 << 20


def batched_bootstrap_bound(statistic_of_rows, n: int, direction: str, confidence: float = 0.95,
                            n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> float:
    """The bound of :func:`bootstrap_bound` for one stratum of ``n`` rows, with the statistic
    evaluated on many resamples at once: ``statistic_of_rows(rows)`` takes a ``(k, n)`` array of
    row indices (one resample a row, drawn uniformly with replacement) and returns the ``k``
    statistics. Batches hold about :data:`_BATCH_DRAWS` indices, so memory stays bounded."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    _check_bound(direction, confidence, n_resamples)
    rng = np.random.default_rng(seed)
    batch = max(1, _BATCH_DRAWS // n)
    values = [statistic_of_rows(rng.integers(0, n, (min(batch, n_resamples - start), n)))
              for start in range(0, n_resamples, batch)]
    return _quantile(np.concatenate(values), direction, confidence)


def group_bootstrap_bound(statistic_of_rows, groups, direction: str, confidence: float = 0.95,
                          n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> float:
    """The bound of :func:`batched_bootstrap_bound` for rows in groups of dependent rows (``groups``: a group id
    per row), resampling whole groups (the cluster bootstrap): a resample draws as many groups as there are,
    uniformly with replacement, and holds every row of each drawn group, so its length varies;
    ``statistic_of_rows`` gets each resample as a ``(1, length)`` array of row indices. Where every group
    holds one row this is the image bootstrap (drawn from another stream).

    Reference: A. C. Davison and D. V. Hinkley, "Bootstrap Methods and their Application", Cambridge
    University Press 1997, §3.8 (hierarchical data: resample the top-level units).
    """
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.size == 0:
        raise ValueError(f"groups must be a non-empty 1-D array, got shape {groups.shape}")
    _check_bound(direction, confidence, n_resamples)
    order = np.argsort(groups, kind="stable")
    _, starts, sizes = np.unique(groups[order], return_index=True, return_counts=True)
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    for resample in range(n_resamples):
        drawn = rng.integers(0, sizes.size, sizes.size)
        lengths = sizes[drawn]
        # row j of a drawn group's block is order[start + j]: each block's offset, repeated along it
        offsets = np.repeat(starts[drawn] - (np.cumsum(lengths) - lengths), lengths)
        values[resample] = statistic_of_rows((order[offsets + np.arange(lengths.sum())])[None, :])[0]
    return _quantile(values, direction, confidence)
