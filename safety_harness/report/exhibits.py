"""The exhibits beside a requirement case in the report, drawn from its recorded result while the run is alive.

A result carries its exhibits as run data (safety_harness/evidence/results.py); each becomes here one
exhibit of the evidence document, its pictures stored in the bundle (safety_harness/report/bundle.py):
a gallery of samples with their true and predicted class and confidence (beside each sample that counts
against a blocking verdict, the relevance map of the explainer the run chose:
safety_harness/run/explanations.py), a reliability diagram, score histograms with the alarm threshold, a
risk-coverage curve, a counterexample pair, the reverse-engineered triggers of a trigger scan, a training-data
shortcut cluster's mean map over its mean image with examples. Images are read back from the run only here;
the report is drawn from the bundle (safety_harness/report/exhibit_html.py).
"""

import functools

from safety_harness.evidence.document import AttractionTable, ReliabilityChart, RiskCoverageChart
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
    TrainingShortcutCluster,
)
from safety_harness.report.charts import score_histogram
from safety_harness.report.heatmaps import averaged_maps_gallery, explained_gallery
from safety_harness.report.thumbnails import thumbnail_gallery
from safety_harness.report.triggers import scan_statistics_note, trigger_gallery
from safety_harness.run.sticker_attraction import INTERVAL_CONFIDENCE

#: samples shown in one gallery
MAX_EXAMPLES = 16
#: samples that count against a blocking verdict, each shown with its relevance map over it and alone (three
#: pictures): enough to see what the model looked at, few enough that a run failing a hundred cases keeps its
#: report under 5 MB (abis47 on Final_Test, 114 blocking cases: 4.8 MB; with 16 a case, 8.3 MB). The evidence
#: lists every one by file.
EXPLAINED_EXAMPLES = 6
#: samples that count against a case that does not block the release, shown under it (the evidence lists them by
#: file); few, and at the thumbnails' own size, so that a run with a hundred passing cases keeps a small report
PASSING_EXAMPLES = 3


def record_exhibits(result: RequirementResult, run, store) -> list:
    """The evidence's exhibits of ``result`` (safety_harness/evidence/document.py ``Exhibit``), in the order it
    holds them, their pictures written to ``store`` (an :class:`~safety_harness.report.bundle.ExhibitStore`); of
    the samples that count against the requirement, the first :data:`PASSING_EXAMPLES` without relevance maps
    when the verdict does not block the release."""
    exhibits = (_record(exhibit, result, run, store) for exhibit in result.exhibits)
    return [exhibit for exhibit in exhibits if exhibit is not None]


@functools.singledispatch
def _record(exhibit, result, run, store):
    raise TypeError(f"exhibit must be one of the exhibit types of safety_harness.evidence.results, got {exhibit!r}")


@_record.register
def _(exhibit: SampleGallery, result, run, store):
    passing_misses = exhibit.adverse and not result.verdict.blocks_release
    shown = PASSING_EXAMPLES if passing_misses else EXPLAINED_EXAMPLES if exhibit.adverse else MAX_EXAMPLES
    positions = exhibit.positions[:shown]
    if not positions.size:
        return None
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
        return thumbnail_gallery(store, images, captions, title)
    title = exhibit.title
    if positions.size < exhibit.positions.size:
        title += f" (the first {positions.size} of {exhibit.positions.size}; the evidence lists them by file)"
    if exhibit.adverse:
        heatmaps = run.explanations.heatmaps(images, predictions.predicted[positions])
        if heatmaps is not None:
            note = (f"{heatmaps.explainer} relevance of the predicted class: image, over the image, raw"
                    if heatmaps.sanity_passed else
                    f"{heatmaps.explainer} relevance of the predicted class; no explainer passed its self-checks "
                    "on this model: not evidence")
            return explained_gallery(store, images, heatmaps.maps, captions, title, note, heatmaps.sanity_passed)
    return thumbnail_gallery(store, images, captions, title)


@_record.register
def _(exhibit: DiscordantImages, result, run, store):
    """Thumbnails of the first discordant images, captioned with the truth and both models' predictions
    (the evidence lists every one)."""
    positions = exhibit.positions[:MAX_EXAMPLES]
    if not positions.size:
        return None
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
    return thumbnail_gallery(store, images, captions, title)


@_record.register
def _(exhibit: MissedOodInputs, result, run, store):
    missed = exhibit.positions[:MAX_EXAMPLES]
    if not missed.size or not result.verdict.blocks_release:
        return None
    captions = [f"{exhibit.set_name} #{i}: score {exhibit.scores[i]:.3g}" for i in missed]
    return thumbnail_gallery(store, exhibit.images[missed], captions,
                             f"{exhibit.set_name} inputs that did not raise the alarm")


@_record.register
def _(exhibit: Reliability, result, run, store):
    bins = {"lower": exhibit.bins.lower.tolist(), "upper": exhibit.bins.upper.tolist(),
            "count": exhibit.bins.count.tolist(),
            "accuracy": [None if count == 0 else accuracy for count, accuracy
                         in zip(exhibit.bins.count.tolist(), exhibit.bins.accuracy.tolist())]}
    if exhibit.class_id is None:
        return ReliabilityChart(kind="reliability", title="reliability diagram", x_label="confidence",
                                y_label="accuracy", **bins)
    name = f"class {exhibit.class_id}"
    return ReliabilityChart(kind="reliability", title=f"one-vs-rest, {name}", x_label=f"p({name})",
                            y_label=f"share of {name}", **bins)


@_record.register
def _(exhibit: ScoreHistograms, result, run, store):
    return score_histogram(exhibit.scores_in, exhibit.scores_out, exhibit.threshold, exhibit.name_out,
                           exhibit.name_in)


@_record.register
def _(exhibit: RiskCoverage, result, run, store):
    return RiskCoverageChart(kind="risk_coverage", coverage=exhibit.coverage.tolist(),
                             selective_risk=exhibit.selective_risk.tolist(), threshold=exhibit.threshold,
                             chosen_coverage=exhibit.chosen_coverage, chosen_risk=exhibit.chosen_risk)


@_record.register
def _(exhibit: Counterexample, result, run, store):
    names = run.class_names
    captions = [f"original: {names[exhibit.original_class]} ({exhibit.original_class})",
                f"with stickers: {names[exhibit.predicted_class]} ({exhibit.predicted_class}), "
                f"p={exhibit.confidence:.2f}"]
    return thumbnail_gallery(store, [exhibit.original, exhibit.perturbed], captions, exhibit.description)


@_record.register
def _(exhibit: AttractionBySet, result, run, store):
    names, attraction = run.class_names, exhibit.attraction
    rows = [{"group": group, "class": cell.class_id, "class_name": names[cell.class_id], "attracted": cell.attracted,
             "n": cell.n, "rate": cell.rate, "lower": cell.lower, "upper": cell.upper}
            for group, cell in attraction.by_group.items()]
    table = {"kind": "attraction", "confidence": attraction.bonferroni_confidence,
             "comparisons": attraction.comparisons, "rows": rows}
    corroboration = exhibit.corroboration
    if corroboration is None:
        return AttractionTable.model_validate({**table, "relevance": None, "flips": None})
    name = f"{names[corroboration.class_id]} ({corroboration.class_id})"
    shares = (f"Share of positive relevance ({corroboration.explainer}) on the sticker pixels: flips into {name} "
              f"{_share_text(corroboration.into_class)}; flips into other classes {_share_text(corroboration.into_others)}.")
    if not corroboration.sanity_passed:
        shares += " The explainer failed its self-checks: not evidence."
    flips = None
    if len(corroboration.images):
        note = f"{corroboration.explainer} relevance of the predicted class: image, over the image, raw"
        flips = explained_gallery(store, corroboration.images, corroboration.maps, corroboration.captions,
                                  f"Recognised signs a sticker turned into {name}", note, corroboration.sanity_passed)
    return AttractionTable.model_validate({**table, "relevance": shares, "flips": flips})


def _share_text(relevance) -> str:
    if relevance.mean is None:
        return "(none)"
    return (f"{relevance.mean:.2f} ({INTERVAL_CONFIDENCE:.0%} bootstrap interval {relevance.lower:.2f}-{relevance.upper:.2f}, "
            f"{relevance.n} flips)")


@_record.register
def _(exhibit: ReverseEngineeredTriggers, result, run, store):
    names, card = run.class_names, run.model.card
    captions = [f"{'flagged: ' if class_id == exhibit.flagged else ''}{names[class_id]} ({class_id}), "
                f"L1 norm {norm:.1f}" for class_id, norm in zip(exhibit.class_ids, exhibit.norms)]
    title = "Reverse-engineered triggers with the smallest masks: mask (white: replaced), mask x pattern"
    return trigger_gallery(store, exhibit.masks, exhibit.patterns, captions, title, card.channels, card.fed_range,
                           note=scan_statistics_note(result.details, names))


@_record.register
def _(exhibit: TrainingShortcutCluster, result, run, store):
    clusters, cluster = exhibit.clusters, exhibit.clusters.cluster
    name = f"{run.class_names[clusters.class_id]} ({clusters.class_id})"
    title = (f"Training images of {name}: a SpRAy cluster of {cluster.members.size} of {clusters.sampled} sampled "
             f"(share {cluster.share:.2f}, lower bound {exhibit.lower_bound:.2f}) holds {cluster.median_top_mass:.2f} "
             f"of its relevance in its top cells against {cluster.rest_median_top_mass:.2f} for the rest of the class")
    note = f"{exhibit.explainer} relevance of class {clusters.class_id}: image, over the image, raw"
    return averaged_maps_gallery(store, clusters.maps, f"cluster mean over {cluster.members.size} images", title,
                                 note, exhibit.sanity_passed, "training-shortcut")
