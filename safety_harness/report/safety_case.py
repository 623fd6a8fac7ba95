"""The safety case drawn from the evidence: the goal structure of ``document.safety_case`` as inline SVG.

GSN shapes (GSN Community Standard v3, 2021): goals as rectangles, the strategy as a parallelogram,
context as rounded rectangles, the assumption as an oval marked "A", solutions as circles, an
undeveloped goal with a hollow diamond under it. A status never rests on colour alone: every goal
carries its status word and symbol, every solution its verdict's symbol and word. Every node links
to its rows in the report. The statuses are the evidence's (safety_harness/evidence/safety_case.py);
nothing is judged here, and every text is escaped.
"""

import textwrap
from dataclasses import dataclass
from html import escape

from safety_harness.evidence.document import EvidenceDocument, RequirementEvidence, SafetyCaseHazard, SafetyCaseSolution

#: a status or verdict in words with its symbol, its fill and its stroke
STATUS_STYLES = {
    "supported": ("✓ supported", "#d8f5d8", "#2a8a2a"),
    "not_supported": ("✗ not supported", "#fbdcdc", "#b52a2a"),
    "undeveloped": ("◇ undeveloped", "#eeeeee", "#666"),
}
VERDICT_STYLES = {
    "pass": ("✓", "#d8f5d8", "#2a8a2a"),
    "fail": ("✗", "#fbdcdc", "#b52a2a"),
    "insufficient_evidence": ("?", "#ffe3bf", "#c77800"),
    "not_applicable": ("–", "#e8e8e8", "#666"),
}


def status_text(status: str) -> str:
    """A goal status as the report writes it: symbol and words."""
    return STATUS_STYLES[status][0]


#: where the report shows what a context node names: the data (summary), the operating conditions and the
#: assumptions (limitations); the model's context is the top goal's own text
CONTEXT_ANCHORS = {"C2": "data-provenance", "C3": "operating-conditions"}
ASSUMPTIONS_ANCHOR = "assumptions"


def hazard_anchor(hazard: SafetyCaseHazard) -> str:
    return f"hazard-{hazard.id}"


@dataclass(frozen=True)
class SolutionRow:
    """A requirement under a hazard goal, with its cases as the evidence records them."""

    solution: SafetyCaseSolution
    cases: tuple[RequirementEvidence, ...]
    worst_case: RequirementEvidence


def solution_rows(document: EvidenceDocument, hazard: SafetyCaseHazard) -> list[SolutionRow]:
    cases = {case.id: case for case in document.requirements}
    return [SolutionRow(solution, tuple(cases[i] for i in solution.cases), cases[solution.worst_case])
            for solution in hazard.solutions]


WIDTH = 1000
_LINE = 14
_PAD = 8
_GAP = 24
_SOLUTION_RADIUS, _SOLUTION_WIDTH, _SOLUTIONS_PER_LINE, _SOLUTION_ROW = 13, 240, 2, 36
_HAZARD_LEFT, _HAZARD_RIGHT, _SOLUTIONS_LEFT = 60, 480, 510
_STROKE = "#345"


def _text_lines(x: float, y: float, lines: list[str], anchor: str = "start", bold_first: bool = False) -> str:
    bold = ' font-weight="bold"'
    return "".join(f'<text x="{x:.0f}" y="{y + (i + 1) * _LINE - 3:.0f}" text-anchor="{anchor}"'
                   f'{bold if bold_first and i == 0 else ""}>{escape(line)}</text>'
                   for i, line in enumerate(lines))


def _box_height(lines: list[str]) -> int:
    return len(lines) * _LINE + 2 * _PAD


def _link(anchor: str, content: str) -> str:
    return f'<a href="#{escape(anchor)}">{content}</a>'


def _arrow(x1: float, y1: float, x2: float, y2: float, in_context: bool = False) -> str:
    """GSN's links: SupportedBy with a filled arrowhead, InContextOf with a hollow one."""
    marker = "gsn-in-context-of" if in_context else "gsn-supported-by"
    return (f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="{_STROKE}" '
            f'marker-end="url(#{marker})"/>')


_MARKERS = ('<defs><marker id="gsn-supported-by" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{_STROKE}"/></marker>'
            '<marker id="gsn-in-context-of" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#fff" stroke="{_STROKE}"/></marker></defs>')


def _undeveloped_diamond(cx: float, top: float) -> str:
    return (f'<polygon points="{cx:.0f},{top:.0f} {cx + 8:.0f},{top + 8:.0f} {cx:.0f},{top + 16:.0f} '
            f'{cx - 8:.0f},{top + 8:.0f}" fill="#fff" stroke="{_STROKE}"><title>undeveloped</title></polygon>')


def _goal(x: float, y: float, width: float, node_id: str, status: str, text: str, wrap: int,
          anchor: str | None, supported_by_strategy: bool = False) -> tuple[str, float]:
    """A goal rectangle with its id, status (word and symbol) and text, and the undeveloped diamond under an
    undeveloped goal that no strategy develops further; its height."""
    words, fill, stroke = STATUS_STYLES[status]
    lines = [f"{node_id} [{words}]", *textwrap.wrap(text, wrap)]
    height = _box_height(lines)
    svg = (f'<rect x="{x:.0f}" y="{y:.0f}" width="{width:.0f}" height="{height}" fill="{fill}" stroke="{stroke}" '
           f'stroke-width="2"/>' + _text_lines(x + 8, y + _PAD, lines, bold_first=True))
    undeveloped = status == "undeveloped" and not supported_by_strategy
    if undeveloped:
        svg += f'<line x1="{x + width / 2:.0f}" y1="{y + height:.0f}" x2="{x + width / 2:.0f}" ' \
               f'y2="{y + height + 6:.0f}" stroke="{_STROKE}"/>' + _undeveloped_diamond(x + width / 2, y + height + 6)
    return (_link(anchor, svg) if anchor else svg), height + (22 if undeveloped else 0)


def _context_row(document: EvidenceDocument, top: float) -> tuple[str, float, list[float]]:
    """The context nodes (rounded rectangles) and the assumption (an oval marked A) side by side, leaving the
    middle free for the link from the top goal to the strategy. Returns the SVG, the row's height and the
    nodes' centres."""
    case = document.safety_case
    nodes = [(node.id, node.text, False) for node in case.context]
    nodes += [(a.id, f"{a.text} Provenance: {a.provenance}. Independence: {a.independence}.", True)
              for a in case.assumptions]
    anchors = [CONTEXT_ANCHORS.get(node.id) for node in case.context] + [ASSUMPTIONS_ANCHOR] * len(case.assumptions)
    middle_gap = 40
    width = (WIDTH - 20 - middle_gap - 10 * (len(nodes) - 2)) / len(nodes)
    wrapped = [[node_id, *textwrap.wrap(text, int(width / 6.4) - (6 if oval else 0))] for node_id, text, oval in nodes]
    height = max(_box_height(lines) + (24 if oval else 0) for lines, (_, _, oval) in zip(wrapped, nodes, strict=True))
    parts, centres, x = [], [], 10.0
    for index, (lines, (_, _, oval), anchor) in enumerate(zip(wrapped, nodes, anchors, strict=True)):
        if index == len(nodes) // 2:
            x += middle_gap - 10
        cx = x + width / 2
        node = []
        if oval:
            node.append(f'<ellipse cx="{cx:.0f}" cy="{top + height / 2:.0f}" rx="{width / 2:.0f}" ry="{height / 2:.0f}" '
                         f'fill="#fffbe6" stroke="{_STROKE}"/><text x="{x + width - 6:.0f}" y="{top + height + 12:.0f}" '
                         f'font-weight="bold">A</text>')
            text_top = top + (height - _box_height(lines)) / 2
        else:
            node.append(f'<rect x="{x:.0f}" y="{top:.0f}" width="{width:.0f}" height="{height}" rx="12" ry="12" '
                        f'fill="#f4f8ff" stroke="{_STROKE}"/>')
            text_top = top
        node.append(_text_lines(cx, text_top + _PAD, lines, anchor="middle", bold_first=True))
        parts.append(_link(anchor, "".join(node)) if anchor else "".join(node))
        centres.append(cx)
        x += width + 10
    return "".join(parts), height, centres


def _solution(solution: SafetyCaseSolution, cx: float, cy: float) -> str:
    symbol, fill, stroke = VERDICT_STYLES[solution.verdict.value]
    return _link(solution.anchor,
                 f'<circle cx="{cx:.0f}" cy="{cy:.0f}" r="{_SOLUTION_RADIUS}" fill="{fill}" stroke="{stroke}" '
                 f'stroke-width="2"><title>{escape(solution.id)}: {escape(solution.title)}</title></circle>'
                 f'<text x="{cx:.0f}" y="{cy + 5:.0f}" text-anchor="middle" font-size="14" font-weight="bold">'
                 f'{symbol}</text>'
                 + _text_lines(cx + _SOLUTION_RADIUS + 5, cy - _LINE, [solution.requirement,
                                                                         solution.verdict.value.replace("_", " ")],
                               bold_first=True))


def safety_case_svg(document: EvidenceDocument) -> str:
    """The goal structure of ``document.safety_case`` as inline SVG."""
    case = document.safety_case
    top = case.top_goal
    parts = [_MARKERS]
    goal_svg, goal_height = _goal(10, 10, WIDTH - 20, top.id, top.status, top.text, 130, None,
                                  supported_by_strategy=True)
    parts.append(goal_svg)
    goal_bottom = 10 + goal_height
    context_top = goal_bottom + _GAP
    context_svg, context_height, centres = _context_row(document, context_top)
    parts.append(context_svg)
    parts += [_arrow(WIDTH / 2, goal_bottom, centre, context_top, in_context=True) for centre in centres]
    strategy_top = context_top + context_height + _GAP
    strategy_lines = [case.strategy.id, *textwrap.wrap(case.strategy.text, 125)]
    strategy_height = _box_height(strategy_lines)
    parts.append(_arrow(WIDTH / 2, goal_bottom, WIDTH / 2, strategy_top)
                 + f'<polygon points="30,{strategy_top:.0f} {WIDTH - 10},{strategy_top:.0f} {WIDTH - 30},'
                   f'{strategy_top + strategy_height:.0f} 10,{strategy_top + strategy_height:.0f}" fill="#f6f6f6" '
                   f'stroke="{_STROKE}"/>' + _text_lines(40, strategy_top + _PAD, strategy_lines, bold_first=True))
    spine_x, spine_top = 40, strategy_top + strategy_height
    y = spine_top + 20
    for hazard in case.hazards:
        solution_lines = -(-len(hazard.solutions) // _SOLUTIONS_PER_LINE)
        goal_svg, goal_height = _goal(_HAZARD_LEFT, y, _HAZARD_RIGHT - _HAZARD_LEFT, hazard.id, hazard.status,
                                      f"Hazard mitigated: {hazard.hazard}", 64, hazard_anchor(hazard))
        height = max(goal_height, solution_lines * _SOLUTION_ROW)
        middle = y + min(goal_height, height) / 2
        parts.append(_arrow(spine_x, middle, _HAZARD_LEFT, middle) + goal_svg)
        for position, solution in enumerate(hazard.solutions):
            row, column = divmod(position, _SOLUTIONS_PER_LINE)
            cx = _SOLUTIONS_LEFT + _SOLUTION_RADIUS + column * _SOLUTION_WIDTH
            cy = y + row * _SOLUTION_ROW + _SOLUTION_RADIUS + 4
            parts.append(_arrow(_HAZARD_RIGHT, middle, cx - _SOLUTION_RADIUS, cy) + _solution(solution, cx, cy))
        y += height + 14
    if case.hazards:
        parts.insert(1, f'<line x1="{spine_x}" y1="{spine_top:.0f}" x2="{spine_x}" y2="{y - 14 - 10:.0f}" '
                        f'stroke="{_STROKE}"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="safety-case" width="{WIDTH}" height="{y + 10:.0f}" '
            f'viewBox="0 0 {WIDTH} {y + 10:.0f}" font-family="sans-serif" font-size="11" role="img">'
            f'<title>Goal structure: the top goal in its context, the hazards and the requirements that support '
            f'them</title>' + "".join(parts) + "</svg>")
