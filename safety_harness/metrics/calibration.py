"""Calibration: does the model's confidence mean what it says?

All functions take ``probabilities`` (n_samples, n_classes), rows summing to 1, and integer
``labels`` (n_samples,). The top-label confidence of a sample is ``max_k p_k``; it is
"correct" when its arg-max equals the label.

References: Naeini, Cooper, Hauskrecht, "Obtaining Well Calibrated Probabilities Using Bayesian
Binning", AAAI 2015 (ECE, MCE); Guo, Pleiss, Sun, Weinberger, "On Calibration of Modern Neural
Networks", ICML 2017 (equal-width ECE); Nixon et al., "Measuring
Calibration in Deep Learning", CVPR Workshops 2019 (equal-mass bins, class-wise ECE);
Brier, Monthly Weather Review 78 (1950).
"""

from dataclasses import dataclass

import numpy as np

BINNINGS = ("equal_width", "equal_mass")


def _check(probabilities, labels):
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or probabilities.shape[0] == 0:
        raise ValueError(f"probabilities must be a non-empty 2-D array, got shape {probabilities.shape}")
    if labels.shape != (probabilities.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class ids of shape ({probabilities.shape[0]},), "
                         f"got {labels.dtype} {labels.shape}")
    if labels.min() < 0 or labels.max() >= probabilities.shape[1]:
        raise ValueError(f"labels must be in [0, {probabilities.shape[1]}), got {labels.min()}..{labels.max()}")
    return probabilities, labels


def _bin_ids(confidence, n_bins, binning):
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if binning == "equal_width":
        # bins (0, 1/B], (1/B, 2/B], ...: a confidence of exactly 1 falls in the last bin
        return np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    if binning == "equal_mass":
        order = np.argsort(confidence, kind="stable")
        ids = np.empty(confidence.size, dtype=int)
        ids[order] = np.arange(confidence.size) * n_bins // confidence.size
        return ids
    raise ValueError(f"binning must be one of {BINNINGS}, got {binning!r}")


@dataclass(frozen=True)
class ReliabilityBins:
    """Per bin: edges of the confidences in it, sample count, mean confidence, accuracy."""

    lower: np.ndarray
    upper: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def gaps(self) -> np.ndarray:
        return np.abs(self.accuracy - self.confidence)


def _reliability(confidence, correct, n_bins, binning) -> ReliabilityBins:
    ids = _bin_ids(confidence, n_bins, binning)
    count = np.bincount(ids, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(ids, confidence, n_bins) / count
        accuracy = np.bincount(ids, correct, n_bins) / count
    if binning == "equal_width":
        lower, upper = np.arange(n_bins) / n_bins, np.arange(1, n_bins + 1) / n_bins
    else:
        lower = np.array([confidence[ids == b].min() if count[b] else np.nan for b in range(n_bins)])
        upper = np.array([confidence[ids == b].max() if count[b] else np.nan for b in range(n_bins)])
    return ReliabilityBins(lower, upper, count, mean_confidence, accuracy)


def reliability_bins(probabilities, labels, n_bins: int = 15, binning: str = "equal_width") -> ReliabilityBins:
    """The reliability diagram's data for the top-label confidence: per bin of ``max_k p_k``, the
    share of samples whose arg-max is their label."""
    probabilities, labels = _check(probabilities, labels)
    return _reliability(probabilities.max(axis=1), (probabilities.argmax(axis=1) == labels).astype(float),
                        n_bins, binning)


def classwise_reliability_bins(probabilities, labels, class_id: int, n_bins: int = 15,
                               binning: str = "equal_width") -> ReliabilityBins:
    """The one-vs-rest reliability diagram's data of one class: per bin of ``p_class``, the share
    of samples of that class (the bins' "confidence" is the mean ``p_class``, their "accuracy"
    the observed frequency of the class)."""
    probabilities, labels = _check(probabilities, labels)
    if not 0 <= class_id < probabilities.shape[1]:
        raise ValueError(f"class_id must be in [0, {probabilities.shape[1]}), got {class_id}")
    return _reliability(probabilities[:, class_id], (labels == class_id).astype(float), n_bins, binning)


def _ece(bins: ReliabilityBins) -> float:
    used = bins.count > 0
    return float(np.sum(bins.count[used] * bins.gaps[used]) / bins.count.sum())


def _mce(bins: ReliabilityBins) -> float:
    return float(bins.gaps[bins.count > 0].max())


def expected_calibration_error(probabilities, labels, n_bins: int = 15, binning: str = "equal_width") -> float:
    """``ECE = sum_b |B_b| / n * |acc(B_b) - conf(B_b)|`` over bins of the top-label confidence."""
    return _ece(reliability_bins(probabilities, labels, n_bins, binning))


def maximum_calibration_error(probabilities, labels, n_bins: int = 15, binning: str = "equal_width") -> float:
    """``MCE = max_b |acc(B_b) - conf(B_b)|`` over the non-empty bins."""
    return _mce(reliability_bins(probabilities, labels, n_bins, binning))


def classwise_ece(probabilities, labels, class_id: int, n_bins: int = 15, binning: str = "equal_width") -> float:
    """One-vs-rest ECE of one class: ``sum_b |B_b| / n * |freq_b(class) - mean_b(p_class)|`` over bins
    of ``p_class`` (Nixon et al. 2019)."""
    return _ece(classwise_reliability_bins(probabilities, labels, class_id, n_bins, binning))


CALIBRATION_METRICS = ("ece", "mce")


@dataclass(frozen=True)
class CalibrationStatistic:
    """A calibration requirement's statistic, callable as ``statistic(probabilities, labels)``,
    with the reliability bins it is computed from.

    ``metric`` ``"ece"`` or ``"mce"`` over the top-label confidence; with ``class_id`` (ECE only)
    the class-wise, one-vs-rest ECE of that class.
    """

    metric: str
    n_bins: int = 15
    binning: str = "equal_width"
    class_id: int | None = None

    def __post_init__(self):
        if self.metric not in CALIBRATION_METRICS:
            raise ValueError(f"metric must be one of {CALIBRATION_METRICS}, got {self.metric!r}")
        if self.metric == "mce" and self.class_id is not None:
            raise ValueError("class_id must be None for mce: class-wise calibration is measured by ECE")

    def reliability(self, probabilities, labels) -> ReliabilityBins:
        """The bins the statistic is computed from: one-vs-rest for a class, else top-label."""
        if self.class_id is None:
            return reliability_bins(probabilities, labels, self.n_bins, self.binning)
        return classwise_reliability_bins(probabilities, labels, self.class_id, self.n_bins, self.binning)

    def __call__(self, probabilities, labels) -> float:
        bins = self.reliability(probabilities, labels)
        return _mce(bins) if self.metric == "mce" else _ece(bins)

    def on_resamples(self, probabilities, labels, rows) -> np.ndarray:
        """The statistic of each resample ``probabilities[r], labels[r]`` for the rows ``r`` of the
        ``(k, n)`` index array ``rows``, through per-bin sums (one ``bincount`` for all resamples):
        ``ECE = sum_b |sum_{i in b} (correct_i - conf_i)| / n``, ``MCE = max_b |...| / |B_b|``.
        Equal-width bins are fixed per sample; equal-mass bins cut each resample's sorted scores
        into ``n_bins`` runs of (almost) equal length, as :func:`reliability_bins` does."""
        probabilities, labels = _check(probabilities, labels)
        if self.class_id is None:
            scores, outcomes = probabilities.max(axis=1), (probabilities.argmax(axis=1) == labels).astype(float)
        elif 0 <= self.class_id < probabilities.shape[1]:
            scores, outcomes = probabilities[:, self.class_id], (labels == self.class_id).astype(float)
        else:
            raise ValueError(f"class_id must be in [0, {probabilities.shape[1]}), got {self.class_id}")
        rows = np.asarray(rows)
        if rows.ndim != 2 or not np.issubdtype(rows.dtype, np.integer):
            raise ValueError(f"rows must be a 2-D integer array of row indices, got {rows.dtype} {rows.shape}")
        k, n = rows.shape
        if self.binning == "equal_mass":
            # each resample in ascending score order, ties in resample order as reliability_bins breaks them
            # (saturated confidences tie, and a tie cut by a bin edge moves the bins' gaps)
            rows = np.take_along_axis(rows, np.argsort(scores[rows], axis=1, kind="stable"), axis=1)
            bins = np.broadcast_to(np.arange(n) * self.n_bins // n, (k, n))
        else:
            bins = _bin_ids(scores, self.n_bins, self.binning)[rows]
        flat = (np.arange(k)[:, None] * self.n_bins + bins).ravel()
        count = np.bincount(flat, minlength=k * self.n_bins).reshape(k, self.n_bins)
        gap = np.abs(np.bincount(flat, (outcomes - scores)[rows].ravel(), k * self.n_bins)).reshape(k, self.n_bins)
        if self.metric == "ece":
            return gap.sum(axis=1) / n
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nanmax(np.where(count > 0, gap / count, np.nan), axis=1)


def brier_score(probabilities, labels) -> float:
    """``mean_i sum_k (p_ik - [y_i = k])^2``."""
    probabilities, labels = _check(probabilities, labels)
    onehot = np.zeros_like(probabilities)
    onehot[np.arange(labels.size), labels] = 1
    return float(np.mean(np.sum((probabilities - onehot) ** 2, axis=1)))


def negative_log_likelihood(probabilities, labels, eps: float = 1e-12) -> float:
    """``-mean_i log p_i,y_i``, with probabilities clipped at ``eps`` so a confident miss stays finite."""
    probabilities, labels = _check(probabilities, labels)
    return float(-np.mean(np.log(np.clip(probabilities[np.arange(labels.size), labels], eps, 1))))
