"""The run's explanation stage (safety_harness/run/explanations.py): which explainer draws the heatmaps, and whether
they count as evidence."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from safety_harness.metrics.verdicts import Verdict
from safety_harness.run import explanations as explanation_stage
from safety_harness.run.explanations import ExplainerFigures, ExplanationStage, Heatmaps


def stage(*figures):
    """A stage whose self-check figures are given (the checks themselves are tested in tests/test_explanations.py)."""
    explanations = ExplanationStage(SimpleNamespace(options=SimpleNamespace(seed=0)))
    explanations.figures = figures
    explanations.sample_positions = np.arange(16)
    return explanations


def checked(name, median_correlation, passed):
    return ExplainerFigures(name, True, None, median_correlation=median_correlation, passed=passed)


def test_the_first_explainer_that_passed_both_self_checks_is_chosen():
    explanations = stage(ExplainerFigures("lrp", False, "no rule"), checked("gradcam", 0.4, False),
                         checked("integrated_gradients", 0.3, True))
    assert explanations.chosen == explanations.heatmap_explainer == "integrated_gradients"
    assert explanations.to_dict()["chosen"] == "integrated_gradients"


def test_without_a_passing_explainer_the_best_scoring_one_draws_the_heatmaps_and_none_is_chosen():
    explanations = stage(checked("gradcam", 0.7, False), checked("integrated_gradients", 0.55, False),
                         ExplainerFigures("lrp", False, "no rule"))
    assert explanations.chosen is None and explanations.heatmap_explainer == "integrated_gradients"
    record = explanations.to_dict()
    assert record["chosen"] is None and record["heatmaps_from"] == "integrated_gradients"
    assert [e["name"] for e in record["explainers"]] == ["gradcam", "integrated_gradients", "lrp"]


def test_without_an_applicable_explainer_there_are_no_heatmaps():
    explanations = stage(ExplainerFigures("gradcam", False, "SavedModel"))
    assert explanations.heatmap_explainer is None
    assert explanations.heatmaps(np.zeros((2, 4, 4, 3), np.uint8), [0, 1]) is None


def class_view_stage(labels, predicted, sanity_passed=True):
    """A stage on a fake run of 4x4 images, each sign's box its left half; its maps put all relevance on the
    first pixel row (inside the box in the left half), recording the classes they were asked for."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    clean = SimpleNamespace(labels=labels, predicted=predicted, indices=np.arange(labels.size),
                            ingest=SimpleNamespace(records=[SimpleNamespace(path=Path(f"img{i}.png"))
                                                            for i in range(labels.size)]))

    def images(predictions, positions):
        positions = np.asarray(positions)
        return (np.stack([np.full((4, 4, 3), p, np.uint8) for p in positions]),
                np.tile([0, 0, 2, 4], (positions.size, 1)))
    run = SimpleNamespace(options=SimpleNamespace(seed=0), clean=clean, images=images,
                          class_names=tuple(f"class {c}" for c in range(43)))
    explanations = ExplanationStage(run)
    explanations.figures = (checked("gradcam", 0.2, sanity_passed),)
    asked = []

    def heatmaps(images, class_ids):
        asked.append(sorted(set(np.asarray(class_ids).tolist())))
        maps = np.zeros((len(images), 4, 4), np.float32)
        maps[:, 0, :] = 1.0
        return Heatmaps(maps, "gradcam", sanity_passed)
    explanations.heatmaps = heatmaps
    return explanations, asked


def test_a_class_view_averages_a_seeded_sample_of_the_recognised_signs_of_the_class(monkeypatch):
    monkeypatch.setattr(explanation_stage, "CLASS_VIEW_SAMPLE", 3)
    # positions 0-4 are recognised stop signs, 5 a missed one, 6 a sign of another class
    explanations, asked = class_view_stage([14, 14, 14, 14, 14, 14, 2], [14, 14, 14, 14, 14, 1, 2])
    view = explanations.class_view(14)
    assert asked == [[14]] and view.explainer == "gradcam" and view.sanity_passed and view.reason is None
    assert view.recognised == 5 and view.averaged == 3
    # the images' pixel values are their positions: the mean image is the mean of three recognised ones
    averaged = [int(name[3:-4]) for name in view.maps.example_names]
    assert len(averaged) == 3 and set(averaged) <= {0, 1, 2, 3, 4} and averaged == sorted(averaged)
    assert view.maps.mean_image[0, 0, 0] == round(np.mean(averaged))
    np.testing.assert_allclose(view.maps.mean_map, [[0.25] * 4, [0.0] * 4, [0.0] * 4, [0.0] * 4])
    assert view.median_mass_in_box == 0.5  # the first row's left half
    assert view.to_dict()["examples"] == list(view.maps.example_names)
    assert explanations.class_view(14).maps.example_names == view.maps.example_names  # seeded


def test_a_class_view_says_why_it_has_no_map():
    explanations, _ = class_view_stage([14, 2], [2, 2])
    assert explanations.class_view(14).reason == "no clean image of this class is recognised as it"
    explanations, _ = class_view_stage([-1, -1], [14, 14])
    assert "unlabelled" in explanations.class_view(14).reason
    explanations, _ = class_view_stage([14], [14])
    explanations.figures = (ExplainerFigures("gradcam", False, "SavedModel"),)
    view = explanations.class_view(14)
    assert view.reason == "no explainer applies to this model" and view.explainer is None
    assert explanations.to_dict([view])["class_views"][0]["reason"] == view.reason


def test_the_stop_sign_and_every_attracting_class_of_a_blocking_verdict_are_viewed():
    def judged(verdict, attracting):
        return SimpleNamespace(verdict=verdict, details={"attracting_class": attracting})
    results = [judged(Verdict.PASS, 3), judged(Verdict.FAIL, 7), judged(Verdict.INSUFFICIENT_EVIDENCE, 14)]
    explanations, _ = class_view_stage([14], [14])
    assert explanations.viewed_classes(results) == [14, 7]
