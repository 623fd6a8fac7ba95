"""The report's own sections, rendered through the Jinja2 templates: every external string is escaped,
the figures the harness draws itself are inserted as markup."""

import hashlib
import re

from safety_harness.evidence.document import EvidenceDocument, write_document
from safety_harness.report.sections import render
from tests.evidence_samples import sample_evidence

CONTACT_SHEET = "data:image/png;base64,iVBORw0KGgo="


def hostile(field: str) -> str:
    return f"<b class=hostile>{field}</b>\"'&"


def render_sample(text=str) -> str:
    evidence = sample_evidence(text)
    return "".join(render(EvidenceDocument.model_validate(evidence), {text("perturbation"): CONTACT_SHEET}))


def test_no_external_string_reaches_the_report_as_markup():
    html = render_sample(hostile)
    assert "<b class=hostile>" not in html
    shown = set(re.findall(r"&lt;b class=hostile&gt;(\w+)&lt;/b&gt;", html))
    # every text an auditor reads in these sections (errors and free-form details are in the test rows; a
    # failed rate is explained by its figures, not its reason)
    assert shown == {
        "robust", "clean", "undecided", "unlabelled", "title", "hazard", "rationale", "class_name", "perturbation",
        "not_applicable_reason", "excluded_path", "excluded_reason", "model_path", "format",
        "loader", "runtime", "card_layout", "channels", "resize", "output", "card_class", "load_warning", "safety_check", "unsafe_allowed", "ingest_path",
        "layout", "reading", "folder", "label_file", "class_name_0", "ignored_path", "ignored_reason", "description",
        "severity_parameter", "severity_value", "harness_version", "harness_commit", "platform", "library",
        "library_version", "stage", "stage_source", "left_out", "report", "variant_channels", "clearly_better",
        "unusable_reason", "preprocessing_rule", "explanation_sample", "explainer", "explainer_not_applicable",
        "explainer_reason", "class_view_name", "class_view_reason",
    }


def test_the_harness_figures_are_inserted_as_markup():
    html = render_sample()
    # the safety-case diagram and the robustness chart of the perturbed requirement
    assert html.count("<svg") == 2 and html.count('<svg xmlns="http://www.w3.org/2000/svg" class="safety-case"') == 1
    assert f'<img src="{CONTACT_SHEET}" alt="contact sheet of perturbation"' in html


def test_the_class_views_show_the_harness_drawn_heatmaps_marked_when_not_evidence():
    drawn = '<div class="evidence-gallery">stop sign heatmaps</div>'
    html = "".join(render(EvidenceDocument.model_validate(sample_evidence()), {}, {14: drawn}))
    assert "<h2>Where the model looks</h2>" in html and drawn in html
    assert "<h3>class_view_name (14)</h3>" in html and "the mean is over 256 of them" in html
    assert '(<strong class="heatmap-failed">failed sanity check</strong>)' in html
    assert "Median share of positive relevance inside the sign's box: 0.8100." in html
    assert "<h3>class_name_0 (0)</h3>\n<p>No map: class_view_reason.</p>" in html


def test_the_sections_show_gate_verdicts_and_rationale():
    html = render_sample()
    assert '<div class="gate gate-fail">RELEASE GATE: FAIL' in html
    assert "Tests that ended in an error without a verdict: 1." in html
    assert "<th>Rationale</th>" in html and "<td>rationale</td>" in html
    assert '<td class="verdict-fail">fail</td>' in html and '<td class="verdict-pass">pass</td>' in html
    assert "<li><strong>clean</strong>: fail: value 0.9 with bound 0.87 against &gt;= 0.95</li>" in html
    assert "0.99 against &gt;= 0.95; at the observed error count 450 samples would be needed (have 300)</li>" in html
    assert "NO MODEL CARD was found" in html
    assert "all 1 passing rate requirement cases hold <strong>simultaneously</strong> with confidence 97.00 %" in html


def test_the_summary_answers_the_release_question():
    html = render_sample()
    summary = html[html.index("<h2>Summary"):html.index("<h2>Safety case")]
    assert '<div class="gate gate-fail">' in summary
    # the two blocking cases, one sentence each; the pass and the not-applicable case are not listed
    assert "<h3>Requirements not met (2)</h3>" in summary
    assert "<li><strong>clean</strong> (title): fail: value 0.9 with bound 0.87 against &gt;= 0.95</li>" in summary
    assert "<strong>undecided</strong>" in summary and "<strong>unlabelled</strong>" not in summary
    # the one case met, with its margin
    assert "<td>robust</td><td>title</td>" in summary and '<td class="num">0.0400</td>' in summary


def test_the_safety_case_groups_requirements_under_their_hazard_with_every_case_expandable():
    evidence = sample_evidence()
    evidence["requirements"][0]["hazard"] = "the sign is missed in rain"
    evidence["requirements"].append({**evidence["requirements"][1], "id": "clean@rain:2", "condition": "rain:2",
                                     "value": 0.8, "bound": 0.7, "margin": -0.25})
    html = "".join(render(EvidenceDocument.model_validate(evidence), {}))
    case = html[html.index("<h2>Safety case"):html.index("<h2>Limitations")]
    assert case.count("<svg") == 1 and "G1: mitigated: the sign is missed in rain" in case
    assert '<td rowspan="1">the sign is missed in rain</td>' in case and '<td rowspan="3">hazard</td>' in case
    # the requirement "clean" has two cases: its worst (smallest margin) is shown, both are behind <details>
    row = case[case.index("<td>clean: title</td>"):]
    row = row[:row.index("</details>")]
    assert '<td class="verdict-fail">fail</td><td>clean@rain:2</td>' in row
    assert "<summary>2 case(s)</summary>" in row and "<td>clean</td>" in row


def test_limitations_are_generated_from_the_run():
    html = render_sample()
    limitations = html[html.index("<h2>Limitations"):html.index("<h2>Requirements")]
    assert "Too few samples to decide 1 requirement case(s)" in limitations
    assert "450 samples would be needed (have 300)" in limitations
    assert "No silent-failure requirement ran" in limitations
    # the sample ingest has images of classes 0 and 14 only
    assert "41 class(es) of the model card have no image in the ingest" in limitations and "1 class 1" in limitations
    assert "Preprocessing was ASSUMED" in limitations
    assert "1 image(s) excluded" in limitations and "1 file(s) of the ingest not read" in limitations
    # rain judged at severity 1 only
    assert "no requirement of this run judged them:\nrain 2, 3, 4, 5." in limitations


def test_the_report_prints_the_digest_of_the_evidence_file_as_written(tmp_path):
    document = EvidenceDocument.model_validate(sample_evidence())
    write_document(tmp_path / "evidence.json", document)
    digest = hashlib.sha256((tmp_path / "evidence.json").read_bytes()).hexdigest()
    html = "".join(render(document, {}))
    assert f"<tr><td>Evidence JSON SHA-256</td><td>{digest}</td></tr>" in html
    assert "<td>2026-11-23T22:00:00+00:00</td>" in html
