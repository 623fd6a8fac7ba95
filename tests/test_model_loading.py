"""Loading every model format from tiny models the tests build, and the real third-party models."""

import numpy as np
import pytest

from safety_harness.core import tf_runtime
from safety_harness.core.errors import HarnessInputError
from safety_harness.ingest import iter_image_batches, open_ingest
from safety_harness.model_under_test import load_model

CARD = "input:\n  size: [16, 16]\n  channels: RGB\n  range: [0, 1]\n  resize: bilinear\noutput: {output}\nclasses: [{classes}]\n"
CLASSES = ", ".join(f"c{i}" for i in range(5))
IMAGES = np.random.default_rng(0).integers(0, 256, (7, 16, 16, 3), dtype=np.uint8)


def small_model(keras, activation="softmax", units=5):
    keras.utils.set_random_seed(1)
    return keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(units, activation=activation),
    ])


def with_card(path, output="probabilities", classes=CLASSES):
    card = path.parent / (path.name + ".yaml" if path.is_dir() else path.stem + ".yaml")
    card.write_text(CARD.format(output=output, classes=classes))
    return path


@pytest.fixture(scope="module")
def reference():
    keras = tf_runtime.keras()
    model = small_model(keras)
    return model, model(IMAGES.astype(np.float32) / 255).numpy()


@pytest.fixture(scope="module")
def saved(tmp_path_factory, reference):
    model, _ = reference
    folder = tmp_path_factory.mktemp("formats")
    model.save(folder / "k3.keras")
    model.save(folder / "k3.h5")
    model.export(str(folder / "exported"), verbose=False)
    legacy_keras = tf_runtime.tf_keras()
    legacy = small_model(legacy_keras)
    legacy.set_weights(model.get_weights())
    legacy.save(folder / "legacy.h5")
    return {name: with_card(folder / name) for name in ("k3.keras", "k3.h5", "exported", "legacy.h5")}


@pytest.mark.parametrize("name, model_format, loader", [
    ("k3.keras", "keras", "keras"), ("k3.h5", "h5", "keras"), ("exported", "savedmodel", "tf.saved_model"),
    ("legacy.h5", "h5", "keras"),
])
def test_every_format_predicts_like_the_model_in_memory(saved, reference, name, model_format, loader):
    model = load_model(saved[name])
    assert (model.format, model.loader, model.card_assumed) == (model_format, loader, False)
    assert model.input_shape[1:] == (16, 16, 3) and model.output_shape[1:] == (5,)
    assert len(model.sha256) == 64
    assert model.unsafe_allowed == () and (model_format == "savedmodel" or "safe_mode on" in model.safety_checks[-1])
    outputs = model.predict(IMAGES)
    np.testing.assert_allclose(outputs.probabilities, reference[1], atol=1e-5)
    if model_format == "savedmodel":
        assert outputs.features is None and "SavedModel" in model.features_unavailable_reason
    else:
        assert outputs.features.shape == (7, 8)


def test_the_same_file_gives_the_same_hash(saved):
    assert load_model(saved["k3.keras"]).sha256 == load_model(saved["k3.keras"]).sha256


def test_a_card_output_order_puts_each_output_in_its_class_id_column(saved, reference, tmp_path):
    """A model whose output j is class order[j] (e.g. trained on folders 0..K-1 sorted as text) is judged in class
    id order; what runs on the network itself is then not applicable, with the reason."""
    order = [2, 0, 4, 1, 3]
    card = tmp_path / "ordered.yaml"
    card.write_text(CARD.format(output="probabilities", classes=CLASSES) + f"output_order: {order}\n")
    model = load_model(saved["k3.keras"], card)
    probabilities = model.predict(IMAGES).probabilities
    np.testing.assert_allclose(probabilities[:, order], reference[1], atol=1e-5)
    assert "output_order" in model.gradients_unavailable_reason
    assert model.card.settings()["output_order"] == order
    assert load_model(saved["k3.keras"]).gradients_unavailable_reason is None


def test_logits_card_gives_softmax(tmp_path):
    keras = tf_runtime.keras()
    path = tmp_path / "logits.keras"
    small_model(keras, activation=None).save(path)
    outputs = load_model(with_card(path, output="logits")).predict(IMAGES)
    np.testing.assert_allclose(outputs.probabilities.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(outputs.probabilities.argmax(1), outputs.logits.argmax(1))


def test_lambda_layers_are_refused_unless_trusted(tmp_path):
    keras = tf_runtime.keras()
    inputs = keras.Input((16, 16, 3))
    scaled = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    outputs = keras.layers.Dense(5, activation="softmax")(keras.layers.Flatten()(scaled))
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with_card(path)
    with pytest.raises(HarnessInputError, match="(?s)Lambda.*--allow-unsafe-model"):
        load_model(path)
    assert load_model(path, allow_unsafe=True).predict(IMAGES).probabilities.shape == (7, 5)


@pytest.mark.parametrize("name, content, message", [
    ("bad.h5", b"garbage" * 20, "not an HDF5 file"),
    ("bad.keras", b"garbage" * 20, "not a valid .keras archive"),
    ("model.pt", b"x", "unknown format '.pt'"),
])
def test_corrupt_and_unknown_files(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(HarnessInputError, match=message):
        load_model(tmp_path / name)


def test_truncated_h5(saved, tmp_path):
    data = saved["k3.h5"].read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(HarnessInputError, match="cannot be read by Keras 3 .* nor by tf_keras"):
        load_model(tmp_path / "cut.h5")


def test_missing_model_and_folder_without_savedmodel(tmp_path):
    with pytest.raises(HarnessInputError, match="does not exist"):
        load_model(tmp_path / "nope.h5")
    with pytest.raises(HarnessInputError, match="without saved_model.pb"):
        load_model(tmp_path)


def test_card_mismatches(saved, tmp_path):
    card = tmp_path / "card.yaml"
    card.write_text(CARD.format(output="probabilities", classes="a, b, c"))
    with pytest.raises(HarnessInputError, match="has 5 outputs but card .* lists 3 classes"):
        load_model(saved["k3.keras"], card)
    card.write_text("input:\n  size: [32, 32]\nclasses: [" + CLASSES + "]\n")
    with pytest.raises(HarnessInputError, match=r"expects 16x16 inputs"):
        load_model(saved["k3.keras"], card)
    card.write_text("input:\n  channels: GRAY\nclasses: [" + CLASSES + "]\n")
    with pytest.raises(HarnessInputError, match="expects 3 input channel"):
        load_model(saved["k3.keras"], card)


def test_outputs_that_are_not_probabilities(tmp_path):
    keras = tf_runtime.keras()
    path = tmp_path / "linear.keras"
    small_model(keras, activation=None).save(path)
    with pytest.raises(HarnessInputError, match="output: logits"):
        load_model(with_card(path)).predict(IMAGES)


def test_nan_outputs(tmp_path):
    keras = tf_runtime.keras()
    model = small_model(keras)
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([np.full_like(kernel, np.nan), bias])
    path = tmp_path / "nan.keras"
    model.save(path)
    with pytest.raises(HarnessInputError, match="NaN or infinite outputs for 7 of 7"):
        load_model(with_card(path)).predict(IMAGES)


SHARED_MODELS = [
    ("abis47", "traffic_classifier.h5", "keras", 0.963),
    ("nabagata", "traffic_classifier.h5", "tf_keras", 0.955),
    ("nvarshi2004", "traffic_sign_model.keras", "keras", 0.956),
    ("nvarshi2004", "traffic_sign_model.h5", "keras", 0.956),
    ("ikreza_gray", "traffic_sign.hdf5", "tf_keras", 0.878),
]


@pytest.mark.parametrize("folder, name, loader, accuracy", SHARED_MODELS)
def test_shared_models_load_with_their_cards(shared_path, folder, name, loader, accuracy):
    from pathlib import Path

    card = Path(__file__).parent / "shared_model_cards" / f"{folder}.yaml"
    model = load_model(shared_path("models", folder, name), card)
    assert model.loader == loader
    ingest = open_ingest(shared_path("gtsrb", "Final_Test"))
    (batch,) = iter_image_batches(ingest, model.card.size, model.card.interpolation, batch_size=600, indices=range(600))
    predicted = model.predict(batch.images).probabilities.argmax(1)
    assert (predicted == ingest.labels[:600]).mean() == pytest.approx(accuracy, abs=0.03)


def test_shared_savedmodel_with_42_outputs_gets_its_clear_error(shared_path):
    from pathlib import Path

    card = Path(__file__).parent / "shared_model_cards" / "jovanzac.yaml"
    with pytest.raises(HarnessInputError, match="has 42 outputs but card .* lists 43 classes"):
        load_model(shared_path("models", "jovanzac", "saved_model"), card)
