"""Results a warm run reads from the cache instead of recomputing them with the model or TensorFlow: the image
detectors' scores, the OOD sets' predictions, the explainer's heatmaps and whether MC dropout applies
(safety_harness/run/prediction_cache.py ``PredictionCache.cached``)."""

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from safety_harness.model_under_test import load_model
from safety_harness.ood import DetectorInputs, appearance
from safety_harness.ood.reconstruction import Reconstruction
from safety_harness.plan.requirements import CLEAN
from safety_harness.run.explanations import ExplainerFigures, ExplanationStage
from safety_harness.run.mc_dropout import McDropoutStage
from safety_harness.run.prediction_cache import PredictionCache
from safety_harness.run.predictions import Predictions
from safety_harness.run.uncertainty import UncertaintyContext, inputs_of
from safety_harness.synthetic.renderer import render_sign

REFERENCE_MODEL = Path(__file__).resolve().parents[1] / "model_under_test" / "reference" / "gtsrb_reference.keras"


@pytest.fixture(scope="module")
def model():
    return load_model(REFERENCE_MODEL)


def identity_only(model):
    """The model as a warm run may see it: its identity and what its admission recorded, no network (touching one
    fails the test)."""
    return SimpleNamespace(sha256=model.sha256, card=model.card, path=model.path,
                           gradients_unavailable_reason=model.gradients_unavailable_reason)


def test_cached_arrays_are_computed_once_and_absent_ones_stay_absent(tmp_path):
    cache, calls = PredictionCache(tmp_path), []

    def compute():
        calls.append(1)
        return {"scores": np.arange(3.0), "logits": None}

    computed = cache.cached("stage", compute, images=np.zeros(2))
    assert cache.outcomes["stage"] == "computed" and set(computed) == {"scores"}
    cached = PredictionCache(tmp_path).cached("stage", compute, images=np.zeros(2))
    assert len(calls) == 1 and set(cached) == {"scores"} and np.array_equal(cached["scores"], computed["scores"])
    assert cache.cached("stage", compute, images=np.ones(2)) and len(calls) == 2
    # a stage of several entries, one of them computed in this run, is not noted as served from the cache
    assert cache.cached("stage", compute, images=np.zeros(2)) and cache.outcomes["stage"] == "computed"


def detector_run(cache_folder):
    """A run whose clean data is 300 rendered signs: its seeded thirds fit the image detectors."""
    signs = np.stack([render_sign(i % 43, i, 32).image for i in range(300)])
    clean = Predictions(None, CLEAN, np.arange(300), np.arange(300) % 43, np.full((300, 43), 1 / 43), None, None,
                        appearance(signs))
    return SimpleNamespace(cache=PredictionCache(cache_folder), reference_ingest=None, clean=clean,
                           options=SimpleNamespace(seed=0))


def test_image_detector_scores_are_cached_and_a_warm_run_builds_no_network(tmp_path, monkeypatch):
    noise = np.random.default_rng(0).integers(0, 256, (50, 16, 16, 3), dtype=np.uint8)
    inputs = DetectorInputs(np.ones((50, 1)), images=noise)
    cold_run = detector_run(tmp_path)
    cold = UncertaintyContext(cold_run, mc_dropout=None, given_ood_sets={})
    computed = cold.scores(cold.detector("reconstruction"), inputs)
    assert cold_run.cache.outcomes["reconstruction detector scores"] == "computed"

    def no_network(self, state):
        raise AssertionError("a warm run builds no detector network")

    with monkeypatch.context() as patched:
        patched.setattr(Reconstruction, "_build", no_network)
        warm_run = detector_run(tmp_path)
        warm = UncertaintyContext(warm_run, mc_dropout=None, given_ood_sets={})
        detector = warm.detector("reconstruction")
        assert np.array_equal(warm.scores(detector, inputs), computed)
        assert warm_run.cache.outcomes == {"reconstruction detector": "cache",
                                            "reconstruction detector scores": "cache"}
    changed = noise.copy()
    changed[0] = 255 - changed[0]
    rescored = warm.scores(detector, DetectorInputs(np.ones((50, 1)), images=changed))
    assert warm_run.cache.outcomes["reconstruction detector scores"] == "computed"
    assert np.array_equal(rescored[1:], computed[1:]) and rescored[0] != computed[0]


def test_the_seeded_thirds_index_the_detector_inputs_of_the_clean_data_instead_of_copying_them(tmp_path):
    run = detector_run(tmp_path)
    clean = run.clean = dataclasses.replace(run.clean, features=np.random.default_rng(0).normal(size=(300, 8)))
    uncertainty = UncertaintyContext(run, mc_dropout=None, given_ood_sets={})
    thirds = (uncertainty.fitting, uncertainty.calibration, uncertainty.held_out)
    assert sorted(np.concatenate([third.indices for third in thirds]).tolist()) == list(range(300))
    for third in thirds:
        assert third.features is None and third.appearance is None  # no second copy kept all run
        inputs, positions = inputs_of(third), np.searchsorted(clean.indices, third.indices)
        assert np.array_equal(inputs.features, clean.features[positions])
        assert np.array_equal(inputs.images, clean.appearance[positions])
        assert np.array_equal(inputs.probabilities, clean.probabilities[positions])


def ood_run(model, cache_folder):
    plan = SimpleNamespace(ood_sets_needed={"noise"}, mc_dropout_conditions=())
    return SimpleNamespace(model=model, plan=plan, cache=PredictionCache(cache_folder),
                           options=SimpleNamespace(seed=0, batch_size=64))


def test_ood_set_predictions_are_cached_and_a_warm_run_reads_them_without_the_model(model, tmp_path):
    cold = UncertaintyContext(ood_run(model, tmp_path), mc_dropout=None, given_ood_sets={})
    (ood_set, computed), = cold.ood_sets.values()
    assert np.array_equal(computed.probabilities[:64], model.predict(ood_set.images[:64]).probabilities)
    warm_run = ood_run(identity_only(model), tmp_path)
    (_, cached), = UncertaintyContext(warm_run, mc_dropout=None, given_ood_sets={}).ood_sets.values()
    assert warm_run.cache.outcomes == {"OOD set noise predictions": "cache"}
    for name in ("probabilities", "logits", "features", "images"):
        assert np.array_equal(getattr(cached, name), getattr(computed, name))
    other_seed = ood_run(model, tmp_path)
    other_seed.options.seed = 1  # other images
    UncertaintyContext(other_seed, None, {}).ood_sets  # noqa: B018 (the property draws and predicts the sets)
    assert other_seed.cache.outcomes == {"OOD set noise predictions": "computed"}


def explanation_run(model, cache_folder):
    return SimpleNamespace(model=model, cache=PredictionCache(cache_folder), options=SimpleNamespace(seed=0))


def explanations(run):
    stage = ExplanationStage(run)
    stage.figures = (ExplainerFigures("gradcam", True, None, median_correlation=0.2, passed=True),)
    return stage


def test_heatmaps_are_cached_and_a_warm_run_reads_them_without_the_model(model, tmp_path):
    images = np.stack([render_sign(c, c, model.card.size[0]).image for c in (14, 1, 2)])
    computed = explanations(explanation_run(model, tmp_path)).heatmaps(images, [14, 1, 2])
    warm_run = explanation_run(identity_only(model), tmp_path)
    cached = explanations(warm_run).heatmaps(images, [14, 1, 2])
    assert warm_run.cache.outcomes == {"heatmaps": "cache"}
    assert np.array_equal(cached.maps, computed.maps) and cached.maps.dtype == computed.maps.dtype
    assert (cached.explainer, cached.sanity_passed) == ("gradcam", True)
    other_class = explanation_run(model, tmp_path)
    explanations(other_class).heatmaps(images, [14, 1, 3])
    assert other_class.cache.outcomes == {"heatmaps": "computed"}


def test_whether_mc_dropout_applies_is_cached_and_read_without_the_model(model, tmp_path):
    cold = McDropoutStage(explanation_run(model, tmp_path))
    reason, described = cold.unavailable_reason, cold.describe()
    assert reason is None and described["dropout_layers"]  # the bundled model has a Dropout layer
    warm_run = explanation_run(identity_only(model), tmp_path)
    warm = McDropoutStage(warm_run)
    assert warm.unavailable_reason is None and warm.describe() == described
    assert warm_run.cache.outcomes == {"MC dropout availability": "cache"}
