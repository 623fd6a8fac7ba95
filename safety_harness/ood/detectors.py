"""OOD detectors: each maps a model's outputs on an image to a score, higher = more out-of-distribution.

The alarm fires when the score exceeds a threshold fitted on in-distribution reference data
to a target false-alarm rate (:func:`fit_threshold`).
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import logsumexp

from safety_harness.metrics.ensemble import disagreement

if TYPE_CHECKING:
    from safety_harness.ood.mc_dropout import McDropoutScores


@dataclass(frozen=True)
class DetectorInputs:
    """What detectors read: the model's probabilities, logits (or None), penultimate features (or None),
    small copies of the input images (or None; see :func:`ood.reconstruction.appearance`), an
    ensemble's member probabilities (n, members, classes; None for a single model) and the scores
    of MC dropout passes (or None; see :mod:`ood.mc_dropout`)."""

    probabilities: np.ndarray
    logits: np.ndarray | None = None
    features: np.ndarray | None = None
    images: np.ndarray | None = None
    member_probabilities: np.ndarray | None = None
    mc_dropout: "McDropoutScores | None" = None


#: the blind spot of every detector that reads the classifier's outputs only
OUTPUT_BLIND_SPOT = ("reads only the classifier's outputs: an unknown input the classifier maps onto a class with "
                     "confidence raises no alarm, so it shares the classifier's blind spots")


class Detector:
    name = ""
    description = ""
    reference = ""

    #: fitting trains a network: worth keeping the fitted state in the persistent cache
    costly_fit = False
    #: reads the scores of MC dropout passes, which only a model with Dropout layers gives
    needs_mc_dropout = False
    #: reads the images only, never the classifier's outputs (a second opinion beside the classifier)
    classifier_independent = False
    #: what the detector is known not to notice, for the report's limitations
    blind_spot = ""

    def fit(self, reference: DetectorInputs, labels: np.ndarray) -> "Detector":
        return self

    def state(self) -> list[np.ndarray]:
        """The fitted state as arrays (detectors with ``costly_fit``)."""
        raise NotImplementedError

    def restore(self, state: list[np.ndarray]) -> "Detector":
        """The detector as fitted, from :meth:`state`."""
        raise NotImplementedError

    def unavailable_reason(self, inputs: DetectorInputs) -> str | None:
        return None

    def score(self, inputs: DetectorInputs) -> np.ndarray:
        raise NotImplementedError


class MaxSoftmax(Detector):
    """``1 - max_k p_k``: an unsure model raises the alarm."""

    name = "msp"
    description = "maximum softmax probability (score = 1 - max p)"
    reference = "Hendrycks & Gimpel, ICLR 2017"
    blind_spot = OUTPUT_BLIND_SPOT

    def score(self, inputs):
        return 1.0 - inputs.probabilities.max(axis=1)


class Energy(Detector):
    """``-logsumexp(logits)`` (temperature 1). Without logits, ``log p`` is used: logsumexp of
    log-probabilities is 0, so the score falls back to ``-max log p`` (the log of MSP's confidence),
    and the report says so."""

    name = "energy"
    description = "energy score -logsumexp(logits)"
    reference = "Liu, Wang, Owens, Li, NeurIPS 2020"
    blind_spot = OUTPUT_BLIND_SPOT

    def source(self, inputs) -> str:
        return "logits" if inputs.logits is not None else "log-probabilities (no logits: -max log p)"

    def score(self, inputs):
        if inputs.logits is not None:
            return -logsumexp(inputs.logits.astype(np.float64), axis=1)
        return -np.log(np.clip(inputs.probabilities.max(axis=1).astype(np.float64), 1e-12, 1))


#: feature rows the Mahalanobis detector scores at a time: its float64 copies of a block (three of them, 8 MiB each
#: for 256 features) stay the same size whatever the ingest's; all rows at once were about 300 MiB at 50,520 images
#: (the GTSRB test set repeated 4x: the run's peak fell from 1,641 to 1,616 MiB, the rest of it is elsewhere)
SCORED_ROWS = 4096


class Mahalanobis(Detector):
    """Smallest Mahalanobis distance of the penultimate features to a class mean, with one covariance
    shared by all classes (regularised by 1e-3 of its mean variance)."""

    name = "mahalanobis"
    description = "class-conditional Mahalanobis distance on penultimate features"
    reference = "Lee, Lee, Lee, Shin, NeurIPS 2018"
    blind_spot = ("reads the classifier's penultimate features: an unknown input whose features fall near a "
                  "class's mean raises no alarm, so it shares the features' blind spots")

    def unavailable_reason(self, inputs):
        if inputs.features is not None:
            return None
        if inputs.member_probabilities is not None:
            return ("an ensemble has no single penultimate layer: its members' feature spaces differ in size and "
                    "meaning, and concatenating them would weigh each member by its layer's width")
        return "the model's penultimate features are not accessible"

    def fit(self, reference, labels):
        features = reference.features.astype(np.float64)
        classes = np.unique(labels)
        self.means = np.stack([features[labels == c].mean(axis=0) for c in classes])
        centred = features - self.means[np.searchsorted(classes, labels)]
        covariance = centred.T @ centred / len(features)
        covariance += np.eye(len(covariance)) * 1e-3 * np.trace(covariance) / len(covariance)
        # whitened once: with precision = W W^T, (x - m)^T precision (x - m) = |xW - mW|^2
        self.whitening = np.linalg.cholesky(np.linalg.inv(covariance))
        self.whitened_means = self.means @ self.whitening
        return self

    def score(self, inputs):
        features = inputs.features
        return np.concatenate([self._distances(features[start:start + SCORED_ROWS])
                               for start in range(0, len(features), SCORED_ROWS)] or [np.zeros(0)])

    def _distances(self, features):
        whitened = features.astype(np.float64) @ self.whitening
        squared = ((whitened ** 2).sum(axis=1)[:, None] - 2 * whitened @ self.whitened_means.T
                   + (self.whitened_means ** 2).sum(axis=1)[None, :])
        return np.sqrt(np.clip(squared.min(axis=1), 0, None))


class EnsembleDisagreement(Detector):
    """The mutual information of an ensemble's members, ``H(mean p) - mean H(p_m)``: the members' mean KL
    divergence from the ensemble's prediction (:func:`safety_harness.metrics.ensemble.disagreement`)."""

    name = "ensemble_disagreement"
    description = "disagreement of the ensemble's members (mutual information = mean KL from the ensemble)"
    reference = "Lakshminarayanan, Pritzel, Blundell, NeurIPS 2017"
    blind_spot = "an unknown input on which the members agree, right or wrong, raises no alarm"

    def unavailable_reason(self, inputs):
        if inputs.member_probabilities is None:
            return "the model is not an ensemble (give --model more than once)"
        return None

    def score(self, inputs):
        return disagreement(inputs.member_probabilities)


def fit_threshold(scores_in, target_false_alarm_rate: float) -> float:
    """Threshold whose alarm (``score > threshold``) fires on at most the target share of ``scores_in``.

    The threshold is the ``ceil((1 - target) n)``-th smallest in-distribution score, so the
    empirical false-alarm rate on the fitting data is <= the target.
    """
    scores = np.sort(np.asarray(scores_in, dtype=np.float64).ravel())
    if scores.size == 0:
        raise ValueError("scores_in must not be empty")
    if not 0 < target_false_alarm_rate < 1:
        raise ValueError(f"target_false_alarm_rate must be in (0, 1), got {target_false_alarm_rate}")
    rank = int(np.ceil((1 - target_false_alarm_rate) * scores.size))
    return float(scores[max(rank, 1) - 1])
