"""A learned sticker shortcut: the largest share of other classes' stickered signs one class draws
(safety_harness/metrics/attraction.py); the run stickers a seeded sample of the ingest with every sticker family
(safety_harness/run/sticker_attraction.py). Not one binomial count but Bonferroni-corrected bounds over every
class and stickered set, so outside Holm's joint confidence (safety_tests/test_shortcuts.py)."""

from typing import Literal

from safety_harness.evidence.results import AttractionBySet, RequirementResult
from safety_harness.families.judging import class_name
from safety_harness.families.registry import MetricFamily, MetricSpec, register
from safety_harness.families.schema import ThresholdedEntry
from safety_harness.metrics.verdicts import Judgement, SamplesNeeded, Verdict
from safety_harness.plan.conditions import Condition
from safety_harness.run.sticker_attraction import ATTRACTION_STICKERS


class AttractionRequirement(ThresholdedEntry):
    """No class draws more than ``threshold`` of the stickered signs of other classes (a learned sticker shortcut)."""

    metric: Literal["sticker_attraction"]
    direction: Literal["<="]  # a ceiling: attraction is what the requirement limits


def judge(case, run, attraction, corroboration) -> RequirementResult:
    """Sticker attraction (metrics.attraction.StickerAttraction, judged by its own rule on Bonferroni-corrected
    bounds over every class and stickered set). The value is the attracting class's rate, the bound the largest
    upper bound of all (the ceiling's); the evidence names the attracting class, its set and sticker family,
    each family's strongest attraction and the relevance on the stickers of flips (``corroboration``, a
    run.sticker_attraction.Corroboration or None)."""
    requirement, cell = case.requirement, attraction.attracting
    needed = attraction.images_needed()
    status = None
    if attraction.verdict is Verdict.INSUFFICIENT_EVIDENCE:
        status = SamplesNeeded.IMPOSSIBLE if needed is None else SamplesNeeded.COMPUTED
    judgement = Judgement(attraction.verdict, cell.rate, attraction.largest_upper_bound, requirement.threshold,
                          requirement.direction, requirement.confidence, status, needed)
    names = run.class_names
    family = Condition.parse(cell.group).name
    per_set = {group: _cell_record(strongest, names) for group, strongest in attraction.by_group.items()}
    per_family = {}
    for group, record in per_set.items():  # each family's strongest set, ranked as the attracting cell is
        name = Condition.parse(group).name
        if name not in per_family or ((record["lower_bound"], record["rate"])
                                      > (per_family[name]["lower_bound"], per_family[name]["rate"])):
            per_family[name] = record
    details = {
        "attracting_class": cell.class_id, "attracting_class_name": names[cell.class_id],
        "attracting_rate": cell.rate, "attracting_lower_bound": cell.lower, "attracting_upper_bound": cell.upper,
        "attracting_family": family, "attracting_set": cell.group,
        "chosen_by": "largest Bonferroni-corrected lower bound over every (class, stickered set)",
        "largest_upper_bound": attraction.largest_upper_bound,
        "bonferroni_confidence": attraction.bonferroni_confidence, "comparisons": attraction.comparisons,
        "images_per_set": attraction.group_sizes,
        "per_family": per_family,
        "per_set": per_set,
        "relevance_on_stickers": None if corroboration is None else corroboration.to_dict(),
    }
    reason = (f"{names[cell.class_id]} ({cell.class_id}) attracts most: {cell.attracted} of {cell.n} stickered "
              f"signs of other classes under {cell.group} ({family}), bounds {cell.lower:.4f}..{cell.upper:.4f}; "
              f"every bound at {attraction.bonferroni_confidence:.5f} (Bonferroni over "
              f"{attraction.comparisons} class and stickered-set pairs), fail above {requirement.threshold:g} "
              "for a lower bound, pass below it for every upper bound")
    return RequirementResult(
        case=case, verdict=attraction.verdict, judgement=judgement, n=min(attraction.group_sizes.values()),
        class_name=class_name(case, run), reason=reason, details=details,
        exhibits=(AttractionBySet(attraction, corroboration),),
        independence={"independence": "images", "reason": "not group-aware: the stickered signs are a seeded "
                                                          "sample, each counted as independent"})


def _cell_record(cell, names) -> dict:
    """One (class, stickered set) cell of sticker attraction, for the evidence."""
    return {"set": cell.group, "attracting_class": cell.class_id, "attracting_class_name": names[cell.class_id],
            "attracted": cell.attracted, "n": cell.n, "rate": cell.rate, "lower_bound": cell.lower,
            "upper_bound": cell.upper}


STICKER_ATTRACTION = register(MetricFamily(
    AttractionRequirement,
    {"sticker_attraction": MetricSpec("forbidden", conditions="clean", binomial=False,
                                      bound="Bonferroni-corrected Clopper–Pearson bounds over every class and "
                                            "stickered set")},
    perturbations=ATTRACTION_STICKERS, judge=judge))
