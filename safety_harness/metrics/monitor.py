"""The safety architecture as one system: the classifier and its runtime monitor.

An input whose monitor score exceeds the alarm threshold goes to the fallback (the vehicle slows
and hands over); any other input is *accepted* and its prediction acted upon. The hazard that
remains is a misclassification the monitor accepts, a *silent failure*; the price is the share of
normal inputs the monitor rejects. Scores follow metrics/ranking.py: higher is more unusual, and
the alarm fires on ``score > threshold``.

Reference: Y. Geifman and R. El-Yaniv, "Selective classification for deep neural networks",
NeurIPS 2017 (coverage, selective risk and the risk-coverage curve).
"""

from dataclasses import dataclass

import numpy as np

from safety_harness.metrics.classification import Proportion, _check_labels


def _check_scores(scores, size: int | None = None) -> np.ndarray:
    """``scores`` as floats: 1-D, finite, and ``size`` of them when given (one per sample)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or (size is not None and scores.size != size):
        raise ValueError(f"scores must be 1-D with one score per sample ({size}), got shape {scores.shape}"
                         if size is not None else f"scores must be 1-D, got shape {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    return scores


def _check_threshold(threshold) -> float:
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    return float(threshold)


@dataclass(frozen=True)
class SilentFailures:
    """``rate``: images of the class misclassified with no alarm, out of the class's images;
    ``misclassified`` of them were misclassified in all, ``caught`` of those raised the alarm."""

    rate: Proportion
    misclassified: int
    caught: int


def silent_failure_rate(labels, predictions, scores, threshold: float, class_id: int) -> SilentFailures:
    """Share of samples of ``class_id`` that are misclassified AND accepted by the monitor:
    ``#{y = c, ŷ ≠ y, score ≤ threshold} / #{y = c}``, the hazard left with the monitor in place."""
    labels, predictions = _check_labels(labels, predictions)
    scores, threshold = _check_scores(scores, labels.size), _check_threshold(threshold)
    population, wrong, alarm = labels == class_id, predictions != labels, scores > threshold
    rate = Proportion(int(np.count_nonzero(population & wrong & ~alarm)), int(np.count_nonzero(population)),
                      population, wrong & ~alarm)
    return SilentFailures(rate, int(np.count_nonzero(population & wrong)),
                          int(np.count_nonzero(population & wrong & alarm)))


def coverage(scores, threshold: float) -> Proportion:
    """Share of inputs the monitor accepts (``score ≤ threshold``): ``#{score ≤ threshold} / n``.
    On in-distribution data, what the monitor leaves the classifier to act upon."""
    scores, threshold = _check_scores(scores), _check_threshold(threshold)
    accepted = scores <= threshold
    return Proportion(int(np.count_nonzero(accepted)), accepted.size, np.ones(accepted.size, bool), accepted)


def selective_risk(labels, predictions, scores, threshold: float) -> Proportion:
    """Error rate among the samples the monitor accepts: ``#{score ≤ threshold, ŷ ≠ y} / #{score ≤ threshold}``."""
    labels, predictions = _check_labels(labels, predictions)
    scores, threshold = _check_scores(scores, labels.size), _check_threshold(threshold)
    accepted, wrong = scores <= threshold, predictions != labels
    return Proportion(int(np.count_nonzero(accepted & wrong)), int(np.count_nonzero(accepted)), accepted, wrong)


@dataclass(frozen=True)
class RiskCoverageCurve:
    """At each distinct score taken as the threshold (ascending): ``coverage``, the share of samples
    accepted, and ``selective_risk``, the error rate among them."""

    thresholds: np.ndarray
    coverage: np.ndarray
    selective_risk: np.ndarray


def risk_coverage_curve(labels, predictions, scores) -> RiskCoverageCurve:
    """Coverage and selective risk as the threshold moves over the observed scores.

    With the samples sorted by score, at threshold ``t``: ``coverage(t) = #{score ≤ t} / n`` and
    ``risk(t) = #{score ≤ t, ŷ ≠ y} / #{score ≤ t}``. Coverage rises with ``t`` to 1, where the risk
    is the classifier's error rate; a monitor that ranks errors high keeps the risk low at low coverage.
    """
    labels, predictions = _check_labels(labels, predictions)
    scores = _check_scores(scores, labels.size)
    if not labels.size:
        raise ValueError("labels must not be empty")
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    errors = np.cumsum(predictions[order] != labels[order])
    # the last of each run of tied scores: a threshold accepts all of a tie or none of it
    last = np.flatnonzero(np.append(sorted_scores[1:] != sorted_scores[:-1], True))
    accepted = last + 1
    return RiskCoverageCurve(sorted_scores[last], accepted / labels.size, errors[last] / accepted)
