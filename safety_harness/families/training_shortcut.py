"""Clever-Hans discovery in ``--training-data`` (safety_harness/metrics/spray.py): the share of a class's sampled
training images in a SpRAy cluster whose relevance concentrates on a compact patch; a discovery, judged on the
flagged clusters' shares only (safety_tests/test_training_shortcut.py)."""

from typing import Annotated, Literal

from pydantic import Field

from safety_harness.families.registry import MetricFamily, MetricSpec, register
from safety_harness.families.schema import ThresholdedEntry


class ShortcutClusterRequirement(ThresholdedEntry):
    """No class of the training data has a SpRAy cluster holding more than ``threshold`` of its sampled images whose
    relevance concentrates by at least ``min_concentration_excess`` more than the rest's (safety_harness/metrics/spray.py)."""

    metric: Literal["shortcut_cluster"]
    direction: Literal["<="]  # a ceiling: the share a shortcut cluster may hold
    min_concentration_excess: Annotated[float, Field(gt=0, le=1)] = 0.10


TRAINING_SHORTCUT = register(MetricFamily(
    ShortcutClusterRequirement,
    {"shortcut_cluster": MetricSpec("forbidden", needs_labels=False, conditions="clean", binomial=False,
                                    bound="Clopper–Pearson lower bound of each flagged cluster's share of its "
                                          "class's sample, Bonferroni over the flagged classes")}))
