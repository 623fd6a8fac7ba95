"""A learned sticker shortcut: the largest share of other classes' stickered signs one class draws
(safety_harness/metrics/attraction.py); the run stickers a seeded sample of the ingest with every sticker family
(safety_harness/run/sticker_attraction.py). Not one binomial count but Bonferroni-corrected bounds over every
class and stickered set, so outside Holm's joint confidence (safety_tests/test_shortcuts.py)."""

from typing import Literal

from safety_harness.families.registry import MetricFamily, MetricSpec, register
from safety_harness.families.schema import ThresholdedEntry

#: the sticker families of the perturbation registry the run pastes on every class
ATTRACTION_STICKERS = ("sticker", "sticker_white", "sticker_colour")


class AttractionRequirement(ThresholdedEntry):
    """No class draws more than ``threshold`` of the stickered signs of other classes (a learned sticker shortcut)."""

    metric: Literal["sticker_attraction"]
    direction: Literal["<="]  # a ceiling: attraction is what the requirement limits


STICKER_ATTRACTION = register(MetricFamily(
    AttractionRequirement,
    {"sticker_attraction": MetricSpec("forbidden", conditions="clean", binomial=False,
                                      bound="Bonferroni-corrected Clopper–Pearson bounds over every class and "
                                            "stickered set")},
    perturbations=ATTRACTION_STICKERS))
