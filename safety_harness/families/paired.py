"""Requirements against the released model (``--baseline-model``), paired image by image on the same images
(safety_harness/metrics/paired.py): the candidate's recall of a class (accuracy without one) is not worse by more
than a margin, on an exact bound of the paired difference; and the share of images on which both predict the
same class, a rate (safety_tests/test_baseline.py)."""

from typing import Literal

from safety_harness.families.registry import MetricFamily, MetricSpec, register
from safety_harness.families.schema import ThresholdedEntry


class RegressionRequirement(ThresholdedEntry):
    """The candidate's recall of ``class`` (accuracy without one) is below the baseline's by at most ``threshold``
    (the margin on the paired difference, baseline's rate minus candidate's)."""

    metric: Literal["regression"]
    direction: Literal["<="]  # a ceiling on how much worse the candidate may be


class AgreementRequirement(ThresholdedEntry):
    """The candidate and the baseline predict the same class on at least ``threshold`` of the images."""

    metric: Literal["agreement"]
    direction: Literal[">="]  # a floor: agreement is what the requirement asks for


REGRESSION = register(MetricFamily(RegressionRequirement, {
    "regression": MetricSpec("optional", paired=True, binomial=False,
                             bound="upper bound of the paired difference: losses' upper minus gains' lower "
                                   "Clopper–Pearson bound (Bonferroni)")}))
AGREEMENT = register(MetricFamily(AgreementRequirement, {
    "agreement": MetricSpec("optional", needs_labels=False, paired=True)}))
