"""Report charts are well-formed SVG, escape their labels, draw only what has data, and say what they plot
without their colours: a title, the plotted numbers as text, series told apart by pattern or marker."""

import xml.etree.ElementTree as ET

import numpy as np

from safety_harness.metrics.calibration import reliability_bins
from safety_harness.report.charts import line_chart_svg, reliability_diagram_svg, score_histogram, score_histogram_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_line_chart_is_parsable_and_escapes_names():
    svg = line_chart_svg(["clean", "1", "2"], [("stop <14>", [0.99, 0.97, None], [0.98, 0.95, None])],
                         threshold=0.95, y_label="recall & bound")
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "stop <14>" in texts and "recall & bound" in texts and "threshold" in texts
    assert len(root.findall(f"{SVG}circle")) == 3  # two points (the gap is not drawn) and the legend's marker


def test_line_chart_series_differ_by_marker_and_the_threshold_by_its_pattern():
    series = [(name, [0.99, 0.97, 0.95], [0.98, 0.96, 0.93]) for name in ("fog", "rain", "snow")]
    root = ET.fromstring(line_chart_svg(["clean", "1", "2"], series, threshold=0.95, y_label="recall",
                                        title="SR-X: recall against severity"))
    assert root.find(f"{SVG}title").text == "SR-X: recall against severity"
    assert "SR-X: recall against severity" in [t.text for t in root.iter(f"{SVG}text")]
    assert "fog: measured 0.99, 0.97, 0.95; bound 0.98, 0.96, 0.93" in root.find(f"{SVG}desc").text
    # each series draws its points and its legend entry in its own shape: circles, squares, triangles
    assert len(root.findall(f"{SVG}circle")) == 4 and len(root.findall(f"{SVG}rect")) == 1 + 4
    assert len(root.findall(f"{SVG}polygon")) == 4
    threshold = [line for line in root.iter(f"{SVG}line") if line.get("stroke-dasharray") == "8 3 2 3"]
    assert len(threshold) == 1 and threshold[0].get("stroke") == "#000"
    # legend text is dark whatever the series' colour
    assert {t.get("fill") for t in root.iter(f"{SVG}text") if t.text in ("fog", "rain", "snow")} == {"#222"}


def test_reliability_diagram_draws_one_bar_per_non_empty_bin_labelled_with_its_count():
    probabilities = np.array([[0.95, 0.05]] * 3 + [[0.55, 0.45]])
    bins = reliability_bins(probabilities, np.array([0, 0, 1, 0]), n_bins=10)
    root = ET.fromstring(reliability_diagram_svg(bins))
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("fill") == "#1f77b4"]
    assert len(bars) == 2
    assert {"3", "1"} <= {t.text for t in root.iter(f"{SVG}text")}
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"  # scales on a narrow screen
    assert "2 of 10 bins hold samples" in root.find(f"{SVG}desc").text


def test_score_histogram_marks_the_threshold_and_draws_both_sets():
    rng = np.random.default_rng(0)
    svg = score_histogram_svg(score_histogram(rng.normal(0, 1, 200), rng.normal(4, 1, 100), threshold=2.0,
                                              name_out="noise & co"))
    root = ET.fromstring(svg)
    rects = list(root.iter(f"{SVG}rect"))
    # in-distribution bars filled, the OOD set's outlined: told apart without their colours
    assert any(r.get("fill") == "#1f77b4" for r in rects) and any(r.get("stroke") == "#d62728" for r in rects)
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {"noise & co", "alarm threshold", "2"} <= texts
    assert "of noise & co above it" in root.find(f"{SVG}desc").text


def test_a_long_legend_label_widens_the_chart_instead_of_running_past_its_edge():
    rng = np.random.default_rng(0)
    name = "threshold-fitting in-distribution"
    root = ET.fromstring(score_histogram_svg(score_histogram(rng.normal(0, 1, 50), rng.normal(3, 1, 50), 1.0, "held-out",
                                                               name)))
    (label,) = [t for t in root.iter(f"{SVG}text") if t.text == name]
    # about 6 px a character at 10 px sans-serif
    assert float(label.get("x")) + 6 * len(name) <= float(root.get("width"))
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
