"""The safety-case view of a run: the top goal, the hazards, the requirements under each, their evidence.

Grouped from the evidence document only (requirements by their ``hazard`` text, cases by their
requirement) and drawn as a goal-structure diagram in the style of GSN (Goal Structuring Notation,
Kelly and Weaver 2004): goal -> strategy -> one sub-goal per hazard -> solutions, the requirements
coloured by verdict. The SVG is generated here; every text in it is escaped.
"""

import textwrap
from dataclasses import dataclass
from html import escape

from safety_harness.evidence.document import EvidenceDocument, RequirementEvidence

TOP_GOAL = ("G0: The vehicle stops at every stop sign, acts correctly on every other sign it reads, and hands "
            "over to the driver when it cannot tell what it sees.")
STRATEGY = ("S1: Argued over each hazard identified: each is mitigated when every requirement against it is "
            "shown to hold with its stated confidence on this model and this data.")

#: a requirement's status is that of its worst case: blocking verdicts first, then the smallest margin
_VERDICT_ORDER = ("fail", "insufficient_evidence", "pass", "not_applicable")
VERDICT_COLOURS = {"pass": "#d8f5d8", "fail": "#fbdcdc", "insufficient_evidence": "#ffe3bf", "not_applicable": "#e8e8e8"}
_VERDICT_STROKES = {"pass": "#2a8a2a", "fail": "#b52a2a", "insufficient_evidence": "#c77800", "not_applicable": "#888"}


def _severity(case: RequirementEvidence) -> tuple:
    margin = float("inf") if case.margin is None else case.margin
    return _VERDICT_ORDER.index(case.verdict.value), margin


@dataclass(frozen=True)
class RequirementGroup:
    """One requirement of the requirements file with all its cases (per class, per condition)."""

    requirement: str
    title: str
    rationale: str
    cases: tuple[RequirementEvidence, ...]

    @property
    def worst_case(self) -> RequirementEvidence:
        """The case that decides the requirement: a blocking one, else the one with the smallest margin."""
        return min(self.cases, key=_severity)

    @property
    def verdict(self) -> str:
        return self.worst_case.verdict.value


@dataclass(frozen=True)
class HazardGroup:
    hazard: str
    requirements: tuple[RequirementGroup, ...]


def hazard_groups(document: EvidenceDocument) -> list[HazardGroup]:
    """The requirements grouped by hazard text, both in the order the run judged them."""
    by_hazard: dict[str, dict[str, list[RequirementEvidence]]] = {}
    for case in document.requirements:
        by_hazard.setdefault(case.hazard, {}).setdefault(case.requirement, []).append(case)
    return [HazardGroup(hazard, tuple(RequirementGroup(requirement, cases[0].title, cases[0].rationale, tuple(cases))
                                      for requirement, cases in requirements.items()))
            for hazard, requirements in by_hazard.items()]


WIDTH = 1000
_LINE = 14
_PAD = 8
_SOLUTION_WIDTH, _SOLUTION_HEIGHT, _SOLUTIONS_PER_LINE = 230, 44, 2
_HAZARD_RIGHT, _SOLUTIONS_LEFT = 480, 500


def _text_lines(x: float, y: float, lines: list[str], anchor: str = "start", bold_first: bool = False) -> str:
    bold = ' font-weight="bold"'
    return "".join(f'<text x="{x:.0f}" y="{y + (i + 1) * _LINE - 3:.0f}" text-anchor="{anchor}"'
                   f'{bold if bold_first and i == 0 else ""}>{escape(line)}</text>'
                   for i, line in enumerate(lines))


def _box_height(lines: list[str]) -> int:
    return len(lines) * _LINE + 2 * _PAD


def safety_case_svg(groups: list[HazardGroup]) -> str:
    """The goal structure as inline SVG: goal, strategy, a sub-goal per hazard and its solutions."""
    parts = []
    goal_lines = textwrap.wrap(TOP_GOAL, 130)
    goal_height = _box_height(goal_lines)
    parts.append(f'<rect x="10" y="10" width="{WIDTH - 20}" height="{goal_height}" fill="#eef3fb" stroke="#345"/>'
                 + _text_lines(20, 10 + _PAD, goal_lines))
    strategy_top = 10 + goal_height + 24
    strategy_lines = textwrap.wrap(STRATEGY, 125)
    strategy_height = _box_height(strategy_lines)
    parts.append(f'<line x1="{WIDTH / 2}" y1="{10 + goal_height}" x2="{WIDTH / 2}" y2="{strategy_top}" stroke="#345"/>'
                 f'<polygon points="30,{strategy_top} {WIDTH - 10},{strategy_top} {WIDTH - 30},'
                 f'{strategy_top + strategy_height} 10,{strategy_top + strategy_height}" fill="#f6f6f6" stroke="#345"/>'
                 + _text_lines(40, strategy_top + _PAD, strategy_lines))
    spine_x, top = 40, strategy_top + strategy_height
    y = top + 20
    for index, group in enumerate(groups, start=1):
        hazard_lines = textwrap.wrap(f"G{index}: mitigated: {group.hazard}", 64)
        solution_lines = -(-len(group.requirements) // _SOLUTIONS_PER_LINE)
        height = max(_box_height(hazard_lines), solution_lines * (_SOLUTION_HEIGHT + 8) - 8)
        middle = y + height / 2
        parts.append(f'<line x1="{spine_x}" y1="{middle:.0f}" x2="60" y2="{middle:.0f}" stroke="#345"/>'
                     f'<rect x="60" y="{y}" width="{_HAZARD_RIGHT - 60}" height="{height}" fill="#fff" stroke="#345"/>'
                     + _text_lines(68, y + _PAD, hazard_lines))
        for position, requirement in enumerate(group.requirements):
            row, column = divmod(position, _SOLUTIONS_PER_LINE)
            cx = _SOLUTIONS_LEFT + column * (_SOLUTION_WIDTH + 10) + _SOLUTION_WIDTH / 2
            cy = y + row * (_SOLUTION_HEIGHT + 8) + _SOLUTION_HEIGHT / 2
            verdict = requirement.verdict
            parts.append(f'<line x1="{_HAZARD_RIGHT}" y1="{middle:.0f}" x2="{cx - _SOLUTION_WIDTH / 2:.0f}" y2="{cy:.0f}" '
                         f'stroke="#345"/><ellipse cx="{cx:.0f}" cy="{cy:.0f}" rx="{_SOLUTION_WIDTH / 2:.0f}" '
                         f'ry="{_SOLUTION_HEIGHT / 2:.0f}" fill="{VERDICT_COLOURS[verdict]}" '
                         f'stroke="{_VERDICT_STROKES[verdict]}" stroke-width="2"><title>{escape(requirement.title)}'
                         f'</title></ellipse>'
                         + _text_lines(cx, cy - _LINE, [requirement.requirement, verdict], anchor="middle",
                                       bold_first=True))
        y += height + 14
    parts.insert(0, f'<line x1="{spine_x}" y1="{top}" x2="{spine_x}" y2="{y - 14 - 10:.0f}" stroke="#345"/>'
                 if groups else "")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="safety-case" width="{WIDTH}" height="{y + 10:.0f}" '
            f'viewBox="0 0 {WIDTH} {y + 10:.0f}" font-family="sans-serif" font-size="11" role="img">'
            f'<title>Goal structure: the top goal, the hazards and the requirements that mitigate them</title>'
            + "".join(parts) + "</svg>")
