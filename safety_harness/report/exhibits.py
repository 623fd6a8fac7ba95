"""The exhibits beside a requirement case in the HTML report, built from its recorded result.

A result carries its exhibits as data (safety_harness/evidence/results.py); each becomes one
HTML fragment here: a gallery of samples with their true and predicted class and confidence
(beside each sample that counts against a blocking verdict, the relevance map of the explainer
the run chose: safety_harness/run/explanations.py), a reliability diagram, score histograms with
the alarm threshold, a risk-coverage curve, a counterexample pair, the reverse-engineered triggers
of a trigger scan. Images are read back from the run only here, when the report is built. Every
caption is escaped.
"""

import functools
import html

from safety_harness.evidence.results import (
    AttractionBySet,
    Counterexample,
    DiscordantImages,
    MissedOodInputs,
    Reliability,
    RequirementResult,
    ReverseEngineeredTriggers,
    RiskCoverage,
    SampleGallery,
    ScoreHistograms,
)
from safety_harness.report.charts import reliability_diagram_svg, risk_coverage_svg, score_histogram_svg
from safety_harness.report.heatmaps import explained_gallery_html
from safety_harness.report.thumbnails import gallery_html
from safety_harness.report.triggers import scan_statistics_html, trigger_gallery_html
from safety_harness.run.sticker_attraction import INTERVAL_CONFIDENCE

#: samples shown in one gallery
MAX_EXAMPLES = 16
#: samples that count against a case that does not block the release, shown under it (the evidence lists them by
#: file); few, and at the thumbnails' own size, so that a run with a hundred passing cases keeps a small report
PASSING_EXAMPLES = 3


def exhibits_html(result: RequirementResult, run) -> list[str]:
    """HTML fragments of ``result``'s exhibits, in the order it holds them; of the samples that count
    against the requirement, the first :data:`PASSING_EXAMPLES` without relevance maps when the verdict does
    not block the release."""
    fragments = (_exhibit_html(exhibit, result, run) for exhibit in result.exhibits)
    return [fragment for fragment in fragments if fragment]


@functools.singledispatch
def _exhibit_html(exhibit, result, run) -> str:
    raise TypeError(f"exhibit must be one of the exhibit types of safety_harness.evidence.results, got {exhibit!r}")


@_exhibit_html.register
def _(exhibit: SampleGallery, result, run) -> str:
    passing_misses = exhibit.adverse and not result.verdict.blocks_release
    positions = exhibit.positions[:PASSING_EXAMPLES if passing_misses else MAX_EXAMPLES]
    if not positions.size:
        return ""
    predictions, names = exhibit.predictions, run.class_names
    images, _ = run.images(predictions, positions)
    captions = []
    for position in positions:
        label, predicted = int(predictions.labels[position]), int(predictions.predicted[position])
        record = predictions.ingest.records[int(predictions.indices[position])]
        truth = f"{names[label]} ({label})" if label >= 0 else "unlabelled"
        captions.append(f"{record.path.name}: {truth} -> {names[predicted]} ({predicted}), "
                        f"p={predictions.confidence[position]:.2f}")
    if passing_misses:
        title = (f"{exhibit.title}, though the case holds: the first {positions.size} of {exhibit.positions.size} "
                 "(the evidence lists them by file)")
        return gallery_html(images, captions, title, scale=1)
    if exhibit.adverse:
        heatmaps = run.explanations.heatmaps(images, predictions.predicted[positions])
        if heatmaps is not None:
            note = (f"{heatmaps.explainer} relevance of the predicted class: image, over the image, raw"
                    if heatmaps.sanity_passed else
                    f"{heatmaps.explainer} relevance of the predicted class; no explainer passed its self-checks "
                    "on this model: not evidence")
            return explained_gallery_html(images, heatmaps.maps, captions, exhibit.title, note,
                                          heatmaps.sanity_passed)
    return gallery_html(images, captions, exhibit.title)


@_exhibit_html.register
def _(exhibit: DiscordantImages, result, run) -> str:
    """Thumbnails of the first discordant images, captioned with the truth and both models' predictions
    (the evidence lists every one)."""
    positions = exhibit.positions[:MAX_EXAMPLES]
    if not positions.size:
        return ""
    predictions, names = exhibit.predictions, run.class_names
    images, _ = run.images(predictions, positions)
    captions = []
    for position in positions:
        label, predicted = int(predictions.labels[position]), int(predictions.predicted[position])
        baseline = int(exhibit.baseline_predicted[position])
        record = predictions.ingest.records[int(predictions.indices[position])]
        truth = f"{names[label]} ({label})" if label >= 0 else "unlabelled"
        captions.append(f"{record.path.name}: {truth}; candidate -> {names[predicted]} ({predicted}), "
                        f"baseline -> {names[baseline]} ({baseline})")
    more = exhibit.positions.size - positions.size
    title = exhibit.title + (f" (first {positions.size} of {exhibit.positions.size}; the evidence lists all)"
                             if more else "")
    return gallery_html(images, captions, title)


@_exhibit_html.register
def _(exhibit: MissedOodInputs, result, run) -> str:
    missed = exhibit.positions[:MAX_EXAMPLES]
    if not missed.size or not result.verdict.blocks_release:
        return ""
    captions = [f"{exhibit.set_name} #{i}: score {exhibit.scores[i]:.3g}" for i in missed]
    return gallery_html(exhibit.images[missed], captions, f"{exhibit.set_name} inputs that did not raise the alarm")


@_exhibit_html.register
def _(exhibit: Reliability, result, run) -> str:
    if exhibit.class_id is None:
        return reliability_diagram_svg(exhibit.bins)
    name = f"class {exhibit.class_id}"
    return reliability_diagram_svg(exhibit.bins, title=f"one-vs-rest, {name}", x_label=f"p({name})",
                                   y_label=f"share of {name}")


@_exhibit_html.register
def _(exhibit: ScoreHistograms, result, run) -> str:
    return score_histogram_svg(exhibit.scores_in, exhibit.scores_out, exhibit.threshold, exhibit.name_out,
                               exhibit.name_in)


@_exhibit_html.register
def _(exhibit: RiskCoverage, result, run) -> str:
    return risk_coverage_svg(exhibit.coverage, exhibit.selective_risk, exhibit.threshold, exhibit.chosen_coverage,
                             exhibit.chosen_risk)


@_exhibit_html.register
def _(exhibit: Counterexample, result, run) -> str:
    names = run.class_names
    captions = [f"original: {names[exhibit.original_class]} ({exhibit.original_class})",
                f"with stickers: {names[exhibit.predicted_class]} ({exhibit.predicted_class}), "
                f"p={exhibit.confidence:.2f}"]
    return gallery_html([exhibit.original, exhibit.perturbed], captions, exhibit.description)


@_exhibit_html.register
def _(exhibit: AttractionBySet, result, run) -> str:
    names, attraction = run.class_names, exhibit.attraction
    rows = "".join(
        f"<tr><td>{html.escape(group)}</td><td>{html.escape(names[cell.class_id])} ({cell.class_id})</td>"
        f"<td>{cell.attracted}/{cell.n}</td><td>{cell.rate:.4f}</td><td>{cell.lower:.4f}</td><td>{cell.upper:.4f}</td></tr>"
        for group, cell in attraction.by_group.items())
    table = (f"<table><caption>Per stickered set, the class that attracts most (bounds at "
             f"{attraction.bonferroni_confidence:.5f}, Bonferroni over {attraction.comparisons} class and set pairs)"
             "</caption><tr><th>stickered set</th><th>attracting class</th><th>attracted</th><th>rate</th>"
             f"<th>lower bound</th><th>upper bound</th></tr>{rows}</table>")
    corroboration = exhibit.corroboration
    if corroboration is None:
        return table + "<p>No explainer applies to this model: no relevance on the stickers.</p>"
    name = f"{names[corroboration.class_id]} ({corroboration.class_id})"
    shares = (f"Share of positive relevance ({corroboration.explainer}) on the sticker pixels: flips into {name} "
              f"{_share_text(corroboration.into_class)}; flips into other classes {_share_text(corroboration.into_others)}.")
    if not corroboration.sanity_passed:
        shares += " The explainer failed its self-checks: not evidence."
    if not len(corroboration.images):
        return f"{table}<p>{html.escape(shares)}</p>"
    note = f"{corroboration.explainer} relevance of the predicted class: image, over the image, raw"
    return (f"{table}<p>{html.escape(shares)}</p>"
            + explained_gallery_html(corroboration.images, corroboration.maps, corroboration.captions,
                                     f"Recognised signs a sticker turned into {name}", note,
                                     corroboration.sanity_passed))


def _share_text(relevance) -> str:
    if relevance.mean is None:
        return "(none)"
    return (f"{relevance.mean:.2f} ({INTERVAL_CONFIDENCE:.0%} bootstrap interval {relevance.lower:.2f}-{relevance.upper:.2f}, "
            f"{relevance.n} flips)")


@_exhibit_html.register
def _(exhibit: ReverseEngineeredTriggers, result, run) -> str:
    names, card = run.class_names, run.model.card
    captions = [f"{'flagged: ' if class_id == exhibit.flagged else ''}{names[class_id]} ({class_id}), "
                f"L1 norm {norm:.1f}" for class_id, norm in zip(exhibit.class_ids, exhibit.norms)]
    title = "Reverse-engineered triggers with the smallest masks: mask (white: replaced), mask x pattern"
    return (scan_statistics_html(result.details, names)
            + trigger_gallery_html(exhibit.masks, exhibit.patterns, captions, title, card.channels, card.fed_range))
