"""One-sided exact (Clopper–Pearson) confidence bounds for binomial proportions.

A safety floor such as "stop-sign recall >= 0.99" is a claim about the model's
true rate, not about the sample: it is judged on the bound below which the true
rate lies with probability at most ``1 - confidence``.

Reference: C. J. Clopper and E. S. Pearson, "The use of confidence or fiducial
limits illustrated in the case of the binomial", Biometrika 26 (1934) 404–413.
"""

import operator

from scipy.stats import beta

_DIRECTIONS = (">=", "<=")


def _check_counts(successes, n):
    try:
        n, successes = operator.index(n), operator.index(successes)
    except TypeError:
        raise TypeError(f"successes and n must be integers, got {successes!r} and {n!r}") from None
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n={n}], got {successes}")
    return successes, n


def _check_confidence(confidence):
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence!r}")


def clopper_pearson_lower(successes: int, n: int, confidence: float = 0.95) -> float:
    """Exact one-sided lower confidence bound of a binomial proportion.

    ``L = Beta.ppf(1 - confidence; k, n - k + 1)`` for ``k > 0``, and ``0`` for
    ``k = 0`` (``k`` = successes). The true proportion is >= L with probability
    at least ``confidence``. With ``n = 0`` there is no evidence and L = 0.
    """
    successes, n = _check_counts(successes, n)
    _check_confidence(confidence)
    if successes == 0:
        return 0.0
    return float(beta.ppf(1 - confidence, successes, n - successes + 1))


def clopper_pearson_upper(successes: int, n: int, confidence: float = 0.95) -> float:
    """Exact one-sided upper confidence bound of a binomial proportion.

    ``U = Beta.ppf(confidence; k + 1, n - k)`` for ``k < n``, and ``1`` for
    ``k = n``. The true proportion is <= U with probability at least ``confidence``.
    """
    successes, n = _check_counts(successes, n)
    _check_confidence(confidence)
    if successes == n:
        return 1.0
    return float(beta.ppf(confidence, successes + 1, n - successes))


def one_sided_bound(successes: int, n: int, direction: str, confidence: float = 0.95) -> float:
    """The bound that a requirement ``rate <direction> threshold`` is judged on.

    ``">="`` (a floor) uses the lower bound, ``"<="`` (a ceiling) the upper bound.
    """
    if direction == ">=":
        return clopper_pearson_lower(successes, n, confidence)
    if direction == "<=":
        return clopper_pearson_upper(successes, n, confidence)
    raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")


def samples_needed(
    successes: int, n: int, threshold: float, direction: str, confidence: float = 0.95
) -> int | None:
    """Smallest sample size that would decide the requirement at the observed error count.

    The count that works against the requirement is held fixed — misses
    (``n - successes``) for a floor, events (``successes``) for a ceiling — and the
    sample grows until the one-sided bound clears ``threshold``. For example, with
    0 misses, ``recall >= 0.99`` at 95 % needs ``ceil(ln 0.05 / ln 0.99) = 299`` samples.

    Returns ``None`` when no sample size can decide it (the threshold is 1 for a
    floor with misses, or 0 for a ceiling with events).
    """
    successes, n = _check_counts(successes, n)
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
    return trials_needed(n - successes if direction == ">=" else successes, threshold, direction, confidence)


def trials_needed(adverse: int, threshold: float, direction: str, confidence: float = 0.95) -> int | None:
    """Smallest number of independent trials ``m`` with ``adverse`` of them against the requirement
    (misses for a floor, events for a ceiling) whose exact one-sided bound clears ``threshold``.

    A floor is met when ``Beta.ppf(1 - confidence; m - adverse, adverse + 1) >= threshold``, a ceiling
    when ``Beta.ppf(confidence; adverse + 1, m - adverse) <= threshold``. With no adverse trial the
    floor's bound is ``(1 - confidence) ** (1 / m)``, so ``m = ceil(ln(1 - confidence) / ln(threshold))``:
    299 for ``recall >= 0.99`` at 95 %; with one miss, 473.

    Returns ``None`` when no number of trials can decide it (a floor of 1, or a ceiling of 0).
    """
    try:
        adverse = operator.index(adverse)
    except TypeError:
        raise TypeError(f"adverse must be an integer, got {adverse!r}") from None
    if adverse < 0:
        raise ValueError(f"adverse must be >= 0, got {adverse}")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    _check_confidence(confidence)
    if direction == ">=":
        if threshold >= 1:
            return None

        def clears(m):
            return clopper_pearson_lower(m - adverse, m, confidence) >= threshold
    elif direction == "<=":
        if threshold <= 0:
            return None

        def clears(m):
            return clopper_pearson_upper(adverse, m, confidence) <= threshold
    else:
        raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
    return smallest_deciding(clears, max(adverse, 1))


def events_to_block(successes: int, n: int, threshold: float, direction: str, confidence: float = 0.95) -> int | None:
    """Fewest further adverse events among the same ``n`` samples after which the one-sided bound no longer
    clears ``threshold`` (the pass would become a block).

    An adverse event is a success turned into a miss for a floor (``successes - e`` of ``n``), or one more
    event for a ceiling (``successes + e`` of ``n``). Returns 0 when the bound does not clear the threshold
    now, and ``None`` when no count of events within ``n`` makes it fail (a floor of 0, a ceiling of 1).
    """
    successes, n = _check_counts(successes, n)
    floor = direction == ">="
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
    adverse = n - successes if floor else successes

    def blocks(more: int) -> bool:
        bound = one_sided_bound(n - adverse - more if floor else adverse + more, n, direction, confidence)
        return bound < threshold if floor else bound > threshold

    return smallest_blocking(blocks, n - adverse)


def smallest_blocking(blocks, most: int) -> int | None:
    """The smallest ``e`` in ``[0, most]`` for which ``blocks(e)`` holds, where ``blocks`` is monotone in ``e``
    (more adverse events only move a bound towards the threshold): bisection. ``None``: not even ``most``."""
    if not blocks(most):
        return None
    low, high = 0, most
    while low < high:
        middle = (low + high) // 2
        if blocks(middle):
            high = middle
        else:
            low = middle + 1
    return low


def smallest_deciding(clears, low: int) -> int | None:
    """The smallest count ``m >= low`` for which ``clears(m)`` holds, where ``clears`` is monotone in ``m``
    (a bound moves towards the observed rate as the sample grows): double until it clears, then bisect.
    ``None`` beyond 10**12."""
    if clears(low):
        return low
    high = low * 2
    while not clears(high):
        low, high = high, high * 2
        if high > 10**12:
            return None
    while high - low > 1:
        middle = (low + high) // 2
        if clears(middle):
            high = middle
        else:
            low = middle
    return high

