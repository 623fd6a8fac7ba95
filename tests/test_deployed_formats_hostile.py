"""Hostile and careless TFLite and ONNX files: one clear message each (exit 4), before anything in them runs."""

import sys

import numpy as np
import pytest

from safety_harness.core.errors import HarnessInputError
from safety_harness.model_under_test import load_model
from tests.test_bad_input import CARD, assert_clear_error, image, save_model

onnx = pytest.importorskip("onnx", reason="the ONNX extra is not installed (pip install -r requirements-formats.txt)")
helper = onnx.helper


@pytest.fixture(scope="module")
def small_keras_model(tmp_path_factory):
    """A real (untrained) 32x32 RGB classifier to convert and then damage."""
    return save_model(tmp_path_factory.mktemp("small-keras"), "small", lambda keras: keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(),
         keras.layers.Dense(43, activation="softmax")]))


@pytest.fixture(scope="module")
def converted_small(small_keras_model, tmp_path_factory):
    from tools.convert_model import convert

    folder = tmp_path_factory.mktemp("small-converted")
    return {target: convert(small_keras_model, target, folder / f"small.{target.split('.')[-1]}")
            for target in ("float32.tflite", "onnx")}


def written(folder, name: str, content: bytes):
    path = folder / name
    path.write_bytes(content)
    path.with_suffix(".yaml").write_text(CARD)
    return path


def onnx_model(folder, name, nodes, inputs, initializers=(), domains=()):
    """An ONNX model of ``nodes`` whose one output is ``y`` (n, 43), with its card beside it."""
    graph = helper.make_graph(nodes, "hostile", inputs, [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT,
                                                                                        ["n", 43])],
                              initializer=list(initializers))
    model = helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 18),
                                                    *(helper.make_opsetid(d, 1) for d in domains)])
    return written(folder, name, model.SerializeToString())


def image_input(name="x"):
    return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["n", 32, 32, 3])


def classifier_nodes(source="x"):
    """Mean over the image, tiled to 43 scores, softmaxed: runs in onnxruntime."""
    return [helper.make_node("ReduceMean", [source, "axes"], ["pooled"], keepdims=0),
            helper.make_node("Tile", ["pooled", "reps"], ["scores"]),
            helper.make_node("Slice", ["scores", "start", "end", "channel_axis"], ["cut"]),
            helper.make_node("Softmax", ["cut"], ["y"])]


def classifier_weights():
    return [helper.make_tensor(name, onnx.TensorProto.INT64, [len(values)], values)
            for name, values in (("axes", [1, 2]), ("reps", [1, 15]), ("start", [0]), ("end", [43]),
                                 ("channel_axis", [1]))]


def refused(path, *phrases, allow_unsafe=False):
    with pytest.raises(HarnessInputError) as caught:
        load_model(path, allow_unsafe=allow_unsafe)
    for phrase in phrases:
        assert phrase in str(caught.value), str(caught.value)
    assert str(path.name) in caught.value.problem and caught.value.fix
    return caught.value


def test_the_hand_built_onnx_classifier_runs(tmp_path):
    """The hostile variants below differ from this one by what they are refused for."""
    model = load_model(onnx_model(tmp_path, "fine.onnx", classifier_nodes(), [image_input()], classifier_weights()))
    probabilities = model.predict(np.zeros((2, 32, 32, 3), np.uint8)).probabilities
    assert probabilities.shape == (2, 43) and np.allclose(probabilities, 1 / 43)


@pytest.mark.parametrize("name", ["model.tflite", "model.onnx"])
def test_random_bytes_are_not_a_model(tmp_path, name):
    content = np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes()
    refused(written(tmp_path, name, content), "TensorFlow Lite" if name.endswith("tflite") else "ONNX")


def protobuf_field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field: its tag, its length, its bytes."""
    def varint(value):
        out = bytearray()
        while True:
            out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
            value >>= 7
            if not value:
                return bytes(out)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def test_a_protobuf_nested_beyond_protobufs_depth_is_refused(tmp_path):
    """A graph in an If node's attribute in a graph ... 500 deep: a few kB that protobuf refuses to descend."""
    graph = b""
    for _ in range(500):  # GraphProto.node (1) > NodeProto.attribute (5) > AttributeProto.g (6) > GraphProto
        graph = protobuf_field(1, protobuf_field(5, protobuf_field(6, graph)))
    refused(written(tmp_path, "deep.onnx", protobuf_field(7, graph)), "not a readable ONNX model")


@pytest.mark.parametrize("target", ["float32.tflite", "onnx"])
def test_a_truncated_model_is_refused(converted_small, tmp_path, target):
    content = converted_small[target].read_bytes()
    path = written(tmp_path, converted_small[target].name, content[:len(content) // 2])
    refused(path, "not a readable", "TensorFlow Lite" if target.endswith("tflite") else "ONNX")


def test_an_onnx_model_with_two_inputs_is_refused(tmp_path):
    nodes = [helper.make_node("Add", ["x", "z"], ["sum"]), *classifier_nodes("sum")]
    refused(onnx_model(tmp_path, "two.onnx", nodes, [image_input(), image_input("z")], classifier_weights()),
            "takes 2 input(s) ('x', 'z')")


def test_an_input_whose_channel_axis_the_shape_cannot_tell_asks_for_the_cards_layout(tmp_path):
    shapeless = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", "c", "h", "w"])
    refused(onnx_model(tmp_path, "shapeless.onnx", classifier_nodes(), [shapeless], classifier_weights()),
            "channel axis cannot be told", "input.layout: NHWC")


def test_a_custom_operator_domain_is_refused_unless_trusted_and_then_not_run(tmp_path):
    nodes = [helper.make_node("Steal", ["x"], ["stolen"], domain="com.example.hostile"), *classifier_nodes("stolen")]
    path = onnx_model(tmp_path, "custom.onnx", nodes, [image_input()], classifier_weights(), ["com.example.hostile"])
    refused(path, "custom operator 'Steal' of domain 'com.example.hostile'", "--allow-unsafe-model")
    refused(path, "cannot be loaded by onnxruntime", allow_unsafe=True)  # trusted, but no library brings the op


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/hostname", "link.bin", "missing.bin", "nul\x00.bin"])
def test_external_data_is_read_only_from_the_models_folder(tmp_path, location):
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "outside.bin").write_bytes(np.ones(43, np.float32).tobytes())
    (folder / "link.bin").symlink_to(tmp_path / "outside.bin")
    bias = helper.make_tensor("bias", onnx.TensorProto.FLOAT, [43], np.zeros(43, np.float32))
    bias.ClearField("float_data")
    bias.data_location = onnx.TensorProto.EXTERNAL
    bias.external_data.add(key="location", value=location)
    nodes = [*classifier_nodes(), helper.make_node("Add", ["y", "bias"], ["unused"])]
    path = onnx_model(folder, "external.onnx", nodes, [image_input()], [*classifier_weights(), bias])
    refused(path, f"reads external data from {location!r}", "the model's folder")


def test_a_tflite_model_that_reads_a_file_is_refused(tmp_path):
    from safety_harness.core import tf_runtime

    tf = tf_runtime.tensorflow()

    @tf.function(input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.float32)])
    def reads_a_file(x):
        length = tf.cast(tf.strings.length(tf.io.read_file("/etc/hostname")), tf.float32)
        return tf.nn.softmax(tf.tile(tf.reduce_mean(x, [1, 2]), [1, 15])[:, :43] + length)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([reads_a_file.get_concrete_function()])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    with tf_runtime.stderr_silenced():
        path = written(tmp_path, "reads.tflite", converter.convert())
    refused(path, "TensorFlow operator ReadFile run through the Flex delegate (file access)", "--allow-unsafe-model")


def test_a_tflite_model_declaring_gigabytes_of_activations_is_refused_before_allocation(tmp_path):
    from safety_harness.core import tf_runtime

    tf = tf_runtime.tensorflow()

    @tf.function(input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.float32)])
    def vast(x):
        spread = tf.broadcast_to(tf.reduce_mean(x, [1, 2, 3])[:, None, None], [tf.shape(x)[0], 20000, 20000])
        return tf.nn.softmax(tf.reduce_mean(spread, [2])[:, :43])

    converter = tf.lite.TFLiteConverter.from_concrete_functions([vast.get_concrete_function()])
    with tf_runtime.stderr_silenced():
        path = written(tmp_path, "vast.tflite", converter.convert())
    refused(path, "declares 400,0", "activation elements per image")


def test_a_missing_runtime_names_its_install_command(converted_small, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import onnxruntime` meets when it is absent
    refused(converted_small["onnx"], "needs the Python package 'onnxruntime'", "pip install 'onnxruntime")


def test_a_hostile_onnx_model_ends_the_run_with_exit_4(run_safety_suite, tmp_path):
    nodes = [helper.make_node("Steal", ["x"], ["stolen"], domain="com.example.hostile"), *classifier_nodes("stolen")]
    path = onnx_model(tmp_path, "custom.onnx", nodes, [image_input()], classifier_weights(), ["com.example.hostile"])
    image(tmp_path / "ingest" / "14" / "a.png")
    assert_clear_error(run_safety_suite(f"--model={path}", f"--ingest={tmp_path / 'ingest'}", name="hostile-onnx"),
                       "custom.onnx", "com.example.hostile")
