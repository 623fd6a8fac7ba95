"""Data independence: the share of the ingest's groups with a near-duplicate in ``--reference`` or
``--training-data`` (safety_harness/ingest/similarity_groups.py), a rate judged by the recorder's ``judge_rate``
over those groups (safety_tests/test_data_independence.py): the ingest is not development data."""

from typing import Literal

from safety_harness.families.registry import MetricFamily, MetricSpec, register
from safety_harness.families.schema import ThresholdedEntry


class LeakageRequirement(ThresholdedEntry):
    """At most ``threshold`` of the ingest's groups have a near-duplicate in ``--reference`` or ``--training-data``."""

    metric: Literal["leakage_rate"]
    direction: Literal["<="]  # a ceiling: leakage is what the requirement limits


LEAKAGE = register(MetricFamily(LeakageRequirement, {
    "leakage_rate": MetricSpec("forbidden", needs_labels=False, conditions="clean")}))
