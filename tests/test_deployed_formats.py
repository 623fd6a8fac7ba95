"""The deployed formats: the shared Keras models converted at test time (tools/convert_model.py) to float32 TFLite,
full-integer TFLite and ONNX, judged as the Keras models are; what the runtimes give, and what they cannot."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from safety_harness.core.errors import HarnessInputError
from safety_harness.ingest import iter_image_batches, open_ingest
from safety_harness.model_under_test import ensemble_of, load_model
from safety_harness.model_under_test.loading import admission, deferred_model
from tools.convert_model import convert

CARDS = Path(__file__).parent / "shared_model_cards"
#: shared models converted, with their files and cards
SHARED = {"abis47": "traffic_classifier.h5", "nvarshi2004": "traffic_sign_model.keras"}
#: the first images of Final_Test compared per model and format (the whole set was compared by hand: README)
AGREEMENT_IMAGES = 3000
#: the first images compared for the channels-first and fixed-batch variants, run in small chunks
VARIANT_IMAGES = 500


@pytest.fixture(scope="session")
def converted(shared_path, tmp_path_factory):
    """Each shared model in each deployed format, with its card beside it: {(model, target): path}; the int8
    model of nvarshi2004 is calibrated on real training images (Train_Tracks), never on the test set."""
    folder = tmp_path_factory.mktemp("converted")
    paths = {}
    for name, file in SHARED.items():
        for target, suffix in (("float32.tflite", "tflite"), ("onnx", "onnx")):
            paths[name, target] = convert(shared_path("models", name, file), target, folder / f"{name}.{suffix}",
                                          CARDS / f"{name}.yaml")
    abis47 = shared_path("models", "abis47", SHARED["abis47"])
    paths["abis47", "onnx NCHW batch 8"] = convert(abis47, "onnx", folder / "abis47_nchw.onnx", CARDS / "abis47.yaml",
                                                   batch=8, nchw=True)
    paths["abis47", "dynamic-range.tflite"] = convert(abis47, "dynamic-range.tflite", folder / "abis47_dynamic.tflite",
                                                      CARDS / "abis47.yaml")
    paths["abis47", "tflite batch 1"] = convert(abis47, "float32.tflite", folder / "abis47_batch1.tflite",
                                                CARDS / "abis47.yaml", batch=1)
    paths["nvarshi2004", "int8.tflite"] = convert(
        shared_path("models", "nvarshi2004", SHARED["nvarshi2004"]), "int8.tflite", folder / "nvarshi2004_int8.tflite",
        CARDS / "nvarshi2004.yaml", shared_path("gtsrb", "Train_Tracks"))
    for path in paths.values():
        shutil.copyfile(CARDS / f"{path.stem.split('_')[0]}.yaml", path.with_suffix(".yaml"))
    return paths


@pytest.fixture(scope="session")
def keras_reference(shared_path):
    """``keras_reference(name)``: the first :data:`AGREEMENT_IMAGES` images of Final_Test decoded as the shared
    model's card says, and the classes the Keras model predicts for them; computed once per model."""
    computed = {}

    def reference(name):
        if name not in computed:
            model = load_model(shared_path("models", name, SHARED[name]), CARDS / f"{name}.yaml")
            ingest, card = open_ingest(shared_path("gtsrb", "Final_Test")), model.card
            images = np.concatenate([batch.images for batch in iter_image_batches(
                ingest, card.size, card.interpolation, 500, np.arange(AGREEMENT_IMAGES))])
            computed[name] = images, predicted_classes(model, images), model
        return computed[name]

    return reference


def predicted_classes(model, images) -> np.ndarray:
    return np.concatenate([model.predict(images[start:start + 500]).probabilities.argmax(axis=1)
                           for start in range(0, len(images), 500)])


@pytest.mark.parametrize("name", SHARED)
@pytest.mark.parametrize("target", ["float32.tflite", "onnx"])
def test_a_converted_model_predicts_the_class_the_keras_model_predicts(converted, keras_reference, name, target):
    images, keras_classes, keras_model = keras_reference(name)
    deployed = load_model(converted[name, target])
    assert deployed.format == target.split(".")[-1] and deployed.card == keras_model.card
    assert deployed.input_shape == keras_model.input_shape and "NHWC (detected" in deployed.runtime
    assert (predicted_classes(deployed, images) == keras_classes).mean() >= 0.999


@pytest.mark.parametrize("variant, described", [("onnx NCHW batch 8", "[8, 3, 30, 30] NCHW (detected"),
                                                 ("tflite batch 1", "[1, 30, 30, 3] NHWC (detected")])
def test_channels_first_and_fixed_batch_models_agree_with_keras(converted, keras_reference, variant, described):
    """As PyTorch exports (channels first) and as fixed-batch exporters write: 500 images in chunks of 8 or one by one."""
    images, keras_classes, _ = keras_reference("abis47")
    deployed = load_model(converted["abis47", variant])
    assert described in deployed.runtime and deployed.input_shape == (None, 30, 30, 3)
    assert (predicted_classes(deployed, images[:VARIANT_IMAGES]) == keras_classes[:VARIANT_IMAGES]).all()


def test_a_dynamic_range_model_is_fed_float_and_agrees_with_keras(converted, keras_reference):
    """int8 weights, float activations: measured on all of Final_Test, see README."""
    images, keras_classes, _ = keras_reference("abis47")
    deployed = load_model(converted["abis47", "dynamic-range.tflite"])
    assert "input 'image' float32 [None, 30, 30, 3] NHWC" in deployed.runtime and "quantised" not in deployed.runtime
    assert (predicted_classes(deployed, images[:VARIANT_IMAGES]) == keras_classes[:VARIANT_IMAGES]).mean() >= 0.99


def test_without_litert_tflite_runs_on_tensorflows_interpreter_and_says_so(converted, monkeypatch):
    path = converted["abis47", "float32.tflite"]
    on_litert = load_model(path)
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # what `import ai_edge_litert` meets when absent
    on_tensorflow = load_model(path)
    assert on_litert.loader.startswith("ai-edge-litert") and on_tensorflow.loader.startswith("tf.lite (TensorFlow")
    assert any("deprecated" in warning for warning in on_tensorflow.load_warnings)
    assert on_tensorflow.runtime.startswith("tf.lite") and on_tensorflow.num_parameters == on_litert.num_parameters
    images = np.random.default_rng(3).integers(0, 256, (16, 30, 30, 3), np.uint8)
    assert np.allclose(on_tensorflow.predict(images).probabilities, on_litert.predict(images).probabilities, atol=1e-5)


def test_the_card_sets_the_layout_of_a_deployed_model_only(converted, shared_path, tmp_path):
    card = tmp_path / "card.yaml"
    card.write_text((CARDS / "abis47.yaml").read_text().replace("  resize:", "  layout: NCHW\n  resize:"))
    assert "NCHW (from card" in load_model(converted["abis47", "onnx NCHW batch 8"], card).runtime
    with pytest.raises(HarnessInputError, match="feeds channels last"):
        load_model(shared_path("models", "abis47", SHARED["abis47"]), card)


def test_an_ensemble_takes_deployed_members(converted):
    """Each member at its own size and preprocessing: a float32 TFLite 30x30 RGB and an ONNX 32x32 BGR model."""
    members = [load_model(converted["abis47", "float32.tflite"]), load_model(converted["nvarshi2004", "onnx"])]
    ensemble = ensemble_of(members)
    images = np.random.default_rng(2).integers(0, 256, (4, 32, 32, 3), np.uint8)
    outputs = ensemble.predict(images)
    assert outputs.member_probabilities.shape == (4, 2, 43)
    assert np.allclose(outputs.probabilities, outputs.member_probabilities.mean(axis=1))


def test_a_full_integer_model_is_fed_and_read_through_its_quantisation(converted, shared_path):
    model = load_model(converted["nvarshi2004", "int8.tflite"])
    assert model.loader.startswith(("ai-edge-litert", "tf.lite"))
    assert "input 'image' uint8" in model.runtime and "quantised (scale 0.00392" in model.runtime
    images = np.random.default_rng(0).integers(0, 256, (7, 32, 32, 3), np.uint8)
    probabilities = model.predict(images).probabilities
    # a quantised softmax comes back dequantised, renormalised, in steps of 1/256 before that
    assert probabilities.dtype == np.float32 and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert (model.predict(images[:3]).probabilities == probabilities[:3]).all()  # batch-size independent here


def independent_int8_predictions(path, test_set) -> tuple[np.ndarray, np.ndarray]:
    """The int8 model's classes on ``test_set`` computed here: its own decoding, BGR order and [0, 1] range
    (nvarshi2004's card), the input quantisation read from the interpreter, one image at a time."""
    import cv2
    from PIL import Image

    from safety_harness.core import tf_runtime

    interpreter = tf_runtime.tensorflow().lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    (model_input,), (model_output,) = interpreter.get_input_details(), interpreter.get_output_details()
    scale, zero_point = model_input["quantization"]
    rows = [line.split(";") for line in (test_set / "GT-final_test.csv").read_text().splitlines()[1:]]
    predicted = []
    for row in rows:
        rgb = np.asarray(Image.open(test_set / "Images" / row[0]).convert("RGB"))
        x = cv2.resize(rgb, (32, 32), interpolation=cv2.INTER_LINEAR)[..., ::-1].astype(np.float32) / 255
        interpreter.set_tensor(model_input["index"], np.clip(np.rint(x / scale) + zero_point, 0, 255)
                               .astype(np.uint8)[None])
        interpreter.invoke()
        predicted.append(int(interpreter.get_tensor(model_output["index"])[0].argmax()))
    return np.array([int(row[7]) for row in rows]), np.array(predicted)


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_the_full_integer_model_is_judged_end_to_end(run_safety_suite, converted, final_test_subset):
    path = converted["nvarshi2004", "int8.tflite"]
    run = run_safety_suite(f"--model={path}", f"--ingest={final_test_subset}", "-k",
                           "SR-ACCURACY or SR-STOP-RECALL or SR-TRIGGER-SCAN", name="int8")
    assert run.returncode in (0, 1), run.output
    identity = run.evidence["model"]
    assert identity["format"] == "tflite" and "quantised" in identity["runtime"] and identity["card"]["channels"] == "BGR"
    results = {r["id"]: r for r in run.evidence["requirements"]}
    labels, predicted = independent_int8_predictions(path, final_test_subset)
    stop = labels == 14
    assert results["SR-STOP-RECALL"]["n"] == stop.sum() == 270
    assert results["SR-STOP-RECALL"]["successes"] == (predicted[stop] == 14).sum()
    assert results["SR-ACCURACY"]["successes"] == (predicted == labels).sum()
    trigger_scan = results["SR-TRIGGER-SCAN"]
    assert trigger_scan["verdict"] == "not_applicable" and "no gradients" in trigger_scan["reason"]
    assert run.evidence["explanations"]["chosen"] is None
    assert all("no gradients" in e["reason"] for e in run.evidence["explanations"]["explainers"])


@pytest.mark.parametrize("target", ["float32.tflite", "onnx"])
def test_an_admitted_deployed_model_is_taken_from_its_admission_and_predicts_the_same(converted, target):
    loaded = load_model(converted["abis47", target])
    admitted = json.loads(json.dumps(admission(loaded)))  # as the cache stores it
    deferred = deferred_model(loaded.path, None, False, loaded.sha256, admitted)
    assert (deferred.runtime, deferred.gradients_unavailable_reason, deferred.loader) == (
        loaded.runtime, loaded.gradients_unavailable_reason, loaded.loader)
    images = np.random.default_rng(1).integers(0, 256, (5, 30, 30, 3), np.uint8)
    assert not deferred.network_loaded
    assert (deferred.predict(images).probabilities == loaded.predict(images).probabilities).all()
