"""How much data would decide each requirement: the sample-size plan of a ``--plan`` run.

A rate requirement ``rate <direction> threshold`` at confidence ``c`` is decided by independent
groups (signs, tracks: one trial each) only when its exact one-sided bound clears the threshold.
With ``a`` adverse groups (misses for a floor, events for a ceiling) that takes
:func:`safety_harness.metrics.bounds.trials_needed` groups: with no miss
``ceil(ln(1 - c) / ln(threshold))``, e.g. 299 stop signs for recall >= 0.99 at 95 %, and 473 with one
miss. These are the sizes before any data is collected, at the group-aware bound's most conservative
(every image of a group counting once, as for the groups of one outcome); a requirement with
``independence: images`` counts images instead. Metrics that are not binomial rates (bootstrap,
distance and AUROC bounds, searches) have no such rule: the plan names their bound instead.

With a planned ingest of ``N`` independent groups per class, a case of one class has ``N`` groups and
a case over the whole ingest ``N`` per class of the model; an OOD set's alarm rate is counted on that
set, not on the ingest, and is left undecided by it.
"""

from dataclasses import dataclass

from safety_harness.metrics.bounds import trials_needed
from safety_harness.plan.requirements import METRICS, RequirementCase

#: the adverse counts the plan states a size for: none, one, two
ADVERSE_COUNTS = (0, 1, 2)
_NO_RULE = "no sample size rule"
_SINGULAR = {"misses": "miss", "events": "event"}


@dataclass(frozen=True)
class CasePlan:
    """What would decide one requirement case."""

    case: RequirementCase
    #: the smallest deciding number of independent groups with 0, 1, 2 adverse groups (None: none decides it);
    #: None for a metric that is not a rate
    needed: tuple[int | None, ...] | None
    #: the groups a planned ingest of ``planned_groups`` per class gives this case; None: not planned, or the
    #: case is not counted on the ingest
    available: int | None = None
    #: whether a planned ingest size was given (``--plan-groups``)
    planned: bool = False

    @property
    def requirement(self):
        return self.case.requirement

    @property
    def unit(self) -> str | None:
        if self.needed is None:
            return None
        return "images" if self.requirement.independence == "images" else "independent groups"

    @property
    def adverse(self) -> str | None:
        """What counts against the requirement: misses of a floor, events of a ceiling."""
        if self.needed is None:
            return None
        return "misses" if self.requirement.direction == ">=" else "events"

    @property
    def bound_method(self) -> str | None:
        return METRICS[self.requirement.metric].bound if self.needed is None else None

    @property
    def decided_with_no_miss(self) -> bool | None:
        """Whether the planned ingest decides the case when no group is adverse (None: not planned, no rule)."""
        if self.needed is None or self.available is None:
            return None
        return self.needed[0] is not None and self.needed[0] <= self.available

    def row(self) -> dict:
        """What this case's line of the plan says; cases of one requirement with equal rows are one line."""
        requirement = self.requirement
        return {"requirement": requirement.id, "metric": requirement.metric, "threshold": requirement.threshold,
                "direction": requirement.direction, "confidence": requirement.confidence, "unit": self.unit,
                "adverse": self.adverse, "groups_needed": None if self.needed is None else list(self.needed),
                "bound_method": self.bound_method, "available": self.available,
                "decided_with_no_miss": self.decided_with_no_miss}

    def to_dict(self, class_names) -> dict:
        case = self.case
        return {"id": case.case_id, "class": case.class_id,
                "class_name": None if case.class_id is None else class_names[case.class_id],
                "condition": str(case.condition), "variant": case.variant, **self.row()}


def plan_case(case: RequirementCase, num_classes: int, planned_groups: int | None = None) -> CasePlan:
    """The groups that would decide ``case`` at each of :data:`ADVERSE_COUNTS`, and those a planned ingest of
    ``planned_groups`` independent groups per class (of ``num_classes``) gives it."""
    requirement = case.requirement
    if not METRICS[requirement.metric].binomial:
        return CasePlan(case, None)
    needed = tuple(trials_needed(adverse, requirement.threshold, requirement.direction, requirement.confidence)
                   for adverse in ADVERSE_COUNTS)
    on_ingest = case.variant is None  # a variant is an OOD set: its alarm rate is counted on that set
    available = None
    if planned_groups is not None and on_ingest:
        available = planned_groups if case.class_id is not None else planned_groups * num_classes
    return CasePlan(case, needed, available, planned_groups is not None)


def collapsed(plans) -> list[tuple[dict, list[CasePlan]]]:
    """The plans' rows with the cases that share each (same requirement, same figures), in case order."""
    rows: dict[str, tuple[dict, list]] = {}
    for plan in plans:
        row = plan.row()
        rows.setdefault(repr(sorted(row.items())), (row, []))[1].append(plan)
    return list(rows.values())


def _scope(plans, class_names) -> str:
    """Which cases a line stands for: ``class 14 (Stop)``, ``43 classes``, ``15 conditions`` ..."""
    cases = [plan.case for plan in plans]
    parts = []
    classes = sorted({case.class_id for case in cases if case.class_id is not None})
    if len(classes) == 1:
        parts.append(f"class {classes[0]} ({class_names[classes[0]]})")
    elif classes:
        parts.append(f"{len(classes)} classes")
    conditions = list(dict.fromkeys(str(case.condition) for case in cases))
    if conditions != ["clean"]:
        parts.append(conditions[0] if len(conditions) == 1 else f"{len(conditions)} conditions")
    variants = list(dict.fromkeys(case.variant for case in cases if case.variant is not None))
    if variants:
        parts.append(variants[0] if len(variants) == 1 else f"{len(variants)} OOD sets")
    return ", ".join(parts) or "whole ingest"


def _sizes(row: dict) -> str:
    needed = row["groups_needed"]
    if needed is None:
        return f"{_NO_RULE}; bound: {row['bound_method']}"
    if needed[0] is None:
        return "no number decides it (a floor of 1 or a ceiling of 0)"
    no, one, two = needed
    return f"{no:,} {row['unit']} with no {_SINGULAR[row['adverse']]}, {one:,} with one, {two:,} with two"


def plan_lines(plans, class_names) -> list[str]:
    """The plan as terminal lines: one per requirement, its cases with the same figures collapsed
    (``SR-CLASS-RECALL, 43 cases [43 classes]: ...``)."""
    lines = []
    for row, members in collapsed(plans):
        name = row["requirement"] if len(members) == 1 else f"{row['requirement']}, {len(members)} cases"
        rule = row["metric"]
        if row["threshold"] is not None:
            rule += f" {row['direction']} {row['threshold']:g} at {row['confidence'] * 100:g} %"
        line = f"{name} [{_scope(members, class_names)}] {rule}: {_sizes(row)}"
        if row["groups_needed"] is not None and members[0].planned:
            if row["available"] is None:
                line += "; not counted on the ingest (the OOD set's own images)"
            else:
                decides = "decide" if row["decided_with_no_miss"] else "cannot decide"
                line += f"; the planned {row['available']:,} {decides} it with no {_SINGULAR[row['adverse']]}"
        lines.append(line)
    return lines


def plan_document(plans, class_names, planned_groups: int | None, **identity) -> dict:
    """The plan as JSON: ``identity`` (e.g. the requirements file and its hash), the adverse counts, the
    planned groups per class, the collapsed lines and every case."""
    return {**identity, "adverse_counts": list(ADVERSE_COUNTS), "planned_groups_per_class": planned_groups,
            "classes": len(class_names),
            "lines": plan_lines(plans, class_names),
            "cases": [plan.to_dict(class_names) for plan in plans]}
