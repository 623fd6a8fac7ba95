"""Why the model decides: the share of recognised signs of a class whose explanation peaks inside the sign's box
(the pointing game, safety_harness/metrics/relevance.py), a rate judged by the recorder's ``judge_rate``, with
maps of the explainer that passed its self-checks (safety_tests/test_explanations.py)."""

from typing import Literal

from safety_harness.families.registry import MetricFamily, MetricSpec, register
from safety_harness.families.schema import ThresholdedEntry


class RelevanceRequirement(ThresholdedEntry):
    """Recognised signs of ``class`` whose explanation's peak lies inside the sign's box (the pointing game)."""

    metric: Literal["relevance_on_sign"]


RELEVANCE = register(MetricFamily(RelevanceRequirement, {"relevance_on_sign": MetricSpec("required", conditions="clean")}))
