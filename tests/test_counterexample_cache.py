"""The run's sticker counterexample stage (safety_harness/run/counterexample.py): a search is read back from the cache
exactly as it was computed, without calling the model, and searched again when anything that determines it changes.
On the bundled reference model and a small rendered ingest of stop signs."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from safety_harness.model_under_test.reference import BUNDLED_MODEL
from safety_harness.perturbations.search import SearchResult
from safety_harness.plan.plan import RunOptions, plan_run
from safety_harness.run.run import SafetyRun
from safety_harness.synthetic.default_ingest import write_ingest

REQUIREMENTS = Path(__file__).parents[1] / "safety_tests" / "requirements.yaml"
STOP_SIGN, MAX_EXAMPLES = 14, 20
OUTCOME = "sticker counterexample search clean class 14"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("counterexample")
    write_ingest(folder / "ingest", per_class=0, stop_signs=12, seed=1)
    return SafetyRun(plan_run(RunOptions(model_path=BUNDLED_MODEL, card_path=None, ingest_path=folder / "ingest",
                                         requirements_path=REQUIREMENTS, cache_dir=folder / "cache")))


def searched(run, budget, max_examples=MAX_EXAMPLES) -> tuple[SearchResult, str]:
    """The stage's search for stop-sign counterexamples on the clean ingest, and where it came from."""
    result = run.counterexample.search(run.clean, STOP_SIGN, budget, max_examples)
    return result, run.cache.outcomes[OUTCOME]


def refuse_model_calls(monkeypatch, run):
    def predict(model, images):
        raise AssertionError("a search served from the cache calls the model")

    monkeypatch.setattr(type(run.model), "predict", predict)


# on this ingest the bundled model resists every placement within 20 % of the sign in 20 candidates, and a
# placement within the whole sign turns a stop sign into another class
@pytest.mark.parametrize("budget, found", [(1.0, True), (0.2, False)])
def test_a_cached_search_is_the_computed_one_field_by_field_and_calls_no_model(run, monkeypatch, budget, found):
    computed, outcome = searched(run, budget)
    assert outcome == "computed" and computed.found is found
    refuse_model_calls(monkeypatch, run)
    cached, outcome = searched(run, budget)
    assert outcome == "cache"
    for field in dataclasses.fields(SearchResult):
        stored, original = getattr(cached, field.name), getattr(computed, field.name)
        if isinstance(original, np.ndarray):  # the exhibited images, bit for bit
            assert stored.dtype == original.dtype and stored.shape == original.shape, field.name
            assert stored.tobytes() == original.tobytes(), field.name
        else:  # the same values of the same Python types (repr tells a numpy scalar from a float)
            assert stored == original and repr(stored) == repr(original), field.name
    assert cached.describe() == computed.describe()


def one_pixel_changed(run, monkeypatch):
    images = run.images

    def changed(predictions, positions):
        pictures, rois = images(predictions, positions)
        pictures = pictures.copy()
        pictures[-1, 0, 0, 0] ^= 1
        return pictures, rois

    monkeypatch.setattr(run, "images", changed)


def one_box_changed(run, monkeypatch):
    images = run.images

    def changed(predictions, positions):
        pictures, rois = images(predictions, positions)
        rois = rois.copy()
        rois[-1, 0] += 1
        return pictures, rois

    monkeypatch.setattr(run, "images", changed)


@pytest.mark.parametrize("change, budget, max_examples", [
    (None, 0.25, MAX_EXAMPLES), (None, 0.2, MAX_EXAMPLES + 1), (one_pixel_changed, 0.2, MAX_EXAMPLES),
    (one_box_changed, 0.2, MAX_EXAMPLES)])
def test_a_changed_budget_candidate_count_image_or_sign_box_is_searched_again(run, monkeypatch, change, budget,
                                                                              max_examples):
    searched(run, 0.2)
    assert searched(run, 0.2)[1] == "cache"
    if change is not None:
        change(run, monkeypatch)
    assert searched(run, budget, max_examples)[1] == "computed"
