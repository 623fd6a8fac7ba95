"""One-sided bounds of a rate whose samples come in groups of dependent images.

A GTSRB track holds about 30 frames of one physical sign: its frames tend to be right or wrong
together, so ``n`` frames carry far less evidence than ``n`` independent signs. The bound here is
Clopper–Pearson at Kish's effective sample size::

    m_w   = sum_g m_g**2 / n                     (size-weighted mean group size)
    n_eff = n / (1 + (m_w - 1) * rho)            (design effect of cluster sampling)
    x     = k * n_eff / n                        (successes scaled to n_eff)
    lower = Beta.ppf(1 - confidence; x, n_eff - x + 1)      (a floor, ``>=``; 0 when x = 0)
    upper = Beta.ppf(confidence; x + 1, n_eff - x)          (a ceiling, ``<=``; 1 when x = n_eff)

with ``rho`` the intra-class correlation of the outcomes. The point estimate of ``rho`` is often
low on few groups and a low ``rho`` overclaims, so ``rho`` is its one-sided upper confidence limit
at the bound's confidence, from the ANOVA estimator's F ratio
``F = MSB / MSW`` between and within groups, with ``n0 = (n - sum m_g**2 / n) / (G - 1)``::

    F_U   = F * F.ppf(confidence; n - G, G - 1)
    rho_U = (F_U - 1) / (F_U + n0 - 1),  clipped to [0, 1]

Where ``rho`` cannot be estimated it is taken as 1, one trial per group: fewer than
``MIN_GROUPS_PER_OUTCOME`` groups hold each outcome (in particular no adverse event at all), or no
group holds two images. The simulation in tools/group_bound_coverage.py shows why: with one or two
groups holding every miss, the estimate says little and a low one overclaims. With ``rho = 1``
the bound is also never more optimistic than Clopper–Pearson over the groups with each group one
trial (its share of successes its outcome): the more conservative of the two is returned. Every group of
one image gives ``n_eff = n`` and the exact image-level Clopper–Pearson bound.

References: L. Kish, "Survey Sampling", Wiley 1965, §5.4 (design effect); S. R. Searle, "Linear
Models", Wiley 1971, §9.7 (ANOVA estimator of the intra-class correlation and its F interval);
A. Donner, "A review of inference procedures for the intraclass correlation coefficient in the
one-way random effects model", Int. Stat. Rev. 54 (1986) 67–82; C. J. Clopper and E. S. Pearson,
Biometrika 26 (1934) 404–413.
"""

from dataclasses import dataclass

import numpy as np
from scipy.stats import beta, f

from safety_harness.metrics.bounds import (
    clopper_pearson_lower,
    clopper_pearson_upper,
    events_to_block,
    smallest_blocking,
    smallest_deciding,
)
from safety_harness.metrics.multiplicity import rate_p_value

_DIRECTIONS = (">=", "<=")
#: how ``rho`` was obtained (GroupedBound.correlation_source)
CORRELATION_SINGLETONS = "every group holds one image"
CORRELATION_ESTIMATED = "upper confidence limit of the ANOVA intra-class correlation (F ratio, Searle 1971)"
CORRELATION_ASSUMED = "assumed 1 (one trial per group): too few groups hold each outcome to estimate it"
#: groups that must hold each outcome (a success, and an adverse event) for the correlation to be estimated
MIN_GROUPS_PER_OUTCOME = 3


@dataclass(frozen=True)
class GroupedBound:
    """The one-sided bound of a rate over grouped samples, with what it was computed from."""

    #: the group-aware bound (the one a verdict is judged on)
    bound: float
    #: the exact Clopper–Pearson bound treating every image as independent
    image_bound: float
    successes: int
    n: int
    groups: int
    #: Kish's effective sample size (``groups`` where the group-level bound was the more conservative)
    effective_n: float
    #: the intra-class correlation used
    correlation: float
    #: how ``correlation`` was obtained (one of the CORRELATION_* texts)
    correlation_source: str
    direction: str
    confidence: float

    @property
    def effective_successes(self) -> float:
        return self.successes * self.effective_n / self.n if self.n else 0.0


def _check(direction, confidence):
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence!r}")


def _beta_bound(successes, trials, direction, confidence):
    """Clopper–Pearson in its Beta-quantile form, for real-valued (scaled) counts; arrays broadcast."""
    successes, trials = np.asarray(successes, float), np.asarray(trials, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if direction == ">=":
            bound = beta.ppf(1 - confidence, successes, trials - successes + 1)
            return np.where(successes <= 0, 0.0, bound)
        bound = beta.ppf(confidence, successes + 1, trials - successes)
        return np.where(successes >= trials, 1.0, bound)


def correlation_upper_limit(successes, sizes, confidence: float = 0.95):
    """One-sided upper confidence limit of the ANOVA intra-class correlation of binary outcomes.

    ``successes`` and ``sizes`` are per-group counts, shape ``(..., G)`` (groups on the last axis;
    a size-0 group is absent). Returns ``(rho, estimable)``, each of the leading shape: ``rho``
    clipped to [0, 1], and NaN where it cannot be estimated (fewer than ``MIN_GROUPS_PER_OUTCOME``
    groups hold each outcome, or no group holds two images: ``estimable`` False).
    """
    successes, sizes = np.asarray(successes, float), np.asarray(sizes, float)
    n = sizes.sum(axis=-1)
    groups = (sizes > 0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = successes.sum(axis=-1) / n
        group_rate = np.where(sizes > 0, successes / np.where(sizes > 0, sizes, 1), 0.0)
        between = (sizes * (group_rate - rate[..., None]) ** 2).sum(axis=-1) / (groups - 1)
        within = (sizes * group_rate * (1 - group_rate)).sum(axis=-1) / (n - groups)
        n0 = (n - (sizes ** 2).sum(axis=-1) / n) / (groups - 1)
        holding_each = np.minimum((successes > 0).sum(axis=-1), (successes < sizes).sum(axis=-1))
        estimable = (holding_each >= MIN_GROUPS_PER_OUTCOME) & (n > groups)
        # no variation inside any group: every group's outcomes are equal, the correlation is 1
        homogeneous = estimable & (within <= 0)
        ratio = np.where(homogeneous, np.inf, between / np.where(within > 0, within, 1))
        upper_ratio = ratio * f.ppf(confidence, np.maximum(n - groups, 1), np.maximum(groups - 1, 1))
        rho = np.where(homogeneous, 1.0, (upper_ratio - 1) / (upper_ratio + n0 - 1))
    return np.where(estimable, np.clip(rho, 0.0, 1.0), np.nan), estimable


def grouped_bounds(successes, sizes, direction: str, confidence: float = 0.95) -> dict:
    """:func:`group_bound` on per-group counts, vectorised: ``successes`` and ``sizes`` of shape
    ``(..., G)`` (size-0 groups are absent). Returns arrays of the leading shape under the names
    of :class:`GroupedBound`'s fields (``bound``, ``image_bound``, ``effective_n``, ``correlation``,
    ``groups``) and ``estimated`` (the correlation was estimated, not assumed)."""
    _check(direction, confidence)
    successes, sizes = np.asarray(successes, float), np.asarray(sizes, float)
    if successes.shape != sizes.shape or (successes < 0).any() or (successes > sizes).any():
        raise ValueError("successes and sizes must be per-group counts of one shape, 0 <= successes <= sizes")
    n, k = sizes.sum(axis=-1), successes.sum(axis=-1)
    groups = (sizes > 0).sum(axis=-1)
    rho, estimable = correlation_upper_limit(successes, sizes, confidence)
    singletons = groups == n
    rho = np.where(singletons, 0.0, np.where(estimable, rho, 1.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        weighted_size = np.where(n > 0, (sizes ** 2).sum(axis=-1) / np.where(n > 0, n, 1), 1.0)
        effective_n = n / (1 + (weighted_size - 1) * rho)
        kish = _beta_bound(np.where(n > 0, k * effective_n / np.where(n > 0, n, 1), 0.0), effective_n, direction,
                           confidence)
        group_successes = np.where(sizes > 0, successes / np.where(sizes > 0, sizes, 1), 0.0).sum(axis=-1)
    per_group = _beta_bound(group_successes, groups, direction, confidence)
    pick = np.minimum if direction == ">=" else np.maximum
    bound = np.where(rho >= 1, pick(kish, per_group), kish)
    group_level = (rho >= 1) & (bound == per_group) & (bound != kish)
    effective_n = np.where(group_level, groups, effective_n)
    image_bound = _beta_bound(k, n, direction, confidence)
    empty = n == 0
    no_evidence = 0.0 if direction == ">=" else 1.0
    return {"bound": np.where(empty, no_evidence, bound), "image_bound": np.where(empty, no_evidence, image_bound),
            "effective_n": np.where(empty, 0.0, effective_n), "correlation": rho, "groups": groups,
            "estimated": estimable & ~singletons}


def group_bound(outcomes, groups, direction: str, confidence: float = 0.95) -> GroupedBound:
    """The one-sided bound a requirement ``rate <direction> threshold`` is judged on when the
    samples (``outcomes``, True where the rate counts a success) come in ``groups`` (one group id per
    sample): Clopper–Pearson at Kish's effective sample size (module docstring)."""
    _check(direction, confidence)
    outcomes, groups = np.asarray(outcomes), np.asarray(groups)
    if outcomes.ndim != 1 or groups.shape != outcomes.shape:
        raise ValueError(f"outcomes and groups must be 1-D of one length, got {outcomes.shape} and {groups.shape}")
    if outcomes.size and outcomes.dtype != bool:
        raise ValueError(f"outcomes must be booleans, got dtype {outcomes.dtype}")
    _, inverse = np.unique(groups, return_inverse=True)
    sizes = np.bincount(inverse)
    successes = np.bincount(inverse, weights=outcomes.astype(float), minlength=sizes.size)
    computed = grouped_bounds(successes, sizes, direction, confidence)
    n, k = int(outcomes.size), int(outcomes.sum())
    if n and int(computed["groups"]) == n:
        source = CORRELATION_SINGLETONS
    else:
        source = CORRELATION_ESTIMATED if bool(computed["estimated"]) else CORRELATION_ASSUMED
    image_bound = (clopper_pearson_lower if direction == ">=" else clopper_pearson_upper)(k, n, confidence)
    bound = image_bound if source == CORRELATION_SINGLETONS else float(computed["bound"])
    return GroupedBound(bound=bound, image_bound=image_bound, successes=k, n=n, groups=int(computed["groups"]),
                        effective_n=float(computed["effective_n"]), correlation=float(computed["correlation"]),
                        correlation_source=source, direction=direction, confidence=confidence)


def group_p_value(grouped: GroupedBound, threshold: float) -> float:
    """One-sided p-value of "the rate is on the wrong side of ``threshold``" at the effective counts
    ``x = k * n_eff / n`` of ``n_eff`` trials: ``I_t(x, n_eff - x + 1)`` for a floor and
    ``1 - I_t(x + 1, n_eff - x)`` for a ceiling (``I`` the regularised incomplete Beta function), the
    exact binomial p-value of :func:`safety_harness.metrics.multiplicity.rate_p_value` (used as such)
    where every group holds one image. The confidence at which its bound meets ``threshold`` is ``1 - p``."""
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    if grouped.correlation_source == CORRELATION_SINGLETONS:
        return rate_p_value(grouped.successes, grouped.n, threshold, grouped.direction)
    x, trials = grouped.effective_successes, grouped.effective_n
    if grouped.direction == ">=":
        p = 1.0 if x <= 0 else beta.cdf(threshold, x, trials - x + 1)
    else:
        p = 1.0 if x >= trials else beta.sf(threshold, x + 1, trials - x)
    return float(np.clip(p, 0.0, 1.0))


def groups_needed(grouped: GroupedBound, threshold: float) -> int | None:
    """Smallest number of independent groups that would decide ``rate <direction> threshold`` at the
    observed adverse count, as :func:`safety_harness.metrics.bounds.samples_needed` does for images.

    The adverse count (misses for a floor, events for a ceiling) is held at its effective value
    ``adverse * n_eff / n`` and the number of groups grows, each group carrying the observed
    ``n_eff / groups`` effective samples, until the bound clears ``threshold``. With no sample at
    all, a group counts as one sample. ``None``: no number of groups can decide it (a floor of 1
    with misses, or a ceiling of 0 with events).
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    direction, confidence = grouped.direction, grouped.confidence
    floor = direction == ">="
    if (floor and threshold >= 1) or (not floor and threshold <= 0):
        return None
    adverse_images = grouped.n - grouped.successes if floor else grouped.successes
    per_group = grouped.effective_n / grouped.groups if grouped.groups and grouped.effective_n else 1.0
    adverse = adverse_images * per_group * grouped.groups / grouped.n if grouped.n else 0.0

    def clears(count: int) -> bool:
        trials = count * per_group
        if trials < adverse:
            return False
        successes = trials - adverse if floor else adverse
        bound = float(_beta_bound(successes, trials, direction, confidence))
        return bound >= threshold if floor else bound <= threshold

    return smallest_deciding(clears, 1)


def group_events_to_block(grouped: GroupedBound, threshold: float) -> int | None:
    """Fewest further adverse images (of the same ``n``) after which the group-aware bound no longer clears
    ``threshold``, as :func:`safety_harness.metrics.bounds.events_to_block` does for independent images.

    The effective sample size and the correlation are held at their observed values: each further adverse
    image counts ``n_eff / n`` effective events, as the observed ones do, and the bound is Clopper–Pearson
    at the effective counts (module docstring). Where every group holds one image it is the exact image-level
    count. 0: the bound does not clear the threshold now; ``None``: no count within ``n`` makes it fail.
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    direction, confidence = grouped.direction, grouped.confidence
    if grouped.correlation_source == CORRELATION_SINGLETONS:
        return events_to_block(grouped.successes, grouped.n, threshold, direction, confidence)
    floor = direction == ">="
    adverse = grouped.n - grouped.successes if floor else grouped.successes
    scale = grouped.effective_n / grouped.n if grouped.n else 0.0

    def blocks(more: int) -> bool:
        events = (adverse + more) * scale
        bound = float(_beta_bound(grouped.effective_n - events if floor else events, grouped.effective_n, direction,
                                  confidence))
        return bound < threshold if floor else bound > threshold

    return smallest_blocking(blocks, grouped.n - adverse)
