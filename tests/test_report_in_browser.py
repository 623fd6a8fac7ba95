"""The HTML report opened in a real browser (headless Chromium, no network): it renders, prints, and untrusted
names reach it only as text.

Class names (model card) and ingest file names are chosen by whoever hands over the model and the
data (``--ood-set`` folder names too, but those become test ids and are refused outside a safe alphabet), CI metadata such as the branch name by any contributor; the auditor opens
the report in a browser. Each payload below would mark ``<body>`` with an attribute
``data-pwned-<where it entered>``, if the report ever let it run.
"""

import base64
import io
import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
REFERENCE_CARD = Path(__file__).resolve().parents[1] / "model_under_test" / "reference" / "gtsrb_reference.yaml"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (Debian package `chromium`; "
                                                               "`make test` installs it)")


def img_payload(where: str) -> str:
    return f"<img src=x onerror=\"document.body.setAttribute('data-pwned-{where}','')\">"


def svg_payload(where: str) -> str:
    return f"\"><svg onload=\"document.body.setAttribute('data-pwned-{where}','')\">"


def quote_payload(where: str) -> str:
    return f"'><img src=x onerror=document.body.setAttribute('data-pwned-{where}','')>"


def script_payload(where: str) -> str:
    return f"<script>document.body.setAttribute('data-pwned-{where}','')</script>"


class _DomFacts(HTMLParser):
    """What the rendered page holds: the attributes of every element, the test-id cells' text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.attributes = []  # (tag, name, value)
        self.scripts = []
        self.test_ids = []
        self._open = None

    def handle_starttag(self, tag, attrs):
        self.attributes += [(tag, name, value) for name, value in attrs]
        classes = (dict(attrs).get("class") or "").split()
        self._open = "test_id" if tag == "td" and "col-testId" in classes else "script" if tag == "script" else None
        if self._open:
            (self.test_ids if self._open == "test_id" else self.scripts).append("")

    def handle_endtag(self, tag):
        self._open = None

    def handle_data(self, data):
        if self._open:
            target = self.test_ids if self._open == "test_id" else self.scripts
            target[-1] += data


def chromium(page: Path, profile: Path, *actions: str) -> subprocess.CompletedProcess:
    """Headless Chromium on ``page`` after its scripts ran (3 s of virtual time), with the page's console
    messages logged to stderr (``CONSOLE`` lines)."""
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               "--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000", *actions, page.as_uri()]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed


def console_messages(completed: subprocess.CompletedProcess) -> list[str]:
    return [line for line in completed.stderr.splitlines() if ":CONSOLE" in line]


def rendered_dom(page: Path, profile: Path) -> str:
    """The DOM of ``page`` after its scripts ran, as Chromium serialises it."""
    completed = chromium(page, profile, "--dump-dom")
    assert "<body" in completed.stdout, completed.stderr[-2000:]
    return completed.stdout


def parse(dom: str) -> _DomFacts:
    facts = _DomFacts()
    facts.feed(dom)
    return facts


def pwned_marks(facts: _DomFacts) -> list:
    return [name.removeprefix("data-pwned-") for _, name, _ in facts.attributes if name.startswith("data-pwned")]


def test_the_browser_runs_an_injected_handler(tmp_path):
    """The check below is only worth something if this browser runs such payloads when they are not escaped."""
    page = tmp_path / "unescaped.html"
    # the way pytest-html 4.2 inserts its table cells
    page.write_text("<!DOCTYPE html><html><body><table><tr id=row></tr></table><script>"
                    "const cell = document.createElement('template');"
                    f"cell.innerHTML = {json.dumps('<td>' + img_payload('control') + '</td>')};"
                    "document.getElementById('row').appendChild(cell.content);</script></body></html>")
    assert pwned_marks(parse(rendered_dom(page, tmp_path / "profile"))) == ["control"]


@pytest.fixture(scope="module")
def hostile_run(run_safety_suite, tmp_path_factory):
    """The stop-sign and given-OOD requirements run on the bundled model, with hostile class names,
    ingest file names and a ``--metadata`` value (as a CI branch name). (Hostile ``--ood-set`` folder
    names are refused before the run: see the test below.)"""
    folder = tmp_path_factory.mktemp("hostile")
    card = REFERENCE_CARD.read_text()
    assert "classes: gtsrb43" in card
    names = [script_payload(f"class{i}") if i % 2 else img_payload(f"class{i}") for i in range(43)]
    names[14] = svg_payload("class14")
    class_list = "".join(f"\n  - {json.dumps(name)}" for name in names)
    (folder / "card.yaml").write_text(card.replace("classes: gtsrb43", f"classes:{class_list}"))

    rng = np.random.default_rng(0)
    file_payloads = (img_payload, svg_payload, quote_payload)

    def noise_images(target: Path, stems):
        target.mkdir(parents=True)
        for stem in stems:
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(target / f"{stem}.png")

    ingest = folder / "ingest"
    for class_id in (14, 1, 13):
        noise_images(ingest / str(class_id), [make(f"file{class_id}-{i}") for i, make in enumerate(file_payloads)]
                     + [f"plain{i}" for i in range(3)])
    ood_sets = [folder / "noise-frames", folder / "more_noise.frames"]
    for ood in ood_sets:
        noise_images(ood, [f"frame{i}" for i in range(20)])

    run = run_safety_suite(f"--model={REFERENCE_CARD.with_suffix('.keras')}", f"--model-card={folder / 'card.yaml'}",
                           f"--ingest={ingest}", *(f"--ood-set={ood}" for ood in ood_sets),
                           "--metadata", "Branch", img_payload("metadata"), "-k", "SR-STOP or SR-OOD-GIVEN", name="hostile")
    assert run.returncode in (0, 1) and run.html is not None, run.output
    return run, names, [ood.name for ood in ood_sets]


def test_hostile_names_stay_text_in_the_browser(hostile_run, tmp_path):
    run, class_names, ood_names = hostile_run
    page = tmp_path / "report.html"
    page.write_text(run.html)
    dom = rendered_dom(page, tmp_path / "profile")
    facts = parse(dom)

    assert pwned_marks(facts) == [], f"an injected handler ran, entering through: {pwned_marks(facts)}"
    assert not [a for a in facts.attributes if a[1] in ("onerror", "onload")], "an injected handler became markup"
    assert not [s for s in facts.scripts if "data-pwned" in s], "an injected <script> became markup"
    # the results table was rendered by the report's own script, one row per given OOD set
    for ood_name in ood_names:
        assert any(test_id.startswith("safety_tests/") and ood_name in test_id for test_id in facts.test_ids), \
            (ood_name, facts.test_ids)
    # and the other names are shown, escaped, where the report shows them
    for shown in (class_names[14], img_payload("file14-0"), svg_payload("file14-1"), img_payload("metadata")):
        assert shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in dom, shown


def test_a_hostile_ood_folder_name_is_refused_before_the_run(run_safety_suite, tmp_path):
    ood = tmp_path / img_payload("ood")
    ood.mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(ood / "frame.png")
    run = run_safety_suite(f"--ood-set={ood}", "-k", "SR-OOD-GIVEN", name="hostile-ood")
    assert run.returncode == 4 and "Traceback" not in run.output, run.output
    assert "may hold only letters, digits and _ . -" in run.output and "How to fix:" in run.output


def test_the_browser_reports_a_script_error_on_its_console(tmp_path):
    """The console check below is only worth something if an error in a page shows there."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>")
    (message,) = console_messages(chromium(page, tmp_path / "profile", "--dump-dom"))
    assert "Uncaught ReferenceError" in message


@pytest.fixture(scope="module")
def default_like_report(run_safety_suite, tmp_path_factory):
    """The report of the bundled model and ingest, on requirements of every kind the default run has: rates per
    class, under weather (contact sheets, charts), the monitor's silent failures, a calibration statistic."""
    run = run_safety_suite("-k", "SR-STOP or SR-WEATHER-STOP-RECALL or SR-SILENT-STOP-MISS or SR-CALIBRATION-ECE",
                           name="browser")
    assert run.returncode in (0, 1) and run.html is not None, run.output
    page = tmp_path_factory.mktemp("browser") / "report.html"
    page.write_text(run.html)
    return page


def test_the_report_renders_without_console_errors_with_every_section(default_like_report, tmp_path):
    completed = chromium(default_like_report, tmp_path / "profile", "--dump-dom")
    assert console_messages(completed) == []
    dom = completed.stdout
    # the bundled ingest is generated: the gate says so, outside the release colours
    assert re.search(r'<div class="gate gate-(pass|fail|no_verdict) gate-demonstration">RELEASE GATE: '
                     r'(PASS|FAIL|NO VERDICT) \(demonstration on generated data: not release evidence\) — ', dom)
    assert "<td>ingest</td><td>ingest</td><td>generated: safety_harness.synthetic.renderer v2, seed 20261122</td>" in dom
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="safety-case"' in dom
    assert dom.count('<table class="safety-case-table">') == 1 and dom.count("<details><summary>") >= 4
    # statuses derived from the verdicts: the stop-sign hazard judged here, the hazards deselected undeveloped
    case = dom[dom.index("<h2>Safety case</h2>"):dom.index("<h2>Limitations and residual risk</h2>")]
    assert re.search(r'<td rowspan="\d+" id="hazard-G1">G1: The vehicle does not stop at a stop sign[^<]*</td>'
                     r'<td rowspan="\d+" class="goal-(supported|not_supported)">', case)
    assert "G0 [◇ undeveloped]" in case and '<td rowspan="1" class="goal-undeveloped">◇ undeveloped</td>' in case
    assert '<a href="#requirement-SR-STOP-RECALL">' in case and '<tr id="requirement-SR-STOP-RECALL">' in case
    assert "Jointly: all " in dom and "zero-event SR-SILENT-STOP-MISS cases" in dom and "Family-wise verdict: " in dom
    for heading in ("Summary: may this model be released?", "Safety case", "Limitations and residual risk",
                    "Identity and integrity"):
        assert f"<h2>{heading}</h2>" in dom
    limitations = dom[dom.index("<h2>Limitations and residual risk</h2>"):dom.index("<h2>Requirements</h2>")]
    assert re.findall(r"<h3[^>]*>([^<]+)</h3>", limitations) == [
        "Data provenance and independence", "Operating conditions covered and not covered",
        "Hazards without evidence", "Requirements defined but not in this requirement set",
        "Known detector blind spots", "Statistical caveats", "Assumptions"]
    assert "<li>msp: reads only the classifier's outputs: an unknown input the classifier maps onto a class" in limitations
    # pytest-html's results table stays below the report's own sections
    assert dom.index("Identity and integrity") < dom.index('id="results-table"')


def test_every_image_of_the_report_is_embedded_and_decodes(default_like_report, tmp_path):
    facts = parse(rendered_dom(default_like_report, tmp_path / "profile"))
    # pytest-html's media viewer carries an empty <img src=""> in every row, for media extras the report has none of
    sources = [value for tag, name, value in facts.attributes if tag == "img" and name == "src" and value]
    assert sources, "the report of a run with perturbations shows contact sheets"
    for source in sources:
        header, _, payload = source.partition(",")
        assert header.startswith("data:image/") and header.endswith(";base64"), source[:80]
        with Image.open(io.BytesIO(base64.b64decode(payload, validate=True))) as image:
            image.load()
            assert image.width > 0 and image.height > 0


def test_the_report_is_small_and_prints_to_pdf(default_like_report, tmp_path):
    assert default_like_report.stat().st_size < 5_000_000
    pdf = tmp_path / "report.pdf"
    chromium(default_like_report, tmp_path / "profile", "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    assert pdf.read_bytes().startswith(b"%PDF") and 0 < pdf.stat().st_size < 10_000_000
