"""Paired comparisons of a candidate model with a baseline (the released model) on the same images.

Both models predict every image, so their errors are paired: only the *discordant* images, where
one is right and the other wrong, tell them apart. On the ``n`` images a requirement reads:

- ``losses`` ``b``: the candidate is wrong where the baseline is right,
- ``gains`` ``c``: the candidate is right where the baseline is wrong,

and the candidate's rate (recall of a class, or accuracy) is worse than the baseline's by
``Δ = (b - c) / n`` (McNemar, 1947). Agreement is the share of images on which both predict the
same class, right or wrong.
"""

from dataclasses import dataclass, field

import numpy as np

from safety_harness.metrics.bounds import _check_confidence, clopper_pearson_lower, clopper_pearson_upper
from safety_harness.metrics.classification import Proportion, _check_labels
from safety_harness.metrics.group_bounds import group_bound


@dataclass(frozen=True)
class PairedOutcomes:
    """The candidate's ``losses`` and ``gains`` against the baseline among the ``n`` images of ``population``.

    ``lost`` and ``gained`` are the per-sample masks (within ``population``) the counts come from.
    """

    losses: int
    gains: int
    n: int
    population: np.ndarray = field(repr=False, compare=False)
    lost: np.ndarray = field(repr=False, compare=False)
    gained: np.ndarray = field(repr=False, compare=False)

    @property
    def difference(self) -> float:
        """How much worse the candidate's rate is than the baseline's, ``(losses - gains) / n`` (NaN: no image)."""
        return (self.losses - self.gains) / self.n if self.n else float("nan")

    @property
    def discordant_positions(self) -> np.ndarray:
        """Positions of the images on which exactly one of the two models is right."""
        return np.flatnonzero(self.lost | self.gained)


def _check_paired(labels, candidate, baseline):
    labels, candidate = _check_labels(labels, candidate)
    _, baseline = _check_labels(labels, baseline)
    return labels, candidate, baseline


def _population(labels, class_id):
    return np.ones(labels.shape, bool) if class_id is None else labels == class_id


def paired_outcomes(labels, candidate, baseline, class_id: int | None = None) -> PairedOutcomes:
    """Count the candidate's losses and gains against the baseline.

    Parameters
    ----------
    labels : array of shape (n,)
        True class ids.
    candidate, baseline : arrays of shape (n,)
        The class each model predicts for the same images, in the same order.
    class_id : int or None
        Compare the recall of this class (its images only); None: accuracy over every image.
    """
    labels, candidate, baseline = _check_paired(labels, candidate, baseline)
    population = _population(labels, class_id)
    candidate_right, baseline_right = candidate == labels, baseline == labels
    lost = population & ~candidate_right & baseline_right
    gained = population & candidate_right & ~baseline_right
    return PairedOutcomes(losses=int(lost.sum()), gains=int(gained.sum()), n=int(population.sum()),
                          population=population, lost=lost, gained=gained)


def regression_upper_bound(losses: int, gains: int, n: int, confidence: float = 0.95) -> float:
    """Exact one-sided upper confidence bound of the paired difference ``Δ = p_lose - p_gain``.

    ``U = CP_upper(b; n, 1 - α/2) - CP_lower(c; n, 1 - α/2)`` with ``α = 1 - confidence``,
    ``b = losses``, ``c = gains`` and the Clopper–Pearson bounds of :mod:`safety_harness.metrics.bounds`.
    Each bound holds with probability at least ``1 - α/2``, so both hold together with probability at
    least ``1 - α`` (Bonferroni), and then ``Δ <= U``: the bound is exact in the sense that its coverage
    is never below ``confidence``, whatever the true rates, at the price of being conservative. The
    asymptotic paired score intervals (Tango, 1998) are tighter but can undercover on few discordant
    images, which is where a stop-sign requirement lives.

    With ``n = 0`` there is no evidence and ``U = 1``. With no discordant image ``U`` is
    ``1 - (α/2)^(1/n)``: about ``3.7 / n`` at 95 %, so a margin ``m`` needs ``n >= 3.7 / m`` images.

    References
    ----------
    C. J. Clopper, E. S. Pearson, "The use of confidence or fiducial limits illustrated in the case
    of the binomial", Biometrika 26 (1934). Q. McNemar, "Note on the sampling error of the difference
    between correlated proportions or percentages", Psychometrika 12 (1947). T. Tango, "Equivalence
    test and confidence interval for the difference in proportions for the paired-sample design",
    Statistics in Medicine 17 (1998).
    """
    _check_confidence(confidence)
    if losses + gains > n:
        raise ValueError(f"losses + gains must not exceed n, got {losses} + {gains} > {n}")
    each = 1 - (1 - confidence) / 2
    return clopper_pearson_upper(losses, n, each) - clopper_pearson_lower(gains, n, each)


def grouped_regression_upper_bound(outcomes: PairedOutcomes, groups, confidence: float = 0.95) -> float:
    """:func:`regression_upper_bound` over groups of dependent images (``groups``: one group id per sample).

    ``U = B_upper(lost; 1 - α/2) - B_lower(gained; 1 - α/2)``, each ``B`` the group-aware bound of
    :func:`safety_harness.metrics.group_bounds.group_bound` (Clopper–Pearson at Kish's effective sample
    size) over the images of the population; Bonferroni joins them as in :func:`regression_upper_bound`,
    which it equals when every image is its own group.
    """
    _check_confidence(confidence)
    groups = np.asarray(groups)
    if groups.shape != outcomes.population.shape:
        raise ValueError(f"groups must have one id per sample, got {groups.shape} for {outcomes.population.shape}")
    if not outcomes.n:
        return 1.0
    each = 1 - (1 - confidence) / 2
    population = outcomes.population
    return (group_bound(outcomes.lost[population], groups[population], "<=", each).bound
            - group_bound(outcomes.gained[population], groups[population], ">=", each).bound)


def agreement(labels, candidate, baseline, class_id: int | None = None) -> Proportion:
    """Share of images (of ``class_id``; None: every image) on which both models predict the same class.

    Agreement is judged like any rate, on its exact Clopper–Pearson lower bound; the disagreeing images
    are the adverse samples of the returned :class:`Proportion`.
    """
    labels, candidate, baseline = _check_paired(labels, candidate, baseline)
    population = _population(labels, class_id)
    hits = candidate == baseline
    return Proportion(successes=int(np.count_nonzero(hits & population)), n=int(population.sum()),
                      population=population, hits=hits)
