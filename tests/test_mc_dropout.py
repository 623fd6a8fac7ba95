"""MC dropout: the entropy and mutual-information formulas, the seeded stochastic passes, and their cache."""

import types
from pathlib import Path

import numpy as np
import pytest

from safety_harness.core import tf_runtime
from safety_harness.core.progress import SILENT
from safety_harness.model_under_test.card import ModelCard
from safety_harness.ood import DETECTORS, DetectorInputs, McDropoutScores
from safety_harness.ood.mc_dropout import mutual_information, predictive_entropy
from safety_harness.run.mc_dropout import NO_DROPOUT, McDropoutStage, StochasticForward, noise_shape
from safety_harness.run.prediction_cache import PredictionCache
from tests.conftest import PROJECT_ROOT, gtsrb_test_subset

LN2 = np.log(2)


def test_passes_that_agree_have_no_mutual_information_however_unsure_they_are():
    unsure = np.full((5, 1, 4), 0.25)  # five passes, one image, all uniform over four classes
    assert predictive_entropy(unsure) == pytest.approx([np.log(4)])
    assert mutual_information(unsure) == pytest.approx([0.0], abs=1e-12)
    sure = np.tile(np.array([1.0, 0.0, 0.0]), (3, 1, 1))
    assert predictive_entropy(sure) == pytest.approx([0.0]) and mutual_information(sure) == pytest.approx([0.0])


def test_passes_that_disagree_have_mutual_information():
    # two confident passes naming different classes: the mean is a coin flip, each pass has no entropy
    disagree = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    assert predictive_entropy(disagree) == pytest.approx([LN2])
    assert mutual_information(disagree) == pytest.approx([LN2])
    # by hand: passes (0.9, 0.1) and (0.5, 0.5); mean (0.7, 0.3)
    h = lambda p: -sum(q * np.log(q) for q in p)  # noqa: E731
    partly = np.array([[[0.9, 0.1]], [[0.5, 0.5]]])
    assert mutual_information(partly) == pytest.approx([h([0.7, 0.3]) - (h([0.9, 0.1]) + h([0.5, 0.5])) / 2])
    assert 0 < mutual_information(partly)[0] < predictive_entropy(partly)[0]


@pytest.mark.parametrize("bad", [np.ones((2, 3)), np.full((2, 1, 3), 0.5), np.full((1, 1, 2), np.nan)])
def test_pass_probabilities_must_be_probabilities_of_shape_passes_images_classes(bad):
    with pytest.raises(ValueError, match="pass_probabilities"):
        mutual_information(bad)


def test_the_detectors_read_the_scores_and_say_when_there_are_none():
    scores = McDropoutScores(np.array([0.5, 1.0]), np.array([0.1, 0.2]))
    inputs = DetectorInputs(np.full((2, 2), 0.5), mc_dropout=scores)
    assert DETECTORS["mc_entropy"]().score(inputs).tolist() == [0.5, 1.0]
    assert DETECTORS["mc_mutual_information"]().score(inputs).tolist() == [0.1, 0.2]
    for name in ("mc_entropy", "mc_mutual_information"):
        assert DETECTORS[name].needs_mc_dropout
        assert "MC dropout" in DETECTORS[name]().unavailable_reason(DetectorInputs(np.full((2, 2), 0.5)))
    assert not DETECTORS["msp"].needs_mc_dropout


def loaded(network, output="probabilities"):
    """What StochasticForward and the cache keys read of a LoadedModel: its network, loader, card, identity and
    whether it can be differentiated (a deployed TFLite or ONNX model cannot)."""
    card = ModelCard(size=tuple(network.inputs[0].shape[1:3]), channels="RGB", pixel_range=(0.0, 1.0), output=output)
    return types.SimpleNamespace(network=network, loader="keras", card=card, path="test-model", sha256="0",
                                 gradients_unavailable_reason=None)


@pytest.fixture(scope="module")
def dropout_then_batch_norm():
    """Dropout(0.5) on one constant input, then BatchNormalization whose moving statistics are the identity,
    then a softmax: in inference mode each pass is one of two outputs, softmax(b) (dropped) or
    softmax(2 w / sqrt(1 + eps) + b) (kept and scaled by 1 / (1 - 0.5))."""
    keras = tf_runtime.keras()
    keras.utils.set_random_seed(0)
    network = keras.Sequential([keras.Input((2, 2, 3)), keras.layers.Flatten(), keras.layers.Dense(1, use_bias=False),
                                keras.layers.Dropout(0.5), keras.layers.BatchNormalization(),
                                keras.layers.Dense(3, activation="softmax")])
    network.layers[1].set_weights([np.full((12, 1), 1 / 12, np.float32)])  # the mean of the inputs: 1 for white
    return network


def test_each_pass_drops_with_the_layer_rate_and_runs_batch_normalisation_on_its_moving_statistics(
        dropout_then_batch_norm):
    network = dropout_then_batch_norm
    forward = StochasticForward(loaded(network), passes=50, seed=3)
    white = np.full((8, 2, 2, 3), 255, np.uint8)
    passes = forward.pass_probabilities(white, chunk_number=0)
    assert passes.shape == (50, 8, 3)
    kernel, bias = network.layers[-1].get_weights()
    batch_norm = network.layers[-2]
    kept = 2 / np.sqrt(1 + batch_norm.epsilon)
    softmax = lambda z: np.exp(z) / np.exp(z).sum()  # noqa: E731
    outcomes = np.stack([softmax(bias), softmax(kept * kernel[0] + bias)])
    nearest = np.abs(passes[..., None, :] - outcomes).max(axis=-1).argmin(axis=-1)
    assert np.allclose(passes, outcomes[nearest], atol=1e-5)
    assert 0.3 < nearest.mean() < 0.7  # about half the units kept
    assert forward.describe()["dropout_layers"] == [{"name": network.layers[2].name, "rate": 0.5}]


def test_passes_are_deterministic_for_a_seed_whatever_the_batching(dropout_then_batch_norm):
    images = np.random.default_rng(0).integers(0, 256, (150, 2, 2, 3), dtype=np.uint8)
    first = StochasticForward(loaded(dropout_then_batch_norm), passes=20, seed=7).scores([images])
    again = StochasticForward(loaded(dropout_then_batch_norm), passes=20, seed=7).scores(
        [images[:10], images[10:99], images[99:]])
    other_seed = StochasticForward(loaded(dropout_then_batch_norm), passes=20, seed=8).scores([images])
    assert np.array_equal(first.entropy, again.entropy)
    assert np.array_equal(first.mutual_information, again.mutual_information)
    assert not np.array_equal(first.mutual_information, other_seed.mutual_information)
    assert (first.mutual_information > 0).any()


def test_a_model_without_dropout_cannot_run_mc_dropout():
    keras = tf_runtime.keras()
    network = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                                keras.layers.Dense(43, activation="softmax")])
    with pytest.raises(ValueError, match=NO_DROPOUT):
        StochasticForward(loaded(network))
    run = types.SimpleNamespace(model=loaded(network), options=types.SimpleNamespace(seed=0),
                                cache=PredictionCache(None))
    assert McDropoutStage(run).unavailable_reason == "model has no Dropout layer: MC dropout needs one"
    saved_model = types.SimpleNamespace(network=None, loader="tf.saved_model", card=loaded(network).card,
                                        gradients_unavailable_reason=None)
    with pytest.raises(ValueError, match="MC dropout needs the model's layers, which are not accessible: SavedModel"):
        StochasticForward(saved_model)


def test_spatial_dropout_draws_one_mask_entry_per_feature_map():
    keras, tf = tf_runtime.keras(), tf_runtime.tensorflow()
    x = tf.zeros((5, 6, 7, 3))
    assert noise_shape(keras.layers.SpatialDropout2D(0.5), x, spatial=True).numpy().tolist() == [5, 1, 1, 3]
    first = keras.layers.SpatialDropout2D(0.5, data_format="channels_first")
    assert noise_shape(first, x, spatial=True).numpy().tolist() == [5, 6, 1, 1]
    assert noise_shape(keras.layers.Dropout(0.5, noise_shape=(None, 1, 1, 3)), x,
                       spatial=False).numpy().tolist() == [5, 1, 1, 3]
    assert noise_shape(keras.layers.Dropout(0.5), x, spatial=False) is None


def test_scores_are_cached_under_the_images_key_passes_and_seed(dropout_then_batch_norm, tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (70, 2, 2, 3), dtype=np.uint8)
    run = types.SimpleNamespace(model=loaded(dropout_then_batch_norm), options=types.SimpleNamespace(seed=0),
                                cache=PredictionCache(tmp_path), progress=SILENT)
    computed = McDropoutStage(run).scores("images-key", "test images", [images], len(images))
    assert run.cache.outcomes["MC dropout test images"] == "computed"

    def never_read():
        raise AssertionError("a warm run decodes no image for MC dropout")
        yield

    cached = McDropoutStage(run).scores("images-key", "test images", never_read(), len(images))
    assert run.cache.outcomes["MC dropout test images"] == "cache"
    assert np.array_equal(cached.entropy, computed.entropy)
    assert np.array_equal(cached.mutual_information, computed.mutual_information)
    run.options.seed = 1  # another seed is another entry
    McDropoutStage(run).scores("images-key", "test images", [images], len(images))
    assert run.cache.outcomes["MC dropout test images"] == "computed"


def mc_dropout_requirements(folder):
    """An OOD separation and a silent-miss requirement like the bundled ones, on the MC dropout detectors."""
    path = folder / "mc_dropout.yaml"
    path.write_text("""version: 1
requirements:
  - id: SR-MC-OOD-SEPARATION
    title: MC dropout entropy separates unknown inputs from traffic signs (AUROC)
    hazard: h
    metric: auroc
    detector: mc_entropy
    ood_sets: [noise, scenes]
    threshold: 0.90
    direction: ">="
  - id: SR-MC-SILENT-STOP-MISS
    title: A stop sign is either recognised or handed over by the MC dropout monitor
    hazard: h
    metric: silent_failure_rate
    class: 14
    detector: mc_mutual_information
    target_false_alarm_rate: 0.05
    condition: [clean, "fog:1"]
    threshold: 0.005
    direction: "<="
""")
    return path


def test_mc_dropout_requirements_are_not_applicable_to_a_model_without_dropout(run_safety_suite, untrained_model,
                                                                                   tmp_path):
    run = run_safety_suite(f"--model={untrained_model}", f"--requirements={mc_dropout_requirements(tmp_path)}",
                           name="no-dropout")
    results = run.evidence["requirements"]
    assert len(results) == 4, run.output  # two OOD sets, two conditions
    assert all(r["verdict"] == "not_applicable" for r in results)
    assert all(r["reason"] == "detector unavailable: model has no Dropout layer: MC dropout needs one" for r in results)
    assert run.evidence["gate"] == "no_verdict" and run.returncode == 1


def test_mc_dropout_detectors_judge_a_shared_model_with_dropout_end_to_end(run_safety_suite, shared_path, tmp_path):
    """nvarshi2004 has one Dropout layer, before its last Dense layer; on the first 1000 images of the bundled
    synthetic ingest (20 passes on each), with the bundled reference."""
    from safety_harness.synthetic.default_ingest import ensure_default_ingest, ensure_default_reference

    model = shared_path("models", "nvarshi2004", "traffic_sign_model.keras")
    card = Path(__file__).parent / "shared_model_cards" / "nvarshi2004.yaml"
    requirements = mc_dropout_requirements(tmp_path)
    ingest = gtsrb_test_subset(ensure_default_ingest(PROJECT_ROOT / ".cache"), tmp_path / "ingest",
                               lambda rows: rows[:1000])
    options = (f"--model={model}", f"--model-card={card}", f"--requirements={requirements}", f"--ingest={ingest}",
               f"--reference={ensure_default_reference(PROJECT_ROOT / '.cache')}")
    run = run_safety_suite(*options, name="mc-dropout")
    results = {(r["requirement"], r["condition"], r["details"].get("ood_set")): r
               for r in run.evidence["requirements"]}
    assert set(results) == {("SR-MC-OOD-SEPARATION", "clean", "noise"), ("SR-MC-OOD-SEPARATION", "clean", "scenes"),
                            ("SR-MC-SILENT-STOP-MISS", "clean", None), ("SR-MC-SILENT-STOP-MISS", "fog:1", None)}, \
        run.output
    for result in results.values():
        assert result["verdict"] in ("pass", "fail", "insufficient_evidence"), run.output
        assert 0 <= result["value"] <= 1 and 0 <= result["bound"] <= 1
        assert result["details"]["mc_dropout"]["passes"] == 20
        assert result["details"]["mc_dropout"]["dropout_layers"] == [{"name": "dropout", "rate": 0.5}]
    silent = results[("SR-MC-SILENT-STOP-MISS", "fog:1", None)]
    # n: the stop signs among the 1000 images
    assert silent["details"]["detector"] == "mc_mutual_information" and silent["n"] == 159
    assert silent["details"]["silent_failures"] == silent["successes"]
    # a second run reads every MC dropout score from the cache and judges the same
    again = run_safety_suite(*options, name="mc-dropout-warm")
    mc_stages = {stage: source for stage, source in again.evidence["predictions_from"].items()
                 if stage.startswith("MC dropout")}
    assert set(mc_stages) == {"MC dropout ingest clean", "MC dropout ingest fog:1", "MC dropout reference data clean",
                              "MC dropout OOD set noise", "MC dropout OOD set scenes", "MC dropout availability"}
    assert set(mc_stages.values()) == {"cache"}
    assert again.evidence["requirements"] == run.evidence["requirements"]
