"""The report's own sections, rendered through the Jinja2 templates: every external string is escaped,
the figures the harness draws itself are inserted as markup."""

import hashlib
import re

from safety_harness.evidence.document import EvidenceDocument, document_sha256, write_document
from safety_harness.evidence.safety_case import build_safety_case
from safety_harness.report.sections import render
from tests.evidence_samples import sample_evidence

CONTACT_SHEET = "data:image/png;base64,iVBORw0KGgo="
#: an exhibit file name of a bundle (these tests render without one: every picture is CONTACT_SHEET)
PICTURE = f"exhibits/{'ab' * 32}.png"


def pictures(file: str) -> str:
    assert file == PICTURE
    return CONTACT_SHEET


def with_contact_sheet(evidence: dict) -> dict:
    for name, definition in evidence["perturbations"].items():
        definition["contact_sheet"] = {"file": PICTURE, "alt": f"contact sheet of {name}"}
    return evidence


def gallery(title: str, caption: str) -> dict:
    return {"kind": "gallery", "title": title, "note": None, "figure_class": "thumbnail",
            "failed_sanity_check": False, "figures": [{"pictures": [{"file": PICTURE, "alt": caption}],
                                                       "caption": caption}]}


def hostile(field: str) -> str:
    return f"<b class=hostile>{field}</b>\"'&"


def render_sample(text=str) -> str:
    evidence = sample_evidence(text)
    return "".join(render(EvidenceDocument.model_validate(with_contact_sheet(evidence)), pictures))


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
        "library_version", "stage", "stage_source", "left_out", "report", "requirements_file", "variant_channels",
        "gray", "step", "resize_library", "variant_step",
        "clearly_better",
        "unusable_reason", "preprocessing_rule", "explanation_sample", "explainer", "explainer_not_applicable",
        "explainer_reason", "class_view_name", "class_view_reason", "ingest_description", "ood_set", "ood_description",
        "generator", "training_name", "training_description", "not_judged", "not_judged_title", "not_judged_hazard",
        "not_judged_reason", "groups_description", "intended_use", "out_of_scope_use",
    }


def test_the_harness_figures_are_inserted_as_markup():
    html = render_sample()
    # the safety-case diagram and the robustness chart of the perturbed requirement
    assert html.count("<svg") == 2 and html.count('<svg xmlns="http://www.w3.org/2000/svg" class="safety-case"') == 1
    assert f'<img src="{CONTACT_SHEET}" alt="contact sheet of perturbation"' in html


def test_the_class_views_show_the_harness_drawn_heatmaps_marked_when_not_evidence():
    evidence = sample_evidence()
    evidence["explanations"]["class_views"][0]["gallery"] = gallery("stop sign heatmaps", "mean <map>")
    html = "".join(render(EvidenceDocument.model_validate(evidence), pictures))
    assert "<h2>Where the model looks</h2>" in html and "<strong>stop sign heatmaps</strong>" in html
    assert f'<img src="{CONTACT_SHEET}" alt="mean &lt;map&gt;"><figcaption>mean &lt;map&gt;</figcaption>' in html
    assert "<h3>class_view_name (14)</h3>" in html and "the mean is over 256 of them" in html
    assert '(<strong class="heatmap-failed">failed sanity check</strong>)' in html
    assert "Median share of positive relevance inside the sign's box: 0.8100." in html
    assert "<h3>class_name_0 (0)</h3>\n<p>No map: class_view_reason.</p>" in html


def test_the_sections_show_gate_verdicts_and_rationale():
    html = render_sample()
    assert ('<div class="gate gate-fail gate-demonstration">RELEASE GATE: FAIL (demonstration on generated data: '
            'not release evidence) — ' in html)
    assert "Tests that ended in an error without a verdict: 1." in html
    assert "<th>Rationale</th>" in html and "<td>rationale</td>" in html
    assert '<td class="verdict-fail">fail</td>' in html and '<td class="verdict-pass">pass</td>' in html
    assert "<li><strong>clean</strong>: fail: value 0.9 with bound 0.87 against &gt;= 0.95</li>" in html
    assert "0.99 against &gt;= 0.95; at the observed error count 450 independent groups would be needed (have 40: 410 more)</li>" in html
    assert "NO MODEL CARD was found" in html
    assert "all 1 passing rate requirement cases hold <strong>simultaneously</strong> with confidence 97.00 %" in html


def test_the_summary_answers_the_release_question():
    html = render_sample()
    summary = html[html.index("<h2>Summary"):html.index("<h2>Safety case")]
    assert '<div class="gate gate-fail gate-demonstration">' in summary
    # the two blocking cases, one sentence each; the pass and the not-applicable case are not listed
    assert "<h3>Requirements not met (2)</h3>" in summary
    assert "<li><strong>clean</strong> (title): fail: value 0.9 with bound 0.87 against &gt;= 0.95</li>" in summary
    assert "<strong>undecided</strong>" in summary and "<strong>unlabelled</strong>" not in summary
    # the one case met, with its effective sample size (over its groups) and margin
    assert '<td><a href="#case-robust">robust</a></td><td>title</td><td class="num">88.5</td>' in summary
    assert '<td class="num">0.0400</td>' in summary and "<th>Effective n</th>" in summary
    # the data behind the verdicts, and what the confidence rests on
    assert "<td>ingest</td><td>ingest</td><td>generated: generator, seed 7</td>" in summary
    assert "Drawn from the same generator as the model's training data: ingest." in summary
    assert "each requirement case holds at its own stated confidence (95 %)" in summary
    assert "set by 1 zero-event robust case (n = 300)" in summary
    assert "0 of the 1 passing rate cases would pass: the gate would read <strong>FAIL</strong>" in summary
    # the one case met, with its margin
    assert '<td><a href="#case-robust">robust</a></td><td>title</td>' in summary and '<td class="num">0.0400</td>' in summary
    # which links to the case's row of the requirements table
    assert '<tr id="case-robust">' in html[html.index("<h2>Requirements"):]


def test_tightest_margins_group_ties_and_separate_sample_size_from_performance():
    evidence = sample_evidence()
    robust = next(case for case in evidence["requirements"] if case["id"] == "robust")
    twins = [{**robust, "id": f"robust-{i}", "condition": f"rain:{i}"} for i in (2, 3)]
    missed = {**robust, "id": "missed", "requirement": "missed", "successes": 297, "value": 0.99, "bound": 0.975,
              "margin": 0.025, "events_to_block": 2}
    evidence["requirements"] += [*twins, missed]
    html = "".join(render(EvidenceDocument.model_validate(evidence)))
    summary = html[html.index("<h2>Summary"):html.index("<h2>Safety case")]
    sample_size = summary[summary.index('<table class="tightest-sample-size">'):]
    performance = summary[summary.index('<table class="tightest-performance">'):]
    sample_size = sample_size[:sample_size.index("</table>")]
    # the three tied zero-miss cases are one row; the case with misses is in the other table, tighter first
    assert sample_size.count("<tr>") == 2 and ('<td>3 cases: <a href="#case-robust">robust</a>, <a href="#case-'
                                              'robust-2">robust-2</a>, <a href="#case-robust-3">robust-3</a></td>'
                                              in sample_size)
    assert '<td class="num">0.0400</td><td class="num">3</td></tr>' in sample_size
    assert '<td><a href="#case-missed">missed</a></td>' in performance
    assert '<td class="num">0.0250</td><td class="num">2</td></tr>' in performance
    assert summary.index("Limited by the sample size") < summary.index("Limited by performance")


def test_a_degenerate_statistic_is_labelled_under_its_verdict_and_among_the_caveats():
    evidence = sample_evidence()
    robust = next(case for case in evidence["requirements"] if case["id"] == "robust")
    robust.update(metric="classwise_ece", degenerate="uninformative: 2 of 15 bins occupied")
    html = "".join(render(EvidenceDocument.model_validate(evidence)))
    requirements = html[html.index("<h2>Requirements"):]
    assert ('<td class="verdict-pass">pass<br><span class="degenerate">uninformative: 2 of 15 bins occupied</span>'
            '</td>') in requirements
    caveats = html[html.index("<h3>Statistical caveats</h3>"):html.index('<h3 id="assumptions">')]
    assert ("<li>Degenerate statistic: <strong>robust</strong> (classwise_ece, pass) is uninformative: 2 of 15 bins "
            "occupied: it says little about the model whatever its verdict.</li>") in caveats
    assert caveats.count("Degenerate statistic") == 1


def test_the_model_section_shows_the_cards_intended_use_and_says_what_it_lacks():
    html = render_sample()
    model = html[html.index("<h2>Model under test"):html.index("<h2>Data ingest")]
    assert "<td>Intended use (model card)</td><td>intended_use</td>" in model
    assert "<td>Out-of-scope uses (model card)</td><td>out_of_scope_use</td>" in model
    assert "<td>Caveats (model card)</td><td>MISSING: the model card states no caveat</td>" in model
    evidence = sample_evidence()
    evidence["model"]["intended_use"] = None
    html = "".join(render(EvidenceDocument.model_validate(evidence)))
    assert html.count("MISSING: the model card states no") == 3


def test_the_first_screen_names_the_model_and_data_then_a_blank_sign_off_for_the_evidence_file():
    evidence = sample_evidence()
    document = EvidenceDocument.model_validate(evidence)
    html = "".join(render(document))
    summary = html[html.index("<h2>Summary"):html.index("<h2>Safety case")]
    gate, model, data = (summary.index(text) for text in ('class="gate ', "Model judged: model_path, SHA-256 <code>"
                                                          + "ab" * 32, 'id="data-provenance"'))
    sign_off = summary.index('<h3 id="sign-off">Sign-off</h3>')
    assert gate < model < data < sign_off < summary.index("Requirements not met")
    block = summary[sign_off:summary.index("</table></div>", sign_off)]
    assert f"the evidence file with SHA-256 <code>{document_sha256(document)}</code>" in block
    assert re.findall(r"<tr><td>([^<]+)</td>", block) == ["Prepared by", "Reviewed by", "Approved by"]
    assert block.count('<td class="sign-field"></td>') == 12
    for header in ("Role", "Name", "Date", "Decision", "Signature"):
        assert f"<th>{header}" in block


def test_a_table_of_contents_leads_to_an_anchor_on_every_section_requirement_and_case():
    html = render_sample()
    contents = html[html.index('<nav class="toc"'):html.index("</nav>")]
    targets = re.findall(r'<a href="#([^"]+)">', contents)
    assert targets[:3] == ["reading-guide", "summary", "safety-case"] and targets[-1] == "test-details"
    assert {"perturbations", "model", "ingest", "run-environment", "integrity"} <= set(targets)
    for target in targets:
        assert html.count(f'id="{target}"') == 1, target
    document = EvidenceDocument.model_validate(sample_evidence())
    for case in document.requirements:
        assert html.count(f'<tr id="case-{case.id}">') == 1
    for requirement in {case.requirement for case in document.requirements}:
        assert html.count(f'id="requirement-{requirement}"') == 1


def test_the_verdicts_and_terms_are_defined_before_their_first_use():
    html = render_sample()
    guide = html[html.index('<section id="reading-guide">'):html.index("</section>")]
    assert html.index(guide) < html.index('<div class="gate')
    for verdict in ("pass", "fail", "insufficient_evidence", "not_applicable"):
        assert f'<span class="verdict-{verdict}">{verdict}</span>: ' in guide
    for term in ("ingest", "condition", "Clopper–Pearson", "Holm", "flip rate", "silent failure", "coverage", "AUROC",
                 "ECE, MCE", "anomaly index", "deletion AUC", "DeLong bound", "MSP, Mahalanobis"):
        assert f"<dt>{term}</dt><dd>" in guide, term


def test_the_safety_case_groups_requirements_under_their_hazard_with_every_case_expandable():
    evidence = sample_evidence()
    evidence["requirements"][0]["hazard"] = "the sign is missed in rain"
    evidence["requirements"].append({**evidence["requirements"][1], "id": "clean@rain:2", "condition": "rain:2",
                                     "value": 0.8, "bound": 0.7, "margin": -0.25})
    evidence["safety_case"] = build_safety_case(evidence["requirements"], evidence["model"], evidence["data"],
                                                evidence["requirements_not_judged"])
    html = "".join(render(EvidenceDocument.model_validate(evidence)))
    case = html[html.index("<h2>Safety case"):html.index("<h2>Limitations")]
    assert case.count("<svg") == 1 and "Hazard mitigated: the sign is missed in rain" in case
    assert '<td rowspan="1" id="hazard-G1">G1: the sign is missed in rain</td>' in case
    assert '<td rowspan="3" id="hazard-G2">G2: hazard</td>' in case
    # every node links to where the report shows it: solutions to their requirement's row, goals to their
    # hazard's, the data and operating-conditions context and the assumption to their sections
    for anchor in ("requirement-clean", "hazard-G1", "data-provenance", "operating-conditions", "assumptions"):
        assert f'<a href="#{anchor}">' in case and f'id="{anchor}"' in html, anchor
    # the requirement "clean" has two cases: its worst (smallest margin) is shown, both are behind <details>
    row = case[case.index('<td><a href="#requirement-clean">clean</a>: title</td>'):]
    row = row[:row.index("</details>")]
    assert '<td class="verdict-fail">fail</td><td>clean@rain:2</td>' in row
    assert "<summary>2 case(s)</summary>" in row and "<td>clean</td>" in row


def test_limitations_are_generated_from_the_run():
    html = render_sample()
    limitations = html[html.index("<h2>Limitations"):html.index("<h2>Requirements")]
    assert "Too few samples to decide <strong>undecided</strong>" in limitations
    assert "450 independent groups would be needed (have 40: 410 more)" in limitations
    assert "No silent-failure requirement ran" in limitations
    # the sample ingest has images of classes 0 and 14 only
    assert "41 class(es) of the model card have no image in the ingest" in limitations and "1 class 1" in limitations
    assert "Preprocessing was ASSUMED" in limitations
    assert "1 image(s) excluded" in limitations and "1 file(s) of the ingest not read" in limitations
    # rain judged at severity 1 only
    assert "no requirement of this run judged them:\nrain 2, 3, 4, 5." in limitations
    assert re.findall(r"<h3[^>]*>([^<]+)</h3>", limitations) == [
        "Data provenance and independence", "Operating conditions covered and not covered",
        "Hazards without evidence", "Requirements defined but not in this requirement set",
        "Known detector blind spots", "Statistical caveats", "Assumptions"]
    assert "<li><strong>not_judged</strong> (not_judged_title): not_judged_reason.</li>" in limitations
    assert '<a href="#hazard-G2">G2</a> (◇ undeveloped): not_judged_hazard No requirement against it' in limitations
    assert '<a href="#hazard-G1">G1</a> (✗ not supported): hazard Evidence against it: clean.' in limitations
    assert "Groups of dependent images: groups_description (41 groups)" in limitations
    assert "count every image as independent" not in limitations


def test_cases_that_count_every_image_as_independent_are_listed_among_the_limitations():
    evidence = sample_evidence()
    evidence["requirements"][0]["independence"] = {
        "independence": "images", "reason": "not group-aware: the bootstrap resamples images, not groups",
        "image_bound": None, "groups": None, "effective_n": None, "correlation": None, "correlation_source": None}
    html = "".join(render(EvidenceDocument.model_validate(with_contact_sheet(evidence)), pictures))
    limitations = html[html.index("<h2>Limitations"):html.index("<h2>Requirements")]
    assert (f"1 case(s) count every image as independent: <strong>{evidence['requirements'][0]['id']}</strong> "
            "(not group-aware: the bootstrap resamples images, not groups).") in limitations


def test_the_report_prints_the_digest_of_the_evidence_file_as_written(tmp_path):
    document = EvidenceDocument.model_validate(sample_evidence())
    write_document(tmp_path / "evidence.json", document)
    digest = hashlib.sha256((tmp_path / "evidence.json").read_bytes()).hexdigest()
    html = "".join(render(document))
    assert f"<tr><td>Evidence JSON SHA-256</td><td>{digest}</td></tr>" in html
    assert f"<tr><td>Requirements file SHA-256</td><td>{'ef' * 32}</td></tr>" in html
    assert "<tr><td>Requirements file</td><td>requirements_file</td></tr>" in html
    assert "<td>2026-11-23T22:00:00+00:00</td>" in html


def test_each_cases_evidence_is_static_html_under_its_row_open_when_it_blocks():
    evidence = sample_evidence()
    exhibits = {"robust": [gallery("robust chart", "a")], "clean": [gallery("missed signs", "b")]}
    for requirement in evidence["requirements"]:
        requirement["exhibits"] = exhibits.get(requirement["id"], [])
    html = "".join(render(EvidenceDocument.model_validate(evidence), pictures))
    section = html[html.index('<section id="requirements">'):html.index("</section>", html.index("<h2>Requirements"))]
    passed = section[section.index('<tr id="case-robust">'):]
    passed = passed[:passed.index("</tbody>")]
    assert '<tr class="case-evidence"><td colspan="13"><details><summary>Evidence of robust</summary>' \
           '<div class="evidence-gallery"><p><strong>robust chart</strong></p>' in passed
    failed = section[section.index('<tr id="case-clean">'):]
    failed = failed[:failed.index("</tbody>")]
    assert "<details open><summary>Evidence of clean</summary><div class=\"evidence-gallery\"><p><strong>missed signs" in failed
    assert section.count('class="case-evidence"') == 2


def test_the_requirements_table_has_a_row_per_requirement_with_its_cases_folded_under_it():
    evidence = sample_evidence()
    evidence["requirements"].append({**evidence["requirements"][1], "id": "clean@rain:2", "condition": "rain:2",
                                     "value": 0.8, "bound": 0.7, "margin": -0.25})
    evidence["safety_case"] = build_safety_case(evidence["requirements"], evidence["model"], evidence["data"],
                                                evidence["requirements_not_judged"])
    html = "".join(render(EvidenceDocument.model_validate(evidence)))
    section = html[html.index('<section id="requirements">'):html.index("</section>", html.index("<h2>Requirements"))]
    # four requirements, five cases: the requirement "clean" folds its two cases, open as it blocks the release
    assert section.count('<tr id="requirement-') == 4 and section.count('<tr id="case-') == 5
    clean = section[section.index('<tr id="requirement-clean">'):]
    clean = clean[:clean.index("</details>")]
    assert '<td class="num">2</td><td class="verdict-fail">fail</td></tr>' in clean
    assert "<details open><summary>2 case(s) of clean</summary>" in clean
    assert '<tr id="case-clean@rain:2"><td class="case-id">clean@rain:2</td><td>14 class_name</td><td>rain:2</td>' in clean
    # the hazard is stated once per requirement, not per case
    assert clean.count("<td>hazard</td>") == 1
