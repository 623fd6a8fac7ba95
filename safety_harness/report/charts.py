"""Small, dependency-free inline SVG charts for the report (deterministic text, escaped labels).

Every chart carries a visible title, the same title as its accessible name (``<title>``) and the numbers it plots
as text (``<desc>``: read by screen readers, searchable and copyable). Series differ by line pattern or marker
besides colour, and legend text is dark: the colours need not be told apart, nor be readable as text.
"""

from html import escape

import numpy as np

from safety_harness.evidence.document import ScoreHistogramChart
from safety_harness.metrics.drift import HISTOGRAM_BINS, score_histogram_edges

WIDTH, HEIGHT = 420, 230
LEFT, RIGHT, TOP, BOTTOM = 48, 110, 26, 36
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
#: one marker shape per series, in the order of COLOURS
MARKERS = ("circle", "square", "triangle", "diamond", "cross", "triangle-down")
TEXT = "#222"
#: the threshold line: black, dash-dot, so it is told from every series by its pattern
THRESHOLD_STYLE = 'stroke="#000" stroke-width="1.5" stroke-dasharray="8 3 2 3"'


def _svg_open(width: int, height: int, title: str, description: str, font_size: int = 10) -> str:
    """The chart's opening tag (scalable: it has a viewBox), its accessible name and text alternative, and
    its title drawn at the top left."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="{font_size}" role="img">'
            f'<title>{escape(title)}</title><desc>{escape(description)}</desc>'
            f'<text x="4" y="12" font-weight="bold" fill="{TEXT}">{escape(title)}</text>')


def _legend_width(labels) -> int:
    """The room right of the plot for a legend: at least RIGHT, else its longest label at about 6 px a character
    (10 px sans-serif) beside a marker, so no label runs past the chart's edge."""
    return max(RIGHT, 24 + 6 * max(map(len, labels)))


def _numbers(values) -> str:
    return ", ".join("none" if v is None else f"{v:.4g}" for v in values)


def marker_svg(shape: str, x: float, y: float, colour: str, size: float = 3.0) -> str:
    """A series marker centred on (x, y)."""
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size:.1f}" fill="{colour}"/>'
    if shape == "square":
        return f'<rect x="{x - size:.1f}" y="{y - size:.1f}" width="{2 * size:.1f}" height="{2 * size:.1f}" fill="{colour}"/>'
    if shape == "cross":
        return (f'<path d="M{x - size:.1f},{y - size:.1f}L{x + size:.1f},{y + size:.1f}M{x - size:.1f},{y + size:.1f}'
                f'L{x + size:.1f},{y - size:.1f}" stroke="{colour}" stroke-width="1.8"/>')
    corners = {"triangle": ((0, -1.2), (1.1, 0.8), (-1.1, 0.8)), "triangle-down": ((0, 1.2), (1.1, -0.8), (-1.1, -0.8)),
               "diamond": ((0, -1.3), (1.3, 0), (0, 1.3), (-1.3, 0))}[shape]
    points = " ".join(f"{x + dx * size:.1f},{y + dy * size:.1f}" for dx, dy in corners)
    return f'<polygon points="{points}" fill="{colour}"/>'


def _y_scale(low, high):
    span = high - low or 1.0
    return lambda v: TOP + (HEIGHT - TOP - BOTTOM) * (1 - (v - low) / span)


def line_chart_svg(x_labels, series, threshold=None, y_label="", y_range=None, title="") -> str:
    """Lines of a metric against severity with their one-sided bounds dashed, one marker shape per series.

    ``series``: list of ``(name, values, bounds)``; ``None`` values are gaps. ``threshold``
    is drawn as a horizontal black dash-dot line.
    """
    numbers = [v for _, values, bounds in series for v in (*values, *bounds) if v is not None]
    if threshold is not None:
        numbers.append(threshold)
    low, high = y_range or (min(numbers, default=0.0), max(numbers, default=1.0))
    if high - low < 0.05:
        low, high = low - 0.025, high + 0.025
    y = _y_scale(low, high)
    step = (WIDTH - LEFT - RIGHT) / max(1, len(x_labels) - 1)
    x = [LEFT + i * step for i in range(len(x_labels))]
    width = WIDTH - RIGHT + _legend_width([name for name, _, _ in series])
    title = title or f"{y_label} against severity"
    plotted = "; ".join(f"{name}: measured {_numbers(values)}; bound {_numbers(bounds)}" for name, values, bounds in series)
    description = (f"{y_label} at {', '.join(map(str, x_labels))}. {plotted}."
                   + ("" if threshold is None else f" Threshold {threshold:g}."))
    parts = [_svg_open(width, HEIGHT, title, description),
             f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" '
             'fill="none" stroke="#999"/>']
    for fraction in (0, 0.5, 1):
        value = low + (high - low) * fraction
        parts.append(f'<text x="{LEFT - 4}" y="{y(value) + 3:.1f}" text-anchor="end">{value:.3f}</text>')
    for xi, label in zip(x, x_labels):
        parts.append(f'<text x="{xi:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">{escape(str(label))}</text>')
    parts.append(f'<text x="12" y="{(HEIGHT - BOTTOM + TOP) / 2:.1f}" transform="rotate(-90 12 '
                 f'{(HEIGHT - BOTTOM + TOP) / 2:.1f})" text-anchor="middle">{escape(y_label)}</text>')
    if threshold is not None:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" '
                     f'{THRESHOLD_STYLE}/>'
                     f'<text x="{WIDTH - RIGHT + 4}" y="{y(threshold) + 3:.1f}" fill="{TEXT}">threshold</text>')
    for index, (name, values, bounds) in enumerate(series):
        colour, shape = COLOURS[index % len(COLOURS)], MARKERS[index % len(MARKERS)]
        for points, dash in ((values, ""), (bounds, ' stroke-dasharray="4 3"')):
            segment = " ".join(f"{xi:.1f},{y(v):.1f}" for xi, v in zip(x, points) if v is not None)
            if segment:
                parts.append(f'<polyline points="{segment}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}/>')
        parts += [marker_svg(shape, xi, y(v), colour) for xi, v in zip(x, values) if v is not None]
        legend_y = TOP + 12 + 12 * index
        parts.append(marker_svg(shape, WIDTH - RIGHT + 10, legend_y - 3, colour)
                     + f'<text x="{WIDTH - RIGHT + 18}" y="{legend_y}" fill="{TEXT}">{escape(name)}</text>')
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 6}" fill="#555">solid: measured; dashed: one-sided '
                 'confidence bound</text></svg>')
    return "".join(parts)


def reliability_diagram_svg(bins, title: str = "reliability diagram", x_label: str = "confidence",
                            y_label: str = "accuracy") -> str:
    """Accuracy per confidence bin against the diagonal of perfect calibration; bins with no
    sample are not drawn; each bar is labelled with its count. A one-vs-rest diagram names its
    axes (``x_label``: the class's probability, ``y_label``: the class's frequency)."""
    size, pad = 240, 36
    inner = size - 2 * pad

    def px(v):
        return pad + v * inner

    shown = [(lower, upper, int(count), accuracy) for lower, upper, count, accuracy
             in zip(bins.lower, bins.upper, bins.count, bins.accuracy) if count]
    description = (f"{y_label} per {x_label} bin (bin: samples, {y_label}): "
                   + "; ".join(f"{lower:.3g}-{upper:.3g}: {count}, {accuracy:.4g}" for lower, upper, count, accuracy in shown)
                   + f". {len(shown)} of {len(bins.count)} bins hold samples.")
    parts = [_svg_open(size + 20, size, f"{title} (bar labels: samples per bin)", description, font_size=9),
             f'<rect x="{pad}" y="{pad}" width="{inner}" height="{inner}" fill="none" stroke="#999"/>',
             f'<line x1="{px(0)}" y1="{px(1)}" x2="{px(1)}" y2="{px(0)}" stroke="#888" stroke-dasharray="3 3"/>']
    for lower, upper, count, accuracy in shown:
        x, width = px(lower), max(1.0, (upper - lower) * inner - 1)
        height = accuracy * inner
        parts.append(f'<rect x="{x:.1f}" y="{pad + inner - height:.1f}" width="{width:.1f}" height="{height:.1f}" '
                     'fill="#1f77b4" fill-opacity="0.7"/>'
                     f'<text x="{x + width / 2:.1f}" y="{pad + inner - height - 2:.1f}" text-anchor="middle">'
                     f'{int(count)}</text>')
    parts.append(f'<text x="{size / 2}" y="{size - 8}" text-anchor="middle">{escape(x_label)}</text>'
                 f'<text x="10" y="{size / 2}" transform="rotate(-90 10 {size / 2})" text-anchor="middle">'
                 f'{escape(y_label)}</text></svg>')
    return "".join(parts)


def score_histogram(scores_in, scores_out, threshold: float, name_out: str,
                    name_in: str = "in-distribution (held out)", bins: int = HISTOGRAM_BINS) -> ScoreHistogramChart:
    """An OOD detector's scores on in-distribution data and on one OOD set as the share of each set per bin, on
    shared bins (:func:`safety_harness.metrics.drift.score_histogram_edges`), with the alarm threshold: the data
    :func:`score_histogram_svg` draws."""
    scores_in, scores_out = np.asarray(scores_in, float), np.asarray(scores_out, float)
    edges = score_histogram_edges(scores_in, scores_out, threshold, bins)
    shares_in, shares_out = (np.histogram(s, edges)[0] / s.size for s in (scores_in, scores_out))
    return ScoreHistogramChart(kind="score_histogram", name_in=name_in, name_out=name_out, threshold=threshold,
                               edges=edges.tolist(), shares_in=shares_in.tolist(), shares_out=shares_out.tolist(),
                               n_in=scores_in.size, n_out=scores_out.size,
                               above_in=float(np.mean(scores_in > threshold)),
                               above_out=float(np.mean(scores_out > threshold)))


def score_histogram_svg(chart: ScoreHistogramChart) -> str:
    """The histograms of :func:`score_histogram`: in-distribution data filled, the OOD set outlined, the alarm
    threshold marked."""
    edges, name_in, name_out, threshold = np.asarray(chart.edges), chart.name_in, chart.name_out, chart.threshold
    shares = [np.asarray(chart.shares_in), np.asarray(chart.shares_out)]
    top = max(share.max() for share in shares) or 1.0
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(v):
        return LEFT + inner_w * (v - edges[0]) / (edges[-1] - edges[0])

    width = WIDTH - RIGHT + _legend_width((name_in, name_out))
    title = f"Detector scores: {name_in} and {name_out}"
    description = (f"Share of each set per score bin, bin edges {_numbers(edges)}. {name_in} ({chart.n_in} "
                   f"scores): {_numbers(shares[0])}. {name_out} ({chart.n_out} scores): {_numbers(shares[1])}. "
                   f"Alarm threshold {threshold:.4g}: {chart.above_in:.4g} of {name_in} and "
                   f"{chart.above_out:.4g} of {name_out} above it.")
    parts = [_svg_open(width, HEIGHT, title, description),
             f'<rect x="{LEFT}" y="{TOP}" width="{inner_w}" height="{inner_h}" fill="none" stroke="#999"/>']
    # in-distribution filled, the OOD set outlined: told apart without their colours
    styles = ('fill="{}" fill-opacity="0.5"', 'fill="none" stroke="{}" stroke-width="1.2"')
    for index, (share, label) in enumerate(zip(shares, (name_in, name_out))):
        style = styles[index].format(COLOURS[index])
        for left, right, value in zip(edges[:-1], edges[1:], share):
            if value:
                height = inner_h * value / top
                parts.append(f'<rect x="{x(left):.1f}" y="{TOP + inner_h - height:.1f}" '
                             f'width="{max(0.5, x(right) - x(left) - 0.5):.1f}" height="{height:.1f}" {style}/>')
        legend_y = TOP + 12 + 12 * index
        parts.append(f'<rect x="{WIDTH - RIGHT + 4}" y="{legend_y - 8}" width="9" height="9" {style}/>'
                     f'<text x="{WIDTH - RIGHT + 17}" y="{legend_y}" fill="{TEXT}">{escape(label)}</text>')
    parts.append(f'<line x1="{x(threshold):.1f}" x2="{x(threshold):.1f}" y1="{TOP}" y2="{TOP + inner_h}" '
                 f'{THRESHOLD_STYLE}/><text x="{WIDTH - RIGHT + 4}" y="{TOP + 40}" fill="{TEXT}">'
                 f'alarm threshold</text>')
    for value in (edges[0], threshold, edges[-1]):
        parts.append(f'<text x="{x(value):.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">{value:.3g}</text>')
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 6}" fill="#555">detector score (higher = more unusual); '
                 f'bars: share of each set per bin</text></svg>')
    return "".join(parts)


def risk_coverage_svg(coverage, selective_risk, threshold: float, chosen_coverage: float,
                      chosen_risk: float | None) -> str:
    """Selective risk (error rate among accepted inputs) against coverage (share accepted) as the
    alarm threshold moves, with the chosen threshold's operating point marked (on the coverage axis
    when ``chosen_risk`` is None: the threshold accepts nothing)."""
    coverage, selective_risk = np.asarray(coverage, float), np.asarray(selective_risk, float)
    top = max(float(selective_risk.max(initial=0.0)), chosen_risk or 0.0, 0.01) * 1.1
    y = _y_scale(0.0, top)
    inner_w = WIDTH - LEFT - RIGHT

    def x(v):
        return LEFT + inner_w * v

    points = " ".join(f"{x(c):.1f},{y(r):.1f}" for c, r in zip(coverage, selective_risk))
    chosen_risk_text = "n/a" if chosen_risk is None else f"{chosen_risk:.4f}"
    description = ("Selective risk at coverage (coverage: risk): "
                   + "; ".join(f"{c:.4g}: {r:.4g}" for c, r in zip(coverage, selective_risk))
                   + f". Chosen threshold {threshold:.4g}: coverage {chosen_coverage:.4g}, risk {chosen_risk_text}.")
    legend = (f"threshold {threshold:.3g}", f"coverage {chosen_coverage:.3f}", f"risk {chosen_risk_text}")
    parts = [_svg_open(WIDTH - RIGHT + _legend_width(legend), HEIGHT, "Risk-coverage curve of the monitor", description),
             f'<rect x="{LEFT}" y="{TOP}" width="{inner_w}" height="{HEIGHT - TOP - BOTTOM}" fill="none" stroke="#999"/>',
             f'<polyline points="{points}" fill="none" stroke="{COLOURS[0]}" stroke-width="1.5"/>',
             marker_svg("diamond", x(chosen_coverage), y(chosen_risk or 0.0), "#c00", size=4.5),
             marker_svg("diamond", WIDTH - RIGHT + 8, TOP + 9, "#c00", size=3.5)]
    parts += [f'<text x="{WIDTH - RIGHT + 16}" y="{TOP + 12 + 12 * i}" fill="{TEXT}">{text}</text>'
              for i, text in enumerate(legend)]
    for value in (0, 0.5, 1):
        parts.append(f'<text x="{x(value):.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">{value:g}</text>')
        parts.append(f'<text x="{LEFT - 4}" y="{y(top * value) + 3:.1f}" text-anchor="end">{top * value:.3f}</text>')
    parts.append(f'<text x="12" y="{(HEIGHT - BOTTOM + TOP) / 2:.1f}" transform="rotate(-90 12 '
                 f'{(HEIGHT - BOTTOM + TOP) / 2:.1f})" text-anchor="middle">selective risk</text>'
                 f'<text x="{LEFT}" y="{HEIGHT - 6}" fill="#555">coverage: share of in-distribution inputs '
                 'accepted</text></svg>')
    return "".join(parts)
