"""The run's explanation stage (safety_harness/run/explanations.py): which explainer draws the heatmaps, and whether
they count as evidence."""

from types import SimpleNamespace

import numpy as np

from safety_harness.run.explanations import ExplainerFigures, ExplanationStage


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
