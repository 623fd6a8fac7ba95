"""A sticker counterexample search: placements of stickers within a budget of the sign's box that change a
recognised sign's class (safety_harness/run/counterexample.py, with hypothesis). Not a rate: a counterexample
found fails, none found passes (safety_tests/test_robustness.py)."""

from typing import Annotated, Literal

from pydantic import Field

from safety_harness.families.registry import MetricFamily, MetricSpec, register
from safety_harness.families.schema import Entry

#: the perturbation whose stickers the search places (its contact sheet shows them)
SEARCH_PERTURBATION = "sticker"


class CounterexampleRequirement(Entry):
    metric: Literal["counterexample"]
    #: the largest share of the sign's box a sticker placement may cover
    budget: Annotated[float, Field(gt=0, le=1)]
    max_examples: Annotated[int, Field(gt=0)]


def requirement_text(r) -> str:
    return f"no counterexample within {r.parameters.get('budget', 0):.0%} of the sign"


COUNTEREXAMPLE = register(MetricFamily(
    CounterexampleRequirement,
    {"counterexample": MetricSpec("required", conditions="clean", binomial=False,
                                  bound="a search: sticker placements within the budget (hypothesis)")},
    perturbations=(SEARCH_PERTURBATION,), requirement_text=requirement_text))
