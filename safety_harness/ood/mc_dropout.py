"""MC dropout uncertainty: the spread of T stochastic forward passes, as two detector scores.

With the model's Dropout layers active and everything else in inference mode, each pass
``t = 1..T`` gives class probabilities ``p_t`` for an image (Gal & Ghahramani, ICML 2016). Two
scores, in nats, higher = more uncertain:

- ``mc_entropy``: the predictive entropy ``H[mean_t p_t]``, the total uncertainty of the averaged
  prediction;
- ``mc_mutual_information``: ``H[mean_t p_t] - mean_t H[p_t]``, the mutual information between the
  prediction and the network's weights (BALD; Houlsby, Huszár, Ghahramani, Lengyel 2011): the part
  of the uncertainty that comes from the passes disagreeing. It is 0 when every pass gives the same
  probabilities, however unsure each of them is.

The passes themselves are run by :mod:`safety_harness.run.mc_dropout`; here are the formulas and
the detectors that read their results.
"""

from dataclasses import dataclass

import numpy as np

from safety_harness.ood.detectors import OUTPUT_BLIND_SPOT, Detector

#: stochastic forward passes per image
MC_DROPOUT_PASSES = 20
_PROBABILITY_TOLERANCE = 1e-3


def _pass_probabilities(pass_probabilities) -> np.ndarray:
    """``pass_probabilities`` validated: float64 of shape (T, n, K), rows on the probability simplex."""
    p = np.asarray(pass_probabilities, dtype=np.float64)
    if p.ndim != 3 or p.shape[0] < 1 or p.shape[2] < 1:
        raise ValueError(f"pass_probabilities must have shape (passes, images, classes), got {p.shape}")
    if not np.isfinite(p).all() or (p < -_PROBABILITY_TOLERANCE).any() or (
            p.size and np.abs(p.sum(axis=2) - 1).max() > _PROBABILITY_TOLERANCE):
        raise ValueError("pass_probabilities must hold probabilities: finite, non-negative rows summing to 1")
    return np.clip(p, 0, 1)


def _entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats over the last axis, with 0 log 0 = 0."""
    return -np.sum(p * np.log(np.where(p > 0, p, 1)), axis=-1)


def predictive_entropy(pass_probabilities) -> np.ndarray:
    """``H[mean_t p_t]`` per image, in nats, for ``pass_probabilities`` of shape (T, n, K)."""
    return _entropy(_pass_probabilities(pass_probabilities).mean(axis=0))


def mutual_information(pass_probabilities) -> np.ndarray:
    """``H[mean_t p_t] - mean_t H[p_t]`` per image, in nats (BALD), for ``pass_probabilities`` of shape
    (T, n, K). Non-negative by Jensen's inequality; clipped at 0 against rounding."""
    p = _pass_probabilities(pass_probabilities)
    return np.maximum(_entropy(p.mean(axis=0)) - _entropy(p).mean(axis=0), 0.0)


@dataclass(frozen=True)
class McDropoutScores:
    """Both scores of each image, from the same passes."""

    entropy: np.ndarray
    mutual_information: np.ndarray

    @classmethod
    def from_passes(cls, pass_probabilities) -> "McDropoutScores":
        return cls(predictive_entropy(pass_probabilities), mutual_information(pass_probabilities))

    @classmethod
    def concatenate(cls, parts) -> "McDropoutScores":
        parts = list(parts)
        if not parts:
            return cls(np.zeros(0), np.zeros(0))
        return cls(np.concatenate([p.entropy for p in parts]), np.concatenate([p.mutual_information for p in parts]))

    def subset(self, positions) -> "McDropoutScores":
        return McDropoutScores(self.entropy[positions], self.mutual_information[positions])


class _McDropoutDetector(Detector):
    needs_mc_dropout = True
    blind_spot = OUTPUT_BLIND_SPOT

    def unavailable_reason(self, inputs):
        return None if inputs.mc_dropout is not None else "no MC dropout passes were run on these images"


class McEntropy(_McDropoutDetector):
    """Predictive entropy of the mean of the MC dropout passes."""

    name = "mc_entropy"
    description = f"MC dropout predictive entropy H[mean p] over {MC_DROPOUT_PASSES} passes"
    reference = "Gal & Ghahramani, ICML 2016"

    def score(self, inputs):
        return inputs.mc_dropout.entropy


class McMutualInformation(_McDropoutDetector):
    """Mutual information (BALD) of the MC dropout passes: how much they disagree."""

    name = "mc_mutual_information"
    description = f"MC dropout mutual information H[mean p] - mean H[p] (BALD) over {MC_DROPOUT_PASSES} passes"
    reference = "Gal & Ghahramani, ICML 2016; Houlsby et al. 2011 (BALD)"

    def score(self, inputs):
        return inputs.mc_dropout.mutual_information
