"""Hostile and unsupported models, built here: refused before they run anything, or let through and recorded."""

import json
import struct
import zipfile

import numpy as np
import pytest

from safety_harness.core import tf_runtime
from safety_harness.core.errors import HarnessInputError
from safety_harness.model_under_test import load_model, screening
from tests.test_model_loading import IMAGES, small_model, with_card


def export_module(folder, side_effect=None, where="signature", outputs=1, signature=True):
    """A SavedModel from a plain ``tf.Module`` (16x16x3 images -> 5 softmax scores) whose ``side_effect(tf)``
    runs in its serving function (``where``: ``signature``), in a ``nested`` tf.function it calls, or in
    another function of the module (``elsewhere``) the serving function never calls."""
    tf = tf_runtime.tensorflow()

    @tf.function
    def nested_side_effect():  # not attached to the module: traced only inside the signature
        side_effect(tf)

    class Classifier(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernel = tf.Variable(np.random.default_rng(0).normal(size=(768, 5)).astype(np.float32))
            if where == "elsewhere":
                self.elsewhere = tf.function(nested_side_effect.python_function, input_signature=[])

        @tf.function(input_signature=[tf.TensorSpec([None, 16, 16, 3], tf.float32)])
        def __call__(self, images):
            if side_effect is not None and where != "elsewhere":
                nested_side_effect() if where == "nested" else side_effect(tf)
            scores = tf.nn.softmax(tf.reshape(images, [-1, 768]) @ self.kernel)
            return {f"scores{i}": scores for i in range(outputs)}

    module = Classifier()
    tf.saved_model.save(module, str(folder), signatures=module.__call__ if signature else {})
    return with_card(folder)


@pytest.mark.parametrize("where, reached_from", [
    ("signature", "serving_default"), ("nested", "serving_default"),
    ("elsewhere", "the functions tf.saved_model.load restores"),
])
def test_savedmodel_writing_a_file_is_refused_before_it_runs(tmp_path, where, reached_from):
    target = tmp_path / "conftest.py"
    path = export_module(tmp_path / "writer", lambda tf: tf.io.write_file(str(target), "import os"), where)
    with pytest.raises(HarnessInputError, match=rf"(?s)writer does more than compute.*WriteFile \(file access\) "
                                                rf"at node .* reached from {reached_from}.*--allow-unsafe-model"):
        load_model(path)
    assert not target.exists()

    model = load_model(path, allow_unsafe=True)
    assert len(model.unsafe_allowed) == 1 and model.unsafe_allowed[0].startswith("WriteFile (file access)")
    assert model.screening["allowed_by_allow_unsafe_model"] == list(model.unsafe_allowed)


def test_savedmodel_printing_is_refused(tmp_path):
    path = export_module(tmp_path / "printer", lambda tf: tf.print("hello"))
    with pytest.raises(HarnessInputError, match=r"PrintV2 \(printing or logging\)"):
        load_model(path)


def test_plain_module_savedmodel_loads_and_records_its_checks(tmp_path):
    model = load_model(export_module(tmp_path / "plain"))
    assert model.num_parameters == 768 * 5 and model.unsafe_allowed == ()
    assert "checked for file access" in model.safety_checks[0]
    np.testing.assert_allclose(model.predict(IMAGES).probabilities.sum(axis=1), 1, atol=1e-5)
    assert model.screening == {"checked": list(model.safety_checks), "allowed_by_allow_unsafe_model": []}


def test_savedmodel_without_signature_or_with_two_outputs(tmp_path):
    with pytest.raises(HarnessInputError, match="no 'serving_default' signature .*plain tf.Module"):
        load_model(export_module(tmp_path / "unsigned", signature=False))
    with pytest.raises(HarnessInputError, match=r"takes 1 input\(s\) .* and gives 2 output\(s\) "
                                                r"\(scores0, scores1\)"):
        load_model(export_module(tmp_path / "two_outputs", outputs=2))


def test_shared_savedmodel_passes_screening(shared_path):
    result = screening.screen_savedmodel(shared_path("models", "jovanzac", "saved_model"))
    assert result.findings == () and "TF2 restore graph not run" in result.checks[0]


def test_keras_models_with_two_inputs_or_two_outputs(tmp_path):
    keras = tf_runtime.keras()
    first, second = keras.Input((16, 16, 3)), keras.Input((16, 16, 3))
    scores = keras.layers.Dense(5, activation="softmax")(keras.layers.Flatten()(keras.layers.Add()([first, second])))
    keras.Model([first, second], scores).save(tmp_path / "two_inputs.keras")
    with pytest.raises(HarnessInputError, match=r"takes 2 input\(s\) and gives 1 output\(s\)"):
        load_model(with_card(tmp_path / "two_inputs.keras"))
    flat = keras.layers.Flatten()(first)
    two_heads = [keras.layers.Dense(5, activation="softmax")(flat), keras.layers.Dense(5, activation="softmax")(flat)]
    keras.Model(first, two_heads).save(tmp_path / "two_outputs.keras")
    with pytest.raises(HarnessInputError, match=r"takes 1 input\(s\) and gives 2 output\(s\)"):
        load_model(with_card(tmp_path / "two_outputs.keras"))


def test_tf_keras_op_layers_are_refused(tmp_path):
    keras = tf_runtime.tf_keras()
    inputs = keras.Input((16, 16, 3))
    scores = keras.layers.Dense(5, activation="softmax")(keras.layers.Flatten()(inputs * 2.0))
    path = tmp_path / "op_layer.h5"
    keras.Model(inputs, scores).save(path)
    with pytest.raises(HarnessInputError, match=r"TFOpLambda in layer .* \(Python code\)"):
        load_model(with_card(path))


def test_custom_objects_are_refused(tmp_path):
    keras = tf_runtime.keras()

    @keras.saving.register_keras_serializable(package="Hostile")
    class Doubling(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    inputs = keras.Input((16, 16, 3))
    scores = keras.layers.Dense(5, activation="softmax")(keras.layers.Flatten()(Doubling()(inputs)))
    path = tmp_path / "custom.keras"
    keras.Model(inputs, scores).save(path)
    with pytest.raises(HarnessInputError, match=r"custom object 'Doubling' of module .*test_model_safety"):
        load_model(with_card(path))
    trusted = load_model(path, allow_unsafe=True)
    assert [finding.split(" of module")[0] for finding in trusted.unsafe_allowed] == ["custom object 'Doubling'"]
    assert trusted.safety_checks[-1] == "loaded with Keras safe_mode off (--allow-unsafe-model)"


def test_a_layer_naming_a_function_is_found(tmp_path):
    path = tmp_path / "named.keras"
    layer = {"class_name": "Activation", "config": {"name": "act", "function": "os.system"}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {"layers": [layer]}}))
    assert screening.screen_keras_file(path, "keras").findings == ("layer 'act' names a function (os.system)",)


def forge_declared_size(path, member: str, size: int):
    """Rewrite the central directory's uncompressed size of ``member``; the data stays as it was."""
    data = bytearray(path.read_bytes())
    entry = struct.unpack_from("<I", data, data.rindex(b"PK\x05\x06") + 16)[0]  # the central directory's offset
    while True:
        name_length = struct.unpack_from("<H", data, entry + 28)[0]
        if data[entry + 46: entry + 46 + name_length].decode() == member:
            struct.pack_into("<I", data, entry + 24, size)
            break
        extra, comment = struct.unpack_from("<HH", data, entry + 30)
        entry += 46 + name_length + extra + comment
    path.write_bytes(bytes(data))


def test_keras_archive_declaring_a_huge_config_is_refused_unread(tmp_path):
    path = tmp_path / "bomb.keras"
    small_model(tf_runtime.keras()).save(path)
    forge_declared_size(path, "config.json", 3 << 30)
    assert zipfile.ZipFile(path).getinfo("config.json").file_size == 3 << 30
    with pytest.raises(HarnessInputError, match="config.json declares 3072 MiB, over the 64 MiB"):
        load_model(with_card(path))


def test_keras_archive_member_compressed_like_a_zip_bomb_is_refused(tmp_path):
    path = tmp_path / "ratio.keras"
    small_model(tf_runtime.keras()).save(path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("padding.bin", bytes(8 << 20))
    with pytest.raises(HarnessInputError, match=r"padding.bin inflates \d+:1 \(to 8 MiB\)"):
        load_model(with_card(path))


def test_h5_configuration_is_bounded_by_the_bytes_outside_the_weights(tmp_path, monkeypatch):
    import h5py

    monkeypatch.setattr(screening, "MAX_CONFIG_BYTES", 1 << 20)
    for name, config_bytes in (("small_config.h5", 100), ("huge_config.h5", 2 << 20)):
        with h5py.File(tmp_path / name, "w") as handle:
            handle.attrs["model_config"] = "{" + " " * (config_bytes - 2) + "}"
            handle.create_dataset("weights", data=np.zeros(4 << 20, np.uint8))
    assert screening.screen_keras_file(tmp_path / "small_config.h5", "h5").findings == ()
    with pytest.raises(HarnessInputError, match=r"model_config attribute may take up to 2 MiB, over the 1 MiB"):
        screening.screen_keras_file(tmp_path / "huge_config.h5", "h5")


@pytest.mark.parametrize("op", [
    "WriteFile", "ReadFile", "MatchingFiles", "PyFunc", "EagerPyFunc", "PyFuncStateless", "Save", "SaveV2",
    "SaveSlices", "MergeV2Checkpoints", "RestoreV2", "RestoreSlice", "Print", "PrintV2", "WriteScalarSummary",
    "CreateSummaryFileWriter", "DebugIdentityV2", "ImmutableConst", "ShellExecute", "TFRecordDataset",
    "WholeFileReaderV2", "InitializeTableFromTextFileV2",
])
def test_side_effect_ops_are_denied(op):
    assert screening.side_effect_family(op) is not None


@pytest.mark.parametrize("op", ["Conv2D", "MatMul", "ReadVariableOp", "AssignVariableOp", "VarHandleOp",
                                "StatefulPartitionedCall", "Softmax", "ResizeBilinear", "StatelessIf"])
def test_computing_ops_pass(op):
    assert screening.side_effect_family(op) is None


def test_tf1_savedmodel_passes_with_its_restore_graph_scanned(tmp_path):
    """TF1 SavedModels restore their variables by running their own restore graph: it is scanned, and its
    checkpoint ops are expected there."""
    tf = tf_runtime.tensorflow()
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        images = tf.compat.v1.placeholder(tf.float32, [None, 16, 16, 3])
        kernel = tf.compat.v1.get_variable("kernel", initializer=np.ones((768, 5), np.float32))
        scores = tf.nn.softmax(tf.reshape(images, [-1, 768]) @ kernel)
        session.run(tf.compat.v1.global_variables_initializer())
        builder = tf.compat.v1.saved_model.Builder(str(tmp_path / "tf1"))
        signature = tf.compat.v1.saved_model.predict_signature_def({"images": images}, {"scores": scores})
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={"serving_default": signature})
        builder.save()
    model = load_model(with_card(tmp_path / "tf1"))
    assert model.unsafe_allowed == () and "TF1 variable-restore graph" in model.safety_checks[0]
    np.testing.assert_allclose(model.predict(IMAGES).probabilities, 0.2, atol=1e-6)
