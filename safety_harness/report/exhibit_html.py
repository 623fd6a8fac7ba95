"""The exhibits of the evidence document as HTML: galleries of the bundle's pictures, embedded as data URIs
(the report stays one file), and the charts drawn from the data the document carries.

A pure function of the bundle: it never reads the run. Every caption, title and name is escaped.
"""

import functools
import html
from collections.abc import Callable

from safety_harness.evidence.document import (
    AttractionTable,
    Gallery,
    ReliabilityChart,
    RiskCoverageChart,
    ScoreHistogramChart,
)
from safety_harness.report.charts import reliability_diagram_svg, risk_coverage_svg, score_histogram_svg

#: ``picture_uri(file)``: the data URI of an exhibit file of the bundle (safety_harness/report/bundle.py)
PictureUri = Callable[[str], str]


def gallery_html(gallery: Gallery, picture_uri: PictureUri) -> str:
    """A captioned row of figures; the maps of an explainer that failed its self-checks are labelled so."""
    label = '<br><strong class="heatmap-failed">failed sanity check</strong>' if gallery.failed_sanity_check else ""
    kind = "" if gallery.figure_class == "thumbnail" else f" {gallery.figure_class}"
    figures = "".join(
        f'<figure class="evidence-thumb{kind}">'
        + "".join(f'<img src="{picture_uri(p.file)}" alt="{html.escape(p.alt)}">' for p in figure.pictures)
        + f"<figcaption>{html.escape(figure.caption)}{label}</figcaption></figure>"
        for figure in gallery.figures)
    note = "" if gallery.note is None else f" ({html.escape(gallery.note)})"
    return (f'<div class="evidence-gallery"><p><strong>{html.escape(gallery.title)}</strong>{note}</p>'
            f'<div style="display:flex;flex-wrap:wrap;gap:8px">{figures}</div></div>')


@functools.singledispatch
def exhibit_html(exhibit, picture_uri: PictureUri) -> str:
    """One exhibit of a case (safety_harness/evidence/document.py ``Exhibit``) as an HTML fragment."""
    raise TypeError(f"exhibit must be one of the exhibit models of the evidence document, got {exhibit!r}")


@exhibit_html.register
def _(exhibit: Gallery, picture_uri: PictureUri) -> str:
    return gallery_html(exhibit, picture_uri)


@exhibit_html.register
def _(exhibit: ReliabilityChart, picture_uri: PictureUri) -> str:
    return reliability_diagram_svg(exhibit, title=exhibit.title, x_label=exhibit.x_label, y_label=exhibit.y_label)


@exhibit_html.register
def _(exhibit: ScoreHistogramChart, picture_uri: PictureUri) -> str:
    return score_histogram_svg(exhibit)


@exhibit_html.register
def _(exhibit: RiskCoverageChart, picture_uri: PictureUri) -> str:
    return risk_coverage_svg(exhibit.coverage, exhibit.selective_risk, exhibit.threshold, exhibit.chosen_coverage,
                             exhibit.chosen_risk)


@exhibit_html.register
def _(exhibit: AttractionTable, picture_uri: PictureUri) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(row.group)}</td><td>{html.escape(row.class_name)} ({row.class_id})</td>"
        f"<td>{row.attracted}/{row.n}</td><td>{row.rate:.4f}</td><td>{row.lower:.4f}</td><td>{row.upper:.4f}</td></tr>"
        for row in exhibit.rows)
    table = (f"<table><caption>Per stickered set, the class that attracts most (bounds at "
             f"{exhibit.confidence:.5f}, Bonferroni over {exhibit.comparisons} class and set pairs)"
             "</caption><tr><th>stickered set</th><th>attracting class</th><th>attracted</th><th>rate</th>"
             f"<th>lower bound</th><th>upper bound</th></tr>{rows}</table>")
    if exhibit.relevance is None:
        return table + "<p>No explainer applies to this model: no relevance on the stickers.</p>"
    flips = "" if exhibit.flips is None else gallery_html(exhibit.flips, picture_uri)
    return f"{table}<p>{html.escape(exhibit.relevance)}</p>{flips}"
