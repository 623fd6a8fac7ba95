"""The HTML report opened in a real browser (headless Chromium, no network): it renders, prints every requirement
with its verdict, reads at WCAG AA contrast, fits a 400 px screen, and untrusted names reach it only as text.

Class names (model card) and ingest file names are chosen by whoever hands over the model and the
data (``--ood-set`` folder names too, but those become test ids and are refused outside a safe alphabet), CI metadata such as the branch name by any contributor; the auditor opens
the report in a browser. Each payload below would mark ``<body>`` with an attribute
``data-pwned-<where it entered>``, if the report ever let it run.
"""

import base64
import io
import json
import re
import shutil
import subprocess
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

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
    doms = {}
    for name, html in (("report", run.html), ("test log", run.test_log)):
        page = tmp_path / f"{name}.html"
        page.write_text(html)
        doms[name] = rendered_dom(page, tmp_path / "profile")
        facts = parse(doms[name])
        assert pwned_marks(facts) == [], f"an injected handler ran in the {name}, entering through: {pwned_marks(facts)}"
        assert not [a for a in facts.attributes if a[1] in ("onerror", "onload")], f"a handler became markup: {name}"
        assert not [s for s in facts.scripts if "data-pwned" in s], f"an injected <script> became markup: {name}"
    # the test log's results table was rendered by pytest-html's script, one row per given OOD set
    test_ids = parse(doms["test log"]).test_ids
    for ood_name in ood_names:
        assert any(test_id.startswith("safety_tests/") and ood_name in test_id for test_id in test_ids), \
            (ood_name, test_ids)
    # and the other names are shown, escaped, where the report (or, for CI metadata, the test log) shows them
    for shown, where in ((class_names[14], "report"), (img_payload("file14-0"), "report"),
                         (svg_payload("file14-1"), "report"), (img_payload("metadata"), "test log")):
        assert shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in doms[where], shown


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
def default_like_run(run_safety_suite):
    """The bundled model and ingest, on requirements of every kind the default run has: rates per class, under
    weather (contact sheets, charts), the monitor's silent failures, a calibration statistic."""
    run = run_safety_suite("-k", "SR-STOP or SR-WEATHER-STOP-RECALL or SR-SILENT-STOP-MISS or SR-CALIBRATION-ECE",
                           name="browser")
    assert run.returncode in (0, 1) and run.html is not None, run.output
    return run


def test_a_calibration_case_is_labelled_degenerate_exactly_when_its_predictions_fill_too_few_bins(default_like_run):
    calibrated = [r for r in default_like_run.evidence["requirements"] if "reliability" in r["details"]]
    assert {r["requirement"] for r in calibrated} >= {"SR-STOP-CALIBRATION", "SR-CALIBRATION-ECE"}
    for r in calibrated:
        counts = r["details"]["reliability"]["count"]
        occupied = sum(count > 0 for count in counts)
        expected = f"uninformative: {occupied} of {len(counts)} bins occupied" if occupied < 3 else None
        assert r["degenerate"] == expected, r["id"]
        assert (expected is None) or expected in default_like_run.html


@pytest.fixture(scope="module")
def default_like_report(default_like_run, tmp_path_factory):
    page = tmp_path_factory.mktemp("browser") / "report.html"
    page.write_text(default_like_run.html)
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
    assert re.search(r'<td rowspan="\d+" id="hazard-G\d+">G\d+: The vehicle does not stop at a stop sign[^<]*</td>'
                     r'<td rowspan="\d+" class="goal-(supported|not_supported)">', case)
    assert "G0 [◇ undeveloped]" in case and '<td rowspan="1" class="goal-undeveloped">◇ undeveloped</td>' in case
    assert '<a href="#requirement-SR-STOP-RECALL">' in case and dom.count('<tr id="requirement-SR-STOP-RECALL">') == 1
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
    # pytest-html's results table is the test log beside the report, which links it
    assert '<a href="report.tests.html">report.tests.html</a>' in dom and 'id="results-table"' not in dom
    # a table of contents whose every entry leads to a section, and the margins table to the requirements' rows
    contents = dom[dom.index('<nav class="toc"'):dom.index("</nav>")]
    for target in re.findall(r'href="#([^"]+)"', contents) + re.findall(r'<td><a href="#(case-[^"]+)">', dom):
        assert dom.count(f'id="{unquote(target)}"') == 1, target


def test_every_image_of_the_report_is_embedded_and_decodes(default_like_report, tmp_path):
    facts = parse(rendered_dom(default_like_report, tmp_path / "profile"))
    sources = [value for tag, name, value in facts.attributes if tag == "img" and name == "src"]
    assert sources, "the report of a run with perturbations shows contact sheets"
    for source in sources:
        header, _, payload = source.partition(",")
        assert header.startswith("data:image/") and header.endswith(";base64"), source[:80]
        with Image.open(io.BytesIO(base64.b64decode(payload, validate=True))) as image:
            image.load()
            assert image.width > 0 and image.height > 0


PDFTOTEXT = shutil.which("pdftotext")


@pytest.mark.skipif(PDFTOTEXT is None, reason="pdftotext is absent (Debian package `poppler-utils`; "
                                              "`make browser` installs it)")
def test_the_printed_report_holds_every_requirement_case_with_its_verdict(default_like_run, default_like_report,
                                                                         tmp_path):
    """Printed on A4, the requirements table keeps its last column (pytest-html's body min-width once clipped it
    after "Threshold"), every <details> is open and every test row's evidence (its charts) is shown."""
    assert default_like_report.stat().st_size < 5_000_000
    pdf = tmp_path / "report.pdf"
    chromium(default_like_report, tmp_path / "profile", "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    assert pdf.read_bytes().startswith(b"%PDF") and 0 < pdf.stat().st_size < 10_000_000
    pages = subprocess.run([PDFTOTEXT, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    # A4 (the two wide tables on landscape pages)
    assert "pts (A4)" in subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in pages.splitlines() if line.strip()]
    for case in default_like_run.evidence["requirements"]:
        # the requirements table's row: the case id first, its verdict last (the cells are top-aligned)
        assert [case["id"], case["verdict"]] in [[row[0], row[-1]] for row in rows], case["id"]
        # and the safety case's per-requirement table of cases, printed open, ends a line in it again
        assert sum(case["id"] in row and row[-1] == case["verdict"] for row in rows) >= 2, case["id"]
    # the evidence under each case is printed: the reliability diagram's title
    assert "reliability diagram" in pages


def test_every_chart_and_thumbnail_shows_with_javascript_off(default_like_report, tmp_path):
    """The evidence is static HTML under each case: the report carries no script at all."""
    assert "<script" not in default_like_report.read_text()
    static = rendered_dom(default_like_report, tmp_path / "profile")
    charts, thumbnails = '<svg xmlns="http://www.w3.org/2000/svg" class="chart"', '<img src="data:image/png'
    # two reliability diagrams (calibration), two robustness charts (weather, silent misses)
    assert static.count(charts) >= 4 and static.count(thumbnails) > 0


#: Run in the page after its own scripts: every test row's evidence and every <details> opened, then per element
#: with text of its own, the WCAG 2 contrast of its colour (SVG text: its fill) on the background behind it, and
#: every element that reaches past the window's right edge without a scrolling box of its own around it.
MEASURE_SCRIPT = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  document.querySelectorAll("#results-table .extras-row.hidden").forEach((row) => row.classList.remove("hidden"));
  document.querySelectorAll("details").forEach((details) => { details.open = true; });
  const rgba = (text) => { const v = text.match(/[\\d.]+/g).map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
  const over = (top, bottom) => top.slice(0, 3).map((c, i) => c * top[3] + bottom[i] * (1 - top[3]));
  const luminance = (rgb) => {
    const [r, g, b] = rgb.map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (element) => {
    const layers = [];
    for (let e = element; e instanceof Element; e = e.parentElement) {
      const layer = rgba(getComputedStyle(e).backgroundColor);
      if (layer[3] > 0) layers.push(layer);
      if (layer[3] === 1) break;
    }
    return layers.reverse().reduce((below, layer) => over(layer, below), [255, 255, 255]);
  };
  const lowContrast = [], clipped = [];
  let texts = 0;
  for (const element of document.body.querySelectorAll("*")) {
    if (["SCRIPT", "STYLE", "title", "desc"].includes(element.tagName)) continue;
    // an SVG's definitions (a marker's arrow head) are templates drawn elsewhere, not where their own box says
    if (element.closest("defs")) continue;
    if (!element.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    const rect = element.getBoundingClientRect();
    // clipped: it runs past a box that hides its overflow (an <svg>'s edge, say), or past the window's right
    // edge with no scrolling box inside the window around it
    let reachable = rect.right <= window.innerWidth + 1, cut = false;
    for (let box = element.parentElement; box && !cut && !(reachable && box === document.body); box = box.parentElement) {
      const overflow = getComputedStyle(box).overflowX, edge = box.getBoundingClientRect();
      if (overflow === "hidden" || overflow === "clip") cut = rect.right > edge.right + 1 || rect.left < edge.left - 1;
      else if (overflow !== "visible" && edge.right <= window.innerWidth + 1) reachable = true;
    }
    if (cut || !reachable) clipped.push(element.outerHTML.slice(0, 120));
    const ownText = [...element.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    if (!ownText || rect.width === 0) continue;
    const style = getComputedStyle(element);
    const colour = rgba(element instanceof SVGElement ? style.fill : style.color);
    const behind = background(element);
    const light = [luminance(over(colour, behind)), luminance(behind)].sort((a, b) => b - a);
    const ratio = (light[0] + 0.05) / (light[1] + 0.05);
    texts += 1;
    if (ratio < 4.5) lowContrast.push({text: element.textContent.trim().slice(0, 60), tag: element.tagName,
                                       class: element.getAttribute("class"), ratio: Math.round(ratio * 100) / 100});
  }
  const page = window.parent.document;  // the frame's parent when measured in a narrow frame
  const out = page.createElement("pre");
  out.id = "measurements";
  out.textContent = JSON.stringify({width: window.innerWidth, pageWidth: document.documentElement.scrollWidth,
                                    texts, lowContrast, clipped});
  page.body.appendChild(out);
}, 500));
</script>
"""


def measured(page: Path, profile: Path, width: int | None = None) -> dict:
    """The measurements of MEASURE_SCRIPT on a copy of ``page``; with ``width``, in a frame that wide (headless
    Chromium keeps its window at least 500 px wide)."""
    measuring = page.with_name("measuring-" + page.name)
    html = page.read_text().replace("</body>", MEASURE_SCRIPT + "</body>")
    if width is not None:
        html = (f'<!DOCTYPE html><html><body style="margin:0"><iframe width="{width}" height="900" style="border:0" '
                f'srcdoc="{escape(html, quote=True)}"></iframe></body></html>')
    measuring.write_text(html)
    dom = rendered_dom(measuring, profile)
    found = re.search(r'<pre id="measurements">(.*?)</pre>', dom, re.S)
    assert found, "the measuring script did not run"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                      .replace("&amp;", "&"))


def test_every_text_of_the_report_reads_at_wcag_aa_contrast(default_like_report, tmp_path):
    """pytest-html's grey (#999 on white, 2.85:1) once reached every cell; chart legends were in their series' colour."""
    facts = measured(default_like_report, tmp_path / "profile")
    assert facts["texts"] > 500, "the page's text (tables, test rows, chart labels) was measured"
    assert facts["lowContrast"] == [], facts["lowContrast"][:20]


def test_the_contrast_check_finds_pytest_html_grey(tmp_path):
    """The check above is only worth something if it catches grey text on white."""
    page = tmp_path / "grey.html"
    page.write_text('<!DOCTYPE html><html><body style="color:#999"><p>grey</p>'
                    '<svg><text x="5" y="15" fill="#ff7f0e">orange</text></svg></body></html>')
    facts = measured(page, tmp_path / "profile")
    assert [(low["text"], low["ratio"]) for low in facts["lowContrast"]] == [("grey", 2.85), ("orange", 2.53)]


def test_nothing_is_clipped_on_a_400_px_screen(default_like_report, tmp_path):
    """Tables scroll inside their own box, charts and the safety-case diagram scale down, long ids wrap."""
    facts = measured(default_like_report, tmp_path / "profile", width=400)
    assert facts["width"] == 400
    assert facts["clipped"] == [] and facts["pageWidth"] <= 400, facts["clipped"][:10]


def test_the_clipping_check_finds_a_wide_table_and_text_past_a_charts_edge(tmp_path):
    page = tmp_path / "wide.html"
    page.write_text('<!DOCTYPE html><html><body><table><tr><td style="min-width:700px">wide</td></tr></table>'
                    '<div style="overflow-x:auto"><div style="width:700px">scrolls</div></div>'
                    '<svg width="100" height="20"><text x="60" y="15">cut legend</text></svg></body></html>')
    facts = measured(page, tmp_path / "profile", width=400)
    assert facts["width"] == 400 and facts["pageWidth"] > 400
    assert facts["clipped"] and all("wide" in element or "cut legend" in element for element in facts["clipped"])
    assert any(element.startswith("<text") for element in facts["clipped"])
