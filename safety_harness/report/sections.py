"""The evidence report, rendered from the evidence bundle through Jinja2 templates.

Everything shown comes from the run's :class:`EvidenceDocument` (as written to JSON) and the exhibit
files it references (safety_harness/report/bundle.py): :func:`render_bundle` is the whole page, the same
function for the run (fixtures/report_plugin.py) and for ``python -m safety_harness.report EVIDENCE.json``.
The templates (``templates/*.html.j2``) are rendered with autoescape on, so every string from a model, a
card, an ingest, a requirements file or the command line is escaped by construction; only the charts and
galleries the harness draws itself are inserted as markup, marked ``|safe`` where they are inserted.
"""

from dataclasses import dataclass
from pathlib import Path

import jinja2

from safety_harness.evidence.document import (
    EvidenceDocument,
    PreprocessingCheck,
    PreprocessingVariant,
    RequirementEvidence,
    document_sha256,
)
from safety_harness.evidence.results import samples_needed_text
from safety_harness.evidence.safety_case import requirement_anchor
from safety_harness.families.bundled import METRICS, family_of
from safety_harness.plan.conditions import CLEAN, SEVERITIES, Condition
from safety_harness.report.bundle import Bundle
from safety_harness.report.charts import line_chart_svg
from safety_harness.report.exhibit_html import PictureUri, exhibit_html, gallery_html
from safety_harness.report.safety_case import hazard_anchor, safety_case_svg, solution_rows, status_text

#: how many groups of tied cases among those met each tightest-margins table lists, smallest margin first
TIGHTEST_MARGINS = 5

GATE_TEXT = {
    "pass": "RELEASE GATE: PASS — every evaluated requirement is met, each with its stated confidence.",
    "fail": "RELEASE GATE: FAIL — at least one requirement is not shown to hold.",
    "no_verdict": "RELEASE GATE: NO VERDICT — no requirement could be judged on this data.",
}
#: what the gate reads when the ingest is generated: the verdict stands, the release claim does not
DEMONSTRATION = "(demonstration on generated data: not release evidence)"


def gate_text(document: EvidenceDocument) -> str:
    """The gate's headline: on generated data, marked as a demonstration (the gate and exit code are unchanged)."""
    text = GATE_TEXT[document.gate]
    if not document.data.demonstration:
        return text
    head, _, rest = text.partition(" — ")
    return f"{head} {DEMONSTRATION} — {rest}"

VERDICT_LEGEND = (
    ("pass", "the one-sided confidence bound clears the threshold."),
    ("fail", "the measured value itself misses the threshold."),
    ("insufficient_evidence", "the measured value meets the threshold but the bound does not: too few samples to "
                              "decide. Blocks the release like a fail; the table says how many samples would decide it."),
    ("not_applicable", "the requirement cannot be evaluated on this data (reason given); shown as skipped, never "
                       "as passed."),
)


#: the terms the report uses, defined before their first use (the reading guide opens the report)
GLOSSARY = (
    ("ingest", "the images under test (--ingest), with their true classes when the layout carries labels."),
    ("case", "one requirement judged on one class and condition: one row of the requirements table, one pytest item."),
    ("condition", "clean (the images as read), or perturbation:severity such as rain:2, severity 1 (mild) to 5 "
                  "(extreme); each perturbation's parameters are listed under Perturbations."),
    ("n, successes", "the samples a rate is judged on and the count it is computed from (for a ceiling, the "
                     "events it limits: misses, flips, alarms, silent failures)."),
    ("value, bound", "the measured figure and its one-sided confidence bound at the requirement's confidence: "
                     "the lower bound for a floor (>=), the upper bound for a ceiling (<=)."),
    ("margin", "how far the bound clears the threshold; negative: it does not."),
    ("Clopper–Pearson", "the exact binomial confidence bound every rate is judged on."),
    ("bootstrap bound", "a bound from resampling the images (calibration statistics, 1,000 seeded resamples)."),
    ("DeLong bound", "the normal bound from DeLong's closed-form variance of an AUROC (no resampling)."),
    ("DKW bound", "the Dvoretzky–Kiefer–Wolfowitz bound on a Kolmogorov–Smirnov distance (drift)."),
    ("Holm", "Holm's step-down procedure: the confidence with which all passing rate cases hold at once."),
    ("flip rate", "the share of signs recognised on the clean image whose prediction changes under the "
                  "perturbation."),
    ("accuracy drop", "clean accuracy minus accuracy under the perturbation."),
    ("ECE, MCE", "expected and maximum calibration error: the weighted mean and the largest gap between "
                 "confidence and accuracy over confidence bins."),
    ("OOD", "out of distribution: inputs unlike the training data (other signs, noise, scenes); the detector "
            "raises an alarm on them."),
    ("MSP, Mahalanobis", "OOD detectors: the classifier's maximum softmax probability, and the distance of an "
                         "input's features from the nearest class mean."),
    ("alarm rate, false-alarm rate", "the share of OOD inputs that raise the alarm, and of in-distribution "
                                     "inputs that do."),
    ("AUROC", "area under the ROC curve: the chance that a random OOD input scores as more unusual than a "
              "random in-distribution one."),
    ("drift", "the Kolmogorov–Smirnov distance between the detector scores of the ingest and of the reference "
              "data."),
    ("silent failure", "the classifier is wrong and the runtime monitor raises no alarm."),
    ("coverage", "the share of in-distribution inputs the monitor accepts (no alarm)."),
    ("anomaly index", "Neural Cleanse's outlier measure of the smallest class trigger: |median − min| / "
                      "(1.4826 · MAD) of the classes' trigger L1 norms (shown, not judged: the trigger scan judges "
                      "the smallest norm's share of the median)."),
    ("deletion AUC", "the model's confidence as the most relevant pixels of a map are deleted first, integrated; "
                     "below that of a random order, the map points at what the model uses."),
)


def _cell_text(value) -> str:
    """A table cell's text: a dash for nothing, four decimals for a float, else the value as text."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def requirement_text(r: RequirementEvidence) -> str:
    """The requirement as its family states it; by default its direction and threshold (``>= 0.99``)."""
    stated = METRICS.get(r.metric) and family_of(r.metric).requirement_text
    return stated(r) if stated else f"{r.direction} {r.threshold:g}"


def explanation(r: RequirementEvidence) -> str:
    """Why a requirement did not pass, in one sentence."""
    verdict = r.verdict.value
    if verdict == "not_applicable":
        return f"not applicable: {r.reason}"
    if r.threshold is None:
        return f"{verdict}: {r.reason}"
    text = f"{verdict}: value {r.value} with bound {r.bound} against {r.direction} {r.threshold}"
    if verdict == "insufficient_evidence" and r.samples_needed_status is not None:
        groups = None if r.independence is None else r.independence.groups
        text += f"; {samples_needed_text(r.samples_needed_status, r.samples_needed, r.n, groups)}"
    return text


def _parameters_text(parameters: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in parameters.items())


def _step_text(step: str | dict) -> str:
    """A histogram step in a few characters: ``equalize_hist`` or ``clahe 2/8x8`` (clip limit / tile grid)."""
    if isinstance(step, str):
        return step
    clip_limit, (columns, rows) = step["clahe"]["clip_limit"], step["clahe"]["tile_grid"]
    return f"clahe {clip_limit:g}/{columns}x{rows}"


def preprocessing_check_summary(check: PreprocessingCheck) -> str:
    """The card's figure and every alternative's (accuracy with labels, class entropy without), and the outcome."""
    figure = "accuracy" if check.labelled else "class_entropy"

    def described(variant: PreprocessingVariant) -> str:
        lo, hi = variant.range
        gray = " luma" if variant.channels == "GRAY" and variant.gray == "luma" else ""
        steps = "".join(f" {_step_text(step)}" for step in variant.steps)
        order = "" if variant.output_order is None else " outputs reordered"
        return (f"{variant.channels}{gray}{steps} [{lo:g}, {hi:g}]{order} "
                f"{variant.unusable or format(getattr(variant, figure), '.3f')}")

    outcome = f"{check.clearly_better} is clearly better" if check.clearly_better else "no alternative is clearly better"
    return (f"{figure.replace('_', ' ')} on {check.n} seeded ingest images: card {described(check.card)}; "
            f"{'; '.join(described(v) for v in check.alternatives)}. Outcome: {outcome}; {check.rule}.")


def short_sha256(digest: str | None) -> str | None:
    """The first 12 hex digits of a SHA-256 (the evidence holds all 64)."""
    return None if digest is None else f"{digest[:12]}…"


def confidences_text(document: EvidenceDocument) -> str:
    """The per-case confidences the run's cases were judged at, as percentages ("95 %")."""
    levels = sorted({r.confidence for r in document.requirements}, reverse=True)
    return ", ".join(f"{level * 100:.4g} %" for level in levels) or "none"


def joint_family(document: EvidenceDocument) -> list[str]:
    """The cases that set the joint confidence, described by requirement: how many cases of each, and how
    many of them saw no adverse event at all (a ceiling's zero count, a floor's full count)."""
    cases = {r.id: r for r in document.requirements}
    by_requirement: dict[str, list[RequirementEvidence]] = {}
    for case_id in document.gate_joint_confidence.set_by:
        case = cases[case_id]
        by_requirement.setdefault(case.requirement, []).append(case)
    described = []
    for requirement, members in by_requirement.items():
        zero = sum(zero_events(r) for r in members)
        kind = "zero-event " if zero == len(members) else ""
        described.append(f"{len(members)} {kind}{requirement} case{'s' if len(members) > 1 else ''}"
                         + (f" ({zero} with no adverse event)" if 0 < zero < len(members) else "")
                         + f" (n = {', '.join(str(n) for n in sorted({r.n for r in members}))})")
    return described


_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("safety_harness.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.do"],
)
_TEMPLATES.filters["cell_text"] = _cell_text
_TEMPLATES.globals.update(requirement_text=requirement_text, explanation=explanation,
                          parameters_text=_parameters_text, gate_text=gate_text, verdict_legend=VERDICT_LEGEND,
                          glossary=GLOSSARY, preprocessing_check_summary=preprocessing_check_summary,
                          solution_rows=solution_rows, status_text=status_text, hazard_anchor=hazard_anchor,
                          requirement_anchor=requirement_anchor, joint_family=joint_family,
                          confidences_text=confidences_text, short_sha256=short_sha256, exhibit_html=exhibit_html,
                          gallery_html=gallery_html)

#: the test log pytest-html writes beside the report ``<report>.html``: ``<report>.tests.html``
TEST_LOG_SUFFIX = ".tests.html"


def test_log_name(report: str | Path) -> str:
    """The file name of the test log beside the report ``report``."""
    return Path(report).stem + TEST_LOG_SUFFIX


@dataclass(frozen=True)
class Chapter:
    """One section of the report: its anchor, its entry in the table of contents (None: not listed), its template."""

    anchor: str
    title: str | None
    template: str


def chapters(document: EvidenceDocument) -> list[Chapter]:
    """The report's sections in reading order, those with nothing to show for ``document`` left out."""
    listed = [
        Chapter("summary", "Summary: may this model be released?", "gate.html.j2"),
        Chapter("warnings", None, "warnings.html.j2"),
        Chapter("safety-case", "Safety case", "safety_case.html.j2"),
        Chapter("limitations", "Limitations and residual risk", "limitations.html.j2"),
        Chapter("requirements", "Requirements", "requirements.html.j2"),
        Chapter("perturbations", "Perturbations", "perturbations.html.j2") if document.perturbations else None,
        Chapter("model", "Model under test", "model.html.j2"),
        Chapter("class-views", "Where the model looks", "class_views.html.j2")
        if document.explanations.class_views else None,
        Chapter("ingest", "Data ingest", "ingest.html.j2"),
        Chapter("run-environment", "Environment", "environment.html.j2"),
        Chapter("integrity", "Identity and integrity", "integrity.html.j2"),
    ]
    return [chapter for chapter in listed if chapter is not None]


def _no_pictures(file: str) -> str:
    raise ValueError(f"the document names the exhibit {file}: render it from its bundle (render_bundle)")


def render(document: EvidenceDocument, picture_uri: PictureUri = _no_pictures, evidence_sha256: str | None = None,
           test_log: str | None = None) -> list[str]:
    """The report's sections, in reading order; ``picture_uri(file)`` gives the data URI of an exhibit file
    the document names (:meth:`Bundle.data_uri`), ``evidence_sha256`` the digest of the evidence file (by default,
    of the file :func:`~safety_harness.evidence.document.write_document` writes), ``test_log`` the file name of
    the test log beside the report (None: none)."""
    html = _TEMPLATES.get_template("report.html.j2").render(
        document=document, picture_uri=picture_uri, test_log=test_log,
        charts=robustness_charts(document),
        verdict_counts=document.verdict_counts.by_verdict(), tightest=tightest_margins(document),
        safety_case_svg=safety_case_svg(document),
        uncovered_classes=uncovered_classes(document), unjudged_severities=unjudged_severities(document),
        evidence_sha256=evidence_sha256 or document_sha256(document), chapters=chapters(document),
        requirement_rows=[row for hazard in document.safety_case.hazards for row in solution_rows(document, hazard)])
    return [html]


def test_log_header(report: str) -> str:
    """What the test log (pytest-html's page) shows above its rows: a link to the report ``report`` beside it."""
    return _TEMPLATES.get_template("test_log.html.j2").render(report=report)


def render_bundle(bundle: Bundle) -> str:
    """The whole report page of ``bundle``: what the run writes to ``--html`` and what
    ``python -m safety_harness.report EVIDENCE.json --html OUT.html`` writes again, byte for byte."""
    document = bundle.document
    test_log = None if document.report is None else test_log_name(document.report)
    sections = "".join(render(document, bundle.data_uri, bundle.evidence_sha256, test_log))
    return _TEMPLATES.get_template("page.html.j2").render(sections=sections)


@dataclass(frozen=True)
class MarginTie:
    """Passing cases of one requirement with the same margin, effective sample size and events to block."""

    cases: list[RequirementEvidence]

    @property
    def first(self) -> RequirementEvidence:
        return self.cases[0]

    @property
    def effective_n(self) -> float | None:
        grouped = self.first.independence
        return grouped.effective_n if grouped and grouped.effective_n is not None else self.first.n


def zero_events(r: RequirementEvidence) -> bool:
    """A rate case that saw no adverse event (a floor's full count, a ceiling's zero): its margin is limited by
    the sample size alone."""
    return r.successes is not None and r.successes == (r.n if r.direction == ">=" else 0)


def tightest_margins(document: EvidenceDocument) -> dict[str, list[MarginTie]]:
    """The passing cases whose bound clears the threshold by the least, tied cases (same requirement, margin,
    effective sample size and events to block) as one entry: those with no adverse event (``"sample size"``:
    only more samples widen the margin) apart from the rest (``"performance"``)."""
    passed = sorted((r for r in document.requirements if r.verdict.value == "pass" and r.margin is not None),
                    key=lambda r: r.margin)
    ties: dict[tuple, MarginTie] = {}
    for r in passed:
        effective_n = r.independence.effective_n if r.independence else None
        ties.setdefault((r.requirement, r.margin, effective_n, r.events_to_block), MarginTie([])).cases.append(r)
    limited = {"sample size": [], "performance": []}
    for tie in ties.values():
        limited["sample size" if zero_events(tie.first) else "performance"].append(tie)
    return {kind: listed[:TIGHTEST_MARGINS] for kind, listed in limited.items()}


def uncovered_classes(document: EvidenceDocument) -> list[str]:
    """The classes of the card without a single image in the ingest, as "ClassId name"."""
    counts = document.ingest.class_counts
    return [f"{class_id} {name}" for class_id, name in enumerate(document.class_names)
            if counts.get(str(class_id), 0) == 0]


def unjudged_severities(document: EvidenceDocument) -> dict[str, list[int]]:
    """For each perturbation the run's requirements judged, the severities none of them judged it at
    (e.g. rain beyond the operational design domain's severity 3)."""
    judged: dict[str, set[int]] = {}
    for r in document.requirements:
        condition = Condition.parse(r.condition)
        if not condition.is_clean:
            judged.setdefault(condition.name, set()).add(condition.severity)
    return {name: [s for s in SEVERITIES if s not in severities] for name, severities in sorted(judged.items())
            if set(SEVERITIES) - severities}


def _clean_reference(document: EvidenceDocument, result: RequirementEvidence):
    """The same metric on clean images: a comparison of a perturbed condition with clean (a metric its family
    judges on perturbed conditions only) is 0 there by definition."""
    if result.metric in METRICS and METRICS[result.metric].conditions == "perturbed":
        return 0.0
    for r in document.requirements:
        if r.condition == str(CLEAN) and r.metric == result.metric and r.class_id == result.class_id and r.value is not None:
            return r.value
    return None


@dataclass(frozen=True)
class RobustnessChart:
    requirement_id: str
    title: str
    requirement_text: str
    svg: str


def robustness_charts(document: EvidenceDocument) -> list[RobustnessChart]:
    """One chart per robustness requirement: the metric against severity, one line per perturbation."""
    grouped: dict[str, dict[str, dict[int, RequirementEvidence]]] = {}
    for r in document.requirements:
        condition = Condition.parse(r.condition)
        if not condition.is_clean and r.threshold is not None:
            grouped.setdefault(r.requirement, {}).setdefault(condition.name, {})[condition.severity] = r
    charts = []
    for requirement_id, by_perturbation in grouped.items():
        any_result = next(iter(next(iter(by_perturbation.values())).values()))
        reference = _clean_reference(document, any_result)
        series = []
        for name, by_severity in by_perturbation.items():
            results = [by_severity.get(s) for s in range(1, 6)]
            values = [reference] + [None if r is None else r.value for r in results]
            bounds = [None] + [None if r is None else r.bound for r in results]
            series.append((name, values, bounds))
        svg = line_chart_svg(["clean", 1, 2, 3, 4, 5], series, threshold=any_result.threshold,
                             y_label=any_result.metric, title=f"{requirement_id}: {any_result.metric} against severity")
        charts.append(RobustnessChart(requirement_id, any_result.title, requirement_text(any_result), svg))
    return charts
