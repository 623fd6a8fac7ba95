"""Deep ensembles: the members' probabilities combined into the ensemble's, and how much the members disagree.

``member_probabilities`` has shape (n, members, classes): one row of class probabilities per image and
member. The ensemble predicts the mean of its members' probabilities; its disagreement on an image is
the mutual information between the prediction and the member that made it,

    I(x) = H(p̄) - (1/M) Σ_m H(p_m) = (1/M) Σ_m KL(p_m || p̄),   p̄ = (1/M) Σ_m p_m,   H(p) = -Σ_k p_k ln p_k,

in nats: the members' mean Kullback-Leibler divergence from the ensemble's prediction (their generalised
Jensen-Shannon divergence), 0 when every member gives the same probabilities, at most ln M. It is the
disagreement measure of B. Lakshminarayanan, A. Pritzel and C. Blundell, "Simple and scalable predictive
uncertainty estimation using deep ensembles", NeurIPS 2017 (mean KL of the members from the ensemble),
and the epistemic part of the predictive entropy H(p̄) (Houlsby et al. 2011, "BALD"; Depeweg et al.
2018): unlike the entropy it stays low where every member is unsure in the same way (an ambiguous image)
and grows where confident members contradict each other (an input none was trained for).
"""

import numpy as np

#: tolerance on a member's row sum and negative values (members' outputs are float32)
PROBABILITY_TOLERANCE = 1e-3


def _check_member_probabilities(member_probabilities) -> np.ndarray:
    """``member_probabilities`` as float64 of shape (n, members >= 1, classes >= 1), rows that are probabilities."""
    values = np.asarray(member_probabilities, dtype=np.float64)
    if values.ndim != 3 or values.shape[1] < 1 or values.shape[2] < 1:
        raise ValueError("member_probabilities must have shape (n, members, classes) with at least one member "
                         f"and class, got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("member_probabilities must be finite")
    if (values < -PROBABILITY_TOLERANCE).any() or (np.abs(values.sum(axis=2) - 1) > PROBABILITY_TOLERANCE).any():
        raise ValueError("member_probabilities must hold probabilities: non-negative, each row summing to 1")
    return np.clip(values, 0, None)


def mean_probabilities(member_probabilities) -> np.ndarray:
    """The ensemble's probabilities ``p̄ = (1/M) Σ_m p_m``, shape (n, classes), float32 like a model's outputs."""
    return _check_member_probabilities(member_probabilities).mean(axis=1).astype(np.float32)


def _entropy(probabilities: np.ndarray) -> np.ndarray:
    """``-Σ_k p_k ln p_k`` over the last axis, with ``0 ln 0 = 0``."""
    logs = np.log(np.where(probabilities > 0, probabilities, 1.0))
    return -(probabilities * logs).sum(axis=-1)


def disagreement(member_probabilities) -> np.ndarray:
    """The members' mutual information ``H(p̄) - mean_m H(p_m)`` per image, in nats, shape (n,) (module docstring).

    Rounding can make it a hair below 0 for members that agree; it is clipped to 0."""
    values = _check_member_probabilities(member_probabilities)
    return np.clip(_entropy(values.mean(axis=1)) - _entropy(values).mean(axis=1), 0, None)
