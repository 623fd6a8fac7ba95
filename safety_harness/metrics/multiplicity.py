"""The joint confidence of a release gate that passes many rate requirements at once.

Each rate requirement ``rate <direction> threshold`` is judged on its own one-sided Clopper–Pearson
bound at confidence ``1 - alpha``: each claim alone is wrong with probability at most ``alpha``, but
the chance that *some* claim of a passing gate is wrong grows with their number. The joint
confidence says with which confidence *all* passing claims hold at once.

The test of one requirement has the null hypothesis "the requirement does not hold" (the true rate
is on the wrong side of the threshold); its exact one-sided p-value, with ``k`` successes of ``n``
and threshold ``t``, is

- floor (``>=``): ``p = P(X >= k | n, t) = binom.sf(k - 1, n, t)``,
- ceiling (``<=``): ``p = P(X <= k | n, t) = binom.cdf(k, n, t)``,

the test that the Clopper–Pearson bound inverts: the bound at confidence ``c`` clears the
threshold iff ``p <= 1 - c``.

Holm's step-down procedure rejects all ``m`` null hypotheses at family-wise error rate ``alpha``
iff ``(m - i + 1) p_(i) <= alpha`` for every ``i`` (p-values sorted ascending, ``i = 1..m``), so

    joint confidence = 1 - min(1, max_i (m - i + 1) p_(i)),

under any dependence between the tests; never below Bonferroni's ``1 - min(1, m max_i p_i)``.

References: S. Holm, "A simple sequentially rejective multiple test procedure", Scandinavian
Journal of Statistics 6 (1979) 65–70. C. J. Clopper and E. S. Pearson, Biometrika 26 (1934) 404–413.
"""

import numpy as np
from scipy.stats import binom

from safety_harness.metrics.bounds import _check_counts

_DIRECTIONS = (">=", "<=")


def rate_p_value(successes: int, n: int, threshold: float, direction: str) -> float:
    """Exact one-sided p-value of "the rate is on the wrong side of ``threshold``".

    ``binom.sf(k - 1, n, threshold)`` for a floor (``">="``), ``binom.cdf(k, n, threshold)`` for a
    ceiling (``"<="``); ``k = successes``. With ``n = 0`` there is no evidence: ``p = 1``.
    """
    successes, n = _check_counts(successes, n)
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    if direction == ">=":
        p = binom.sf(successes - 1, n, threshold)
    elif direction == "<=":
        p = binom.cdf(successes, n, threshold)
    else:
        raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
    return float(np.clip(p, 0.0, 1.0))


def holm_joint_confidence(p_values) -> float:
    """The confidence with which every hypothesis of ``p_values`` is rejected by Holm's procedure.

    ``1 - min(1, max_i (m - i + 1) p_(i))`` over the ``m`` p-values sorted ascending (Holm 1979):
    the simultaneous confidence that all the claims tested hold.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"p_values must be a non-empty 1-D sequence, got shape {p.shape}")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("p_values must lie in [0, 1]")
    m = p.size
    multipliers = m - np.arange(m)  # m - i + 1 for i = 1..m
    return float(1.0 - min(1.0, float(np.max(multipliers * np.sort(p)))))


def holm_deciding_hypotheses(p_values) -> np.ndarray:
    """The positions in ``p_values`` of the hypotheses that set Holm's joint confidence, largest p-value first.

    With ``i*`` the first ``i`` that maximises ``(m - i + 1) p_(i)`` (p-values sorted ascending), the joint
    confidence is ``1 - min(1, (m - i* + 1) p_(i*))``: it is set by the ``m - i* + 1`` hypotheses at
    ``p_(i*)`` and above, and would rise only if one of their p-values fell (e.g. 16 zero-event cases of
    one requirement, each with the same p-value, set it at ``1 - 16 p``).
    """
    p = np.asarray(p_values, dtype=float)
    holm_joint_confidence(p)  # the same parameter validation
    order = np.argsort(p, kind="stable")
    first = int(np.argmax((p.size - np.arange(p.size)) * p[order]))
    return order[first:][::-1]
