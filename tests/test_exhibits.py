"""The report's exhibits are drawn from a recorded result alone (and the run, for images) into the evidence
bundle, and rendered from it: what is shown, when, and with which captions."""

import hashlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from safety_harness.evidence.results import (
    AttractionBySet,
    Counterexample,
    MissedOodInputs,
    Reliability,
    RequirementResult,
    RiskCoverage,
    SampleGallery,
    ScoreHistograms,
)
from safety_harness.metrics.attraction import sticker_attraction
from safety_harness.metrics.calibration import classwise_reliability_bins, reliability_bins
from safety_harness.metrics.verdicts import Verdict
from safety_harness.plan.requirements import CLEAN, Requirement, RequirementCase
from safety_harness.report.bundle import ExhibitStore
from safety_harness.report.exhibit_html import exhibit_html, gallery_html
from safety_harness.report.exhibits import EXPLAINED_EXAMPLES, MAX_EXAMPLES, PASSING_EXAMPLES, record_exhibits
from safety_harness.report.heatmaps import class_view_gallery
from safety_harness.run.explanations import AveragedMaps, ClassView, Heatmaps
from safety_harness.run.sticker_attraction import Corroboration, RelevanceOnStickers

CLASS_NAMES = ("Speed limit (20km/h)", "Stop <sign>", "Yield")
IMAGE = np.zeros((4, 4, 3), np.uint8)


@pytest.fixture
def bundle(tmp_path):
    """An exhibit store in a bundle's folder, and the data URI of a file it wrote (the PNG checked)."""
    store = ExhibitStore(tmp_path)

    def picture_uri(file):
        data = (tmp_path / file).read_bytes()
        assert data.startswith(b"\x89PNG") and file == f"exhibits/{hashlib.sha256(data).hexdigest()}.png"
        return f"data:image/png;base64,{file}"
    return store, picture_uri


@pytest.fixture
def drawn(bundle):
    """``drawn(result, run)``: the HTML fragments of the result's exhibits, drawn into the bundle and rendered
    from it."""
    store, picture_uri = bundle

    def draw_and_render(result, run):
        return [exhibit_html(exhibit, picture_uri) for exhibit in record_exhibits(result, run, store)]
    return draw_and_render


def fake_run(heatmaps=None):
    """What exhibits read from a run: class names, the images behind predictions, and the maps of its
    explainer (``heatmaps(images, class_ids)``; by default none applies)."""
    return SimpleNamespace(class_names=CLASS_NAMES,
                           images=lambda predictions, positions: (np.stack([IMAGE] * len(positions)), None),
                           explanations=SimpleNamespace(heatmaps=heatmaps or (lambda images, class_ids: None)))


def explainer_maps(sanity_passed):
    """A fake explanation stage's ``heatmaps``: one map per image, recording the classes it was asked for."""
    asked = []

    def heatmaps(images, class_ids):
        asked.append(list(class_ids))
        return Heatmaps(np.ones((len(images), *IMAGE.shape[:2]), np.float32), "gradcam", sanity_passed)
    return heatmaps, asked


def test_a_failing_requirements_samples_carry_the_heatmaps_of_their_predicted_class(drawn):
    heatmaps, asked = explainer_maps(sanity_passed=True)
    gallery = SampleGallery("Missed signs", predictions(), np.arange(3), adverse=True)
    (shown,) = drawn(result(Verdict.FAIL, gallery), fake_run(heatmaps))
    assert asked == [[2, 2, 2]]  # one batch, the shown samples only
    assert shown.count("<figure") == 3 and shown.count("<img") == 9
    assert "gradcam relevance of the predicted class" in shown and "failed sanity check" not in shown
    assert "img000.png: Stop &lt;sign&gt; (1) -&gt; Yield (2), p=0.88: relevance over the image" in shown


def test_heatmaps_of_an_explainer_that_failed_its_self_checks_are_marked_not_evidence(drawn):
    heatmaps, _ = explainer_maps(sanity_passed=False)
    gallery = SampleGallery("Missed signs", predictions(), np.arange(2), adverse=True)
    (shown,) = drawn(result(Verdict.FAIL, gallery), fake_run(heatmaps))
    assert shown.count("failed sanity check") == 2 and "not evidence" in shown


def test_illustrating_samples_carry_no_heatmaps(drawn):
    heatmaps, asked = explainer_maps(sanity_passed=True)
    gallery = SampleGallery("The most alarming ingest images", predictions(), np.arange(3), adverse=False)
    (shown,) = drawn(result(Verdict.FAIL, gallery), fake_run(heatmaps))
    assert asked == [] and shown.count("<img") == 3


def predictions(n=40):
    records = [SimpleNamespace(path=Path(f"img{i:03d}.png")) for i in range(n)]
    return SimpleNamespace(labels=np.ones(n, int), predicted=np.full(n, 2), confidence=np.full(n, 0.875),
                           indices=np.arange(n), ingest=SimpleNamespace(records=records))


def result(verdict, *exhibits):
    requirement = Requirement("SR-X", "title", "hazard", "recall", 0.9, ">=", 0.95)
    return RequirementResult(RequirementCase(requirement, 1, CLEAN), verdict, exhibits=exhibits)


def test_samples_against_a_passing_requirement_are_a_few_thumbnails_without_maps(drawn):
    heatmaps, asked = explainer_maps(sanity_passed=True)
    gallery = SampleGallery("Missed signs", predictions(), np.arange(40), adverse=True)
    (shown,) = drawn(result(Verdict.PASS, gallery), fake_run(heatmaps))
    assert asked == [] and shown.count("<img") == PASSING_EXAMPLES < MAX_EXAMPLES
    assert f"Missed signs, though the case holds: the first {PASSING_EXAMPLES} of 40" in shown
    assert "img002.png: Stop &lt;sign&gt; (1) -&gt; Yield (2), p=0.88" in shown


def test_samples_against_the_requirement_are_shown_with_their_maps_when_the_verdict_blocks_the_release(drawn):
    heatmaps, asked = explainer_maps(sanity_passed=True)
    gallery = SampleGallery("Missed signs", predictions(), np.arange(40), adverse=True)
    (shown,) = drawn(result(Verdict.INSUFFICIENT_EVIDENCE, gallery), fake_run(heatmaps))
    assert shown.count("<figure") == EXPLAINED_EXAMPLES < MAX_EXAMPLES and asked == [[2] * EXPLAINED_EXAMPLES]
    assert shown.count("<img") == 3 * EXPLAINED_EXAMPLES  # the image, its map over it, the map alone
    assert f"Missed signs (the first {EXPLAINED_EXAMPLES} of 40; the evidence lists them by file)" in shown
    assert "img000.png: Stop &lt;sign&gt; (1) -&gt; Yield (2), p=0.88" in shown


def test_illustrating_samples_are_shown_whatever_the_verdict(drawn):
    gallery = SampleGallery("The most alarming ingest images", predictions(), np.arange(3), adverse=False)
    (shown,) = drawn(result(Verdict.PASS, gallery), fake_run())
    assert shown.count("<figure") == 3


def test_an_empty_gallery_is_not_shown(drawn):
    gallery = SampleGallery("Missed signs", predictions(), np.arange(0), adverse=True)
    assert drawn(result(Verdict.FAIL, gallery), fake_run()) == []


def test_class_wise_calibration_shows_its_one_vs_rest_diagram(drawn):
    probabilities, labels = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]), np.array([0, 1, 1])
    top_label = Reliability(reliability_bins(probabilities, labels, 5))
    one_vs_rest = Reliability(classwise_reliability_bins(probabilities, labels, 1, 5), class_id=1)
    top_svg, class_svg = drawn(result(Verdict.PASS, top_label, one_vs_rest), fake_run())
    assert ">confidence<" in top_svg and ">accuracy<" in top_svg
    assert ">p(class 1)<" in class_svg and ">share of class 1<" in class_svg and "one-vs-rest" in class_svg


def test_missed_ood_inputs_are_captioned_with_their_scores_when_the_verdict_blocks(drawn):
    missed = MissedOodInputs("noise <set>", np.stack([IMAGE] * 5), np.array([1, 3]), np.arange(5) / 4)
    assert drawn(result(Verdict.PASS, missed), fake_run()) == []
    (shown,) = drawn(result(Verdict.FAIL, missed), fake_run())
    assert "noise &lt;set&gt; #3: score 0.75" in shown and shown.count("<figure") == 2


def test_score_histograms_and_a_counterexample_are_always_shown(drawn):
    histograms = ScoreHistograms(np.zeros(10), np.ones(10), 0.5, name_in="held out", name_out="noise")
    pair = Counterexample(IMAGE, IMAGE, 1, 2, 0.625, "stickers [...] turn class 1 into 2")
    histogram_svg, pair_html = drawn(result(Verdict.FAIL, histograms, pair), fake_run())
    assert ">held out<" in histogram_svg and ">noise<" in histogram_svg
    assert "original: Stop &lt;sign&gt; (1)" in pair_html and "with stickers: Yield (2), p=0.62" in pair_html


def test_a_risk_coverage_curve_is_drawn_with_its_chosen_threshold(drawn):
    curve = RiskCoverage(np.array([0.5, 1.0]), np.array([0.0, 0.1]), 0.25, 0.5, 0.0)
    svg, = drawn(result(Verdict.PASS, curve), fake_run())
    assert "<polyline" in svg and ">threshold 0.25<" in svg and ">coverage 0.500<" in svg


def test_an_unknown_exhibit_is_refused(drawn):
    with pytest.raises(TypeError, match="exhibit"):
        drawn(result(Verdict.PASS, "<b>html</b>"), fake_run())


def class_view(sanity_passed):
    return ClassView(14, "Stop <sign>", recognised=9, averaged=3, explainer="gradcam", sanity_passed=sanity_passed,
                     maps=AveragedMaps(IMAGE, np.ones(IMAGE.shape[:2]), np.stack([IMAGE] * 2),
                                       np.ones((2, *IMAGE.shape[:2])), ("a<1>.png", "b.png")))


def test_a_class_view_draws_the_mean_then_each_example_with_its_map(bundle):
    store, picture_uri = bundle
    shown = gallery_html(class_view_gallery(class_view(sanity_passed=True), store), picture_uri)
    assert shown.count('<figure class="evidence-thumb class-heatmap">') == 3 and shown.count("<img") == 9
    assert "evidence-heatmap" not in shown  # not counted among the samples behind a verdict
    assert "<strong>Stop &lt;sign&gt; (14)</strong> (gradcam relevance of class 14: image, over the image, raw)" in shown
    assert "mean over 3 recognised signs" in shown and "a&lt;1&gt;.png" in shown
    assert "failed sanity check" not in shown


def test_a_class_view_of_an_explainer_that_failed_its_self_checks_is_marked_not_evidence(bundle):
    store, picture_uri = bundle
    shown = gallery_html(class_view_gallery(class_view(sanity_passed=False), store), picture_uri)
    assert shown.count("failed sanity check") == 3 and "not evidence" in shown


def test_sticker_attraction_shows_each_sets_strongest_class_and_the_relevance_on_the_stickers_of_flips(drawn):
    labels = np.repeat([0, 1, 2], 20)
    attraction = sticker_attraction(np.r_[labels, labels], np.r_[np.where(labels == 0, 1, labels), labels],
                                    np.repeat(["sticker:2", "sticker_white:2"], 60), 3, limit=0.15)
    corroboration = Corroboration(1, "gradcam", True, RelevanceOnStickers(20, 0.4, 0.35, 0.45),
                                  RelevanceOnStickers(0, None, None, None), np.stack([IMAGE] * 2),
                                  np.ones((2, 4, 4), np.float32), ("a <flip>", "another"))
    (shown,) = drawn(result(Verdict.FAIL, AttractionBySet(attraction, corroboration)), fake_run())
    assert "<td>sticker:2</td><td>Stop &lt;sign&gt; (1)</td><td>20/40</td><td>0.5000</td>" in shown
    assert "<td>sticker_white:2</td>" in shown and "Bonferroni over 6 class and set pairs" in shown
    assert ("flips into Stop &lt;sign&gt; (1) 0.40 (95% bootstrap interval 0.35-0.45, 20 flips); "
            "flips into other classes (none)") in shown
    assert shown.count("<figure") == 2 and "a &lt;flip&gt;" in shown and "failed sanity check" not in shown
    (without,) = drawn(result(Verdict.PASS, AttractionBySet(attraction, None)), fake_run())
    assert "No explainer applies to this model" in without and "<figure" not in without


def test_reverse_engineered_triggers_are_pictured_with_their_class_and_norm_whatever_the_verdict(drawn):
    from safety_harness.evidence.results import ReverseEngineeredTriggers

    masks = np.zeros((2, 4, 4))
    masks[0, :2, :2] = 1.0
    patterns = np.full((2, 4, 4, 3), 255.0)  # a card with range [0, 255]
    triggers = ReverseEngineeredTriggers((1, 0), masks, patterns, (4.0, 9.5), flagged=1)
    run = SimpleNamespace(class_names=CLASS_NAMES, model=SimpleNamespace(card=SimpleNamespace(
        channels="BGR", fed_range=(0.0, 255.0))))
    for verdict in (Verdict.PASS, Verdict.FAIL):
        (shown,) = drawn(result(verdict, triggers), run)
        assert shown.count("evidence-trigger") == 2 and shown.count("<img") == 4
        assert "flagged: Stop &lt;sign&gt; (1), L1 norm 4.0: mask times pattern" in shown
        assert "Speed limit (20km/h) (0), L1 norm 9.5" in shown


def test_the_trigger_scans_statistics_and_rule_are_shown_beside_its_triggers(drawn):
    from dataclasses import replace

    from safety_harness.evidence.results import ReverseEngineeredTriggers

    triggers = ReverseEngineeredTriggers((1,), np.zeros((1, 4, 4)), np.zeros((1, 4, 4, 3)), (4.0,), flagged=1)
    details = {"statistics": {"smallest_class": 1, "smallest_norm": 4.0, "median_norm": 40.0, "ratio": 0.1,
                              "next_ratio": 0.4, "sign_share": 0.02, "success": 0.97, "anomaly_index": 3.2},
               "rule": "flag <this>", "sign_area": 200.0, "steps": 120, "converged": True, "settle_tolerance": 0.05,
               "settle_window_steps": 20,
               "calibration": {"false_alarms": 1, "clean_models": 9, "detections": 4, "planted_models": 5}}
    run = SimpleNamespace(class_names=CLASS_NAMES, model=SimpleNamespace(card=SimpleNamespace(
        channels="RGB", fed_range=(0.0, 1.0))))
    (shown,) = drawn(replace(result(Verdict.FAIL, triggers), details=details), run)
    assert shown.index("smallest trigger: Stop &lt;sign&gt; (1)") < shown.index("<figure")
    for text in ("L1 norm 4.0, 2.0% of the sign&#x27;s 200 px, success 97%", "0.10 of the median (40.0)",
                 "0.40 of the second smallest", "MAD anomaly index 3.20", "settled after 120 steps",
                 "Rule: flag &lt;this&gt;", "1 false alarm(s) of 9 clean models, 4 of 5 planted backdoors"):
        assert text in shown, text
    (unsettled,) = drawn(replace(result(Verdict.INSUFFICIENT_EVIDENCE, triggers),
                                 details={**details, "converged": False, "steps": 300}), run)
    assert "stopped at its budget of 300 steps before settling" in unsettled
    (unreached,) = drawn(replace(result(Verdict.INSUFFICIENT_EVIDENCE, triggers), details={"statistics": None}), run)
    assert "smallest trigger:" not in unreached and "<figure" in unreached


def test_a_trigger_pattern_is_shown_in_rgb_whatever_the_cards_channels_and_range():
    from safety_harness.report.triggers import displayed_pattern

    pattern = np.array([[[[-1.0, 0.0, 1.0]]]])
    np.testing.assert_array_equal(displayed_pattern(pattern, "BGR", (-1, 1))[0, 0, 0], [255, 128, 0])
    np.testing.assert_array_equal(displayed_pattern(np.full((1, 1, 1, 1), 0.5), "GRAY", (0, 1))[0, 0, 0],
                                  [128, 128, 128])
