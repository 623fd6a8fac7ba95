"""The report's own sections, rendered through the Jinja2 templates: every external string is escaped,
the figures the harness draws itself are inserted as markup."""

import re

from safety_harness.evidence.document import EvidenceDocument
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
        "loader", "channels", "resize", "output", "card_class", "load_warning", "safety_check", "unsafe_allowed", "ingest_path",
        "layout", "label_file", "class_name_0", "ignored_path", "ignored_reason", "description",
        "severity_parameter", "severity_value", "harness_version", "harness_commit", "platform", "library",
        "library_version", "stage", "stage_source", "left_out",
    }


def test_the_harness_figures_are_inserted_as_markup():
    html = render_sample()
    assert html.count("<svg") == 1  # the robustness chart of the perturbed requirement
    assert f'<img src="{CONTACT_SHEET}" alt="contact sheet of perturbation"' in html


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
