"""Report charts are well-formed SVG, escape their labels and draw only what has data."""

import xml.etree.ElementTree as ET

import numpy as np

from safety_harness.metrics.calibration import reliability_bins
from safety_harness.report.charts import line_chart_svg, reliability_diagram_svg, score_histogram_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_line_chart_is_parsable_and_escapes_names():
    svg = line_chart_svg(["clean", "1", "2"], [("stop <14>", [0.99, 0.97, None], [0.98, 0.95, None])],
                         threshold=0.95, y_label="recall & bound")
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "stop <14>" in texts and "recall & bound" in texts and "threshold" in texts
    assert len(root.findall(f"{SVG}circle")) == 2  # the gap is not drawn


def test_reliability_diagram_draws_one_bar_per_non_empty_bin_labelled_with_its_count():
    probabilities = np.array([[0.95, 0.05]] * 3 + [[0.55, 0.45]])
    bins = reliability_bins(probabilities, np.array([0, 0, 1, 0]), n_bins=10)
    root = ET.fromstring(reliability_diagram_svg(bins))
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("fill") == "#1f77b4"]
    assert len(bars) == 2
    assert {"3", "1"} <= {t.text for t in root.iter(f"{SVG}text")}


def test_score_histogram_marks_the_threshold_and_draws_both_sets():
    rng = np.random.default_rng(0)
    svg = score_histogram_svg(rng.normal(0, 1, 200), rng.normal(4, 1, 100), threshold=2.0, name_out="noise & co")
    root = ET.fromstring(svg)
    fills = {r.get("fill") for r in root.iter(f"{SVG}rect")}
    assert {"#1f77b4", "#d62728"} <= fills
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {"noise & co", "alarm threshold", "2"} <= texts
