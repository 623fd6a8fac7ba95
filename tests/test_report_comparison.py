"""The comparison of two runs (python -m safety_harness.report A.json B.json --html OUT.html): what changed,
from the two evidence documents alone, in a process that cannot import TensorFlow or Keras."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
import yaml

from safety_harness.core.errors import HarnessInputError
from safety_harness.evidence.document import SCHEMA_VERSION, EvidenceDocument
from safety_harness.report import comparison
from safety_harness.report.__main__ import main
from safety_harness.report.comparison import compare, read_evidence, render_comparison
from tests.conftest import PROJECT_ROOT, report_without_tensorflow
from tests.evidence_samples import sample_evidence
from tests.test_report_in_browser import (
    CHROMIUM,
    chromium,
    img_payload,
    parse,
    pwned_marks,
    rendered_dom,
    script_payload,
)


class _Rows(HTMLParser):
    """The text of every table row under each ``<h2 id=...>``, cell by cell."""

    def __init__(self):
        super().__init__()
        self.sections: dict[str, list[list[str]]] = {}
        self._section = self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self._section = dict(attrs).get("id")
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join(" ".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.sections.setdefault(self._section, []).append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str) -> dict[str, list[list[str]]]:
    parser = _Rows()
    parser.feed(html)
    return parser.sections


def _case(evidence: dict, case_id: str) -> dict:
    return next(case for case in evidence["requirements"] if case["id"] == case_id)


#: a stop sign one run lists among a case's adverse samples
MISSED_STOP = {"path": "Images/00042.png", "true_class": 14, "predicted_class": 3, "score": 0.61}


def candidate_of(released: dict) -> dict:
    """``released`` with what a candidate might change: a failure fixed, a pass lost, a threshold moved, one
    case dropped and one added."""
    candidate = json.loads(json.dumps(released))
    robust, clean, undecided, _unlabelled = candidate["requirements"]  # in the order sample_evidence writes them
    clean.update(verdict="pass", value=0.99, bound=0.97, margin=0.02)
    robust.update(verdict="fail", value=0.9, bound=0.88, margin=-0.07,
                  adverse_samples={"count": 30, "cap": 50, "listed": [MISSED_STOP] + [
                      {**MISSED_STOP, "path": f"0{i:04d}.png"} for i in range(29)]})
    undecided.update(threshold=0.9)
    candidate["requirements"] = [robust, clean, undecided, {**clean, "id": "added", "verdict": "fail", "value": 0.9,
                                                            "bound": 0.87, "margin": -0.08, "condition": "fog:2"}]
    return candidate


def test_changed_verdicts_new_and_fixed_failures_and_cases_in_one_run():
    released = sample_evidence()
    _case(released, "robust")["adverse_samples"] = {"count": 1, "cap": 50, "listed": [
        {"path": "Images/00007.png", "true_class": 14, "predicted_class": 14, "score": 0.7}]}
    before, after = (EvidenceDocument.model_validate(e) for e in (released, candidate_of(released)))
    result = compare(before, after)
    changes = [(pair.id, pair.verdict_change, pair.release_effect) for pair in result.verdict_changes]
    assert changes == [("robust", "new failure", "now blocks"), ("clean", "fixed failure", "no longer blocks")]
    assert [(pair.id, pair.definition_changes) for pair in result.definition_changed] == [("undecided", ["threshold"])]
    assert [case.id for case in result.only_before] == ["unlabelled"]
    assert [case.id for case in result.only_after] == ["added"]
    robust = next(pair for pair in result.pairs if pair.id == "robust")
    assert (robust.adverse_before, robust.adverse_after, robust.adverse_change) == (1, 30, 29)
    assert [sample.path for sample in robust.adverse_only_before] == ["Images/00007.png"]
    assert [sample.path for sample in robust.adverse_only_after][:2] == ["Images/00042.png", "00000.png"]
    assert robust.adverse_lists_complete
    assert robust.value_change == pytest.approx(-0.1) and robust.bound_change == pytest.approx(-0.11)

    rows = table_rows(render_comparison(result))
    assert [row[0] for row in rows["verdicts"][1:]] == ["robust title", "clean title"]
    robust_row = next(row for row in rows["adverse"] if row[0] == "robust")
    assert robust_row[1:5] == ["1", "30", "+29", "Images/00007.png: 14 → 14 (p=0.70)"]
    assert robust_row[5].startswith("Images/00042.png: 14 → 3 (p=0.61) 00000.png: 14 → 3 (p=0.61)")
    assert ["undecided", "threshold", "0.9500", "0.9000"] in rows["requirements"]
    assert ["added title", "fog:2", "fail", "0.9000", "0.8700", ">= 0.9500"] in rows["only-one-run"]


def test_two_identical_runs_show_no_change():
    document = EvidenceDocument.model_validate(sample_evidence())
    result = compare(document, document)
    assert not result.verdict_changes and not result.measured_changed and not result.only_after
    assert len(result.unchanged) == len(document.requirements)
    assert "No verdict changed." in render_comparison(result)


def test_every_string_of_either_run_is_escaped():
    def payload(field):
        return f"<script>alert('{field}')</script><img src=x onerror=alert(1)>"

    released = sample_evidence(payload)
    html = render_comparison(compare(*(EvidenceDocument.model_validate(e) for e in (released, candidate_of(released)))))
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&#39;requirements_file&#39;)" in html


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (Debian package `chromium`)")
def test_markup_in_either_run_stays_text_in_the_browser(tmp_path):
    """Every string of both documents a payload that would mark ``<body>`` if it ran."""
    released = sample_evidence(lambda field: script_payload(f"{field}-a") + img_payload(f"{field}-a"))
    page = tmp_path / "comparison.html"
    page.write_text(render_comparison(compare(*(EvidenceDocument.model_validate(e)
                                                for e in (released, candidate_of(released))))))
    facts = parse(rendered_dom(page, tmp_path / "profile"))
    assert pwned_marks(facts) == [] and facts.scripts == []


@pytest.mark.skipif(not (CHROMIUM.exists() and shutil.which("pdftotext")),
                    reason="needs chromium and pdftotext (Debian packages `chromium`, `poppler-utils`)")
def test_the_printed_comparison_holds_every_changed_verdict(tmp_path):
    released = sample_evidence()
    page, pdf = tmp_path / "comparison.html", tmp_path / "comparison.pdf"
    page.write_text(render_comparison(compare(*(EvidenceDocument.model_validate(e)
                                                for e in (released, candidate_of(released))))))
    chromium(page, tmp_path / "profile", "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    text = " ".join(subprocess.run(["pdftotext", "-layout", pdf, "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    for phrase in ("robust", "new failure", "now blocks", "clean", "fixed failure", "no longer blocks",
                   "Only in run A (1)", "unlabelled", "Only in run B (1)", "added"):
        assert phrase in text


def _relative_luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    """WCAG 2.x contrast ratio (L1 + 0.05) / (L2 + 0.05)."""
    lighter, darker = sorted((_relative_luminance(foreground), _relative_luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@pytest.mark.parametrize("foreground", [comparison.TEXT_COLOUR, *comparison.VERDICT_COLOURS.values()])
@pytest.mark.parametrize("background", [comparison.PAGE_COLOUR, comparison.HEADER_COLOUR])
def test_text_colours_reach_wcag_aa_contrast(foreground, background):
    assert contrast(foreground, background) >= 4.5


def test_page_is_self_contained_without_script_and_prints():
    document = EvidenceDocument.model_validate(sample_evidence())
    html = render_comparison(compare(document, document))
    assert not re.search(r"<script|<link|\bsrc=|\bhref=", html)
    assert "@media print" in html and "@page { size: A4" in html


@pytest.mark.parametrize(("content", "expected"), [
    (b"{not json", "is not JSON"),
    (b"\xff\xfe", "is not JSON"),
    (b"[1, 2]", "not an object"),
    (b"[" * 100_000 + b"]" * 100_000, "nests arrays or objects too deeply"),
    (json.dumps({**sample_evidence(), "schema_version": "1.0"}).encode(), f"schema version '1.0'; this harness "
                                                                          f"reads schema version {SCHEMA_VERSION!r}"),
    (json.dumps({**sample_evidence(), "gate": "maybe"}).encode(), "does not follow the evidence schema"),
    (json.dumps({**sample_evidence(), "surprise": 1}).encode(), "does not follow the evidence schema"),
], ids=["broken-json", "not-utf8", "json-array", "deep-nesting", "other-schema-version", "unknown-gate", "undeclared-key"])
def test_unreadable_evidence_is_one_message_naming_the_file(tmp_path, content, expected):
    path = tmp_path / "released.evidence.json"
    path.write_bytes(content)
    with pytest.raises(HarnessInputError) as error:
        read_evidence(path)
    assert str(path) in error.value.problem and expected in error.value.problem


def test_oversized_evidence_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(sample_evidence()))
    monkeypatch.setattr(comparison, "MAX_EVIDENCE_BYTES", 1000)
    with pytest.raises(HarnessInputError, match=r"huge\.json has \d+ bytes, more than the 1000"):
        read_evidence(path)


def test_command_exits_4_with_one_message_and_2_for_three_files(tmp_path, capsys):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(sample_evidence()))
    bad.write_text(json.dumps({**sample_evidence(), "schema_version": "9.9"}))
    assert main([str(good), str(bad), "--html", str(tmp_path / "out.html")]) == 4
    message = capsys.readouterr().err
    assert message.startswith(f"error: evidence file {bad} has schema version '9.9'") and "How to fix" in message
    assert not (tmp_path / "out.html").exists()
    assert main([str(good), str(good), "--html", str(tmp_path)]) == 4
    assert "cannot write the comparison to" in capsys.readouterr().err
    with pytest.raises(SystemExit) as three:
        main([str(good), str(good), str(good), "--html", str(tmp_path / "out.html")])
    assert three.value.code == 2 and "give one evidence file (its run's report) or two" in capsys.readouterr().err


def test_command_runs_with_tensorflow_and_keras_blocked(tmp_path):
    released, candidate = tmp_path / "released.json", tmp_path / "candidate.json"
    released.write_text(json.dumps(sample_evidence()))
    candidate.write_text(json.dumps(candidate_of(sample_evidence())))
    completed = report_without_tensorflow(released, candidate, "--html", tmp_path / "out.html")
    assert completed.returncode == 0, completed.stderr
    assert "new failure" in (tmp_path / "out.html").read_text()


def _requirements_file(folder, name: str, thresholds: dict):
    """The bundled requirements with ``thresholds`` moved, every image counted as independent (the comparison is
    under test here, not the groups: image-level bounds keep the verdicts below where they were measured)."""
    document = yaml.safe_load((PROJECT_ROOT / "safety_tests" / "requirements.yaml").read_text())
    document.setdefault("defaults", {})["independence"] = "images"
    for requirement in document["requirements"]:
        if requirement["id"] in thresholds:
            requirement["threshold"] = thresholds[requirement["id"]]
    path = folder / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def threshold_moved(tmp_path_factory):
    """The requirements as released, and with the stop-sign recall floor lowered to 0.90 (abis47's 263 of 270 stop
    signs then pass) and the stop-sign precision floor raised to 0.99 (its 263 of 263 then fall short of the
    bound)."""
    folder = tmp_path_factory.mktemp("requirements")
    return (_requirements_file(folder, "released.yaml", {}),
            _requirements_file(folder, "moved.yaml", {"SR-STOP-RECALL": 0.90, "SR-STOP-PRECISION": 0.99}))


def test_two_real_runs_with_moved_thresholds_list_the_changed_verdicts(run_safety_suite, shared_path,
                                                                       final_test_subset, threshold_moved, tmp_path):
    model = shared_path("models", "abis47", "traffic_classifier.h5")
    options = (f"--model={model}", f"--model-card={PROJECT_ROOT / 'tests' / 'shared_model_cards' / 'abis47.yaml'}",
               f"--ingest={final_test_subset}", "-k", "SR-STOP-RECALL or SR-STOP-PRECISION")
    released_requirements, moved_requirements = threshold_moved
    released = run_safety_suite(*options, f"--requirements={released_requirements}", name="released")
    candidate = run_safety_suite(*options, f"--requirements={moved_requirements}", name="candidate")
    assert released.evidence and candidate.evidence, released.output + candidate.output
    assert _case(released.evidence, "SR-STOP-RECALL")["verdict"] == "fail", released.output
    assert _case(candidate.evidence, "SR-STOP-RECALL")["verdict"] == "pass", candidate.output
    # the misses are recorded by file in the failing run and in the passing one alike
    missed = _case(released.evidence, "SR-STOP-RECALL")["adverse_samples"]
    assert missed == _case(candidate.evidence, "SR-STOP-RECALL")["adverse_samples"]
    assert 0 < len(missed["listed"]) == min(missed["count"], missed["cap"])
    assert all((final_test_subset / sample["path"]).is_file() and sample["true_class"] == 14 != sample["predicted_class"]
               for sample in missed["listed"])
    paths = tmp_path / "released.json", tmp_path / "candidate.json"
    for path, run in zip(paths, (released, candidate)):
        path.write_text(json.dumps(run.evidence))

    completed = report_without_tensorflow(*paths, "--html", tmp_path / "comparison.html")
    assert completed.returncode == 0, completed.stderr
    rows = table_rows((tmp_path / "comparison.html").read_text())
    verdicts = {row[0].split()[0]: row[2:6] for row in rows["verdicts"][1:]}
    assert verdicts == {
        "SR-STOP-PRECISION": ["pass", "insufficient_evidence", "newly insufficient evidence", "now blocks"],
        "SR-STOP-RECALL": ["fail", "pass", "fixed failure", "no longer blocks"],
    }
    assert ["SR-STOP-RECALL", "threshold", "0.9900", "0.9000"] in rows["requirements"]
    identity = {row[0]: row[1:] for row in rows["identity"][1:]}
    assert identity["Model SHA-256"][0] == identity["Model SHA-256"][1] == released.evidence["model"]["sha256"]
    assert identity["Requirements file (differs)"][1] == str(moved_requirements)
    assert identity["Seed"] == ["0", "0"]
