"""TensorFlow Lite models (``.tflite``): screened as a flatbuffer, run by LiteRT or ``tf.lite``.

The runtime is LiteRT (``ai-edge-litert``, the interpreter TensorFlow's own ``tf.lite.Interpreter`` is
deprecated in favour of) where it is installed, else ``tf.lite``; the evidence names which, with its
version. Float, dynamic-range and full-integer models are run alike: the input's quantisation (scale,
zero point, integer type) is read from the file and applied after the card's preprocessing, and an
integer output is dequantised. A batch goes through the interpreter's input resized to it when the
model's batch axis is dynamic (``shape_signature`` -1), else in chunks of the model's fixed batch.

Before the interpreter parses the file, its operator codes are read as data: a custom operator is
native code the runtime must be given, and a TensorFlow operator run through the Flex delegate may
touch files, network or processes (:data:`~safety_harness.model_under_test.screening.SIDE_EFFECT_OPS`); both are
refused unless the user opts in with ``--allow-unsafe-model``.
"""

import math

import numpy as np

from safety_harness.core import tf_runtime
from safety_harness.core.errors import HarnessInputError, first_line, shown
from safety_harness.model_under_test.deployed import DeployedForward, Tensor
from safety_harness.model_under_test.screening import MAX_ARCHIVE_BYTES, MIB, Screening, side_effect_family

#: bytes 4..8 of every TensorFlow Lite flatbuffer
FILE_IDENTIFIER = b"TFL3"
#: the most elements the main graph's tensors may declare for one image (1 GiB at float32): the interpreter
#: allocates them all, times the batch size, before running anything
MAX_ELEMENTS_PER_IMAGE = 1 << 28
FLEX_PREFIX = "Flex"


def is_tflite(head: bytes) -> bool:
    """Whether the first bytes of a file are those of a TensorFlow Lite flatbuffer."""
    return len(head) >= 8 and head[4:8] == FILE_IDENTIFIER


def _schema():
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        tf_runtime.tensorflow()
        from tensorflow.lite.python import schema_py_generated
    return schema_py_generated


def _refused_as_corrupt(path, reason: str):
    return HarnessInputError(f"Model {path} is not a readable TensorFlow Lite model ({reason})",
                             "Convert the model again (tools/convert_model.py), or check that the download completed.")


def screen_tflite(path) -> tuple[Screening, int]:
    """The file's size and identifier, then its operator codes read as data; returns the screening and the number
    of weights (elements of the tensors stored in the file)."""
    size = path.stat().st_size
    if size > MAX_ARCHIVE_BYTES:
        raise HarnessInputError(f"Model {path} takes {size / MIB:.0f} MiB, over the {MAX_ARCHIVE_BYTES // MIB} MiB "
                                "limit", "Check the file: an image classifier the harness evaluates is far smaller.")
    content = path.read_bytes()
    if not is_tflite(content[:8]):
        raise _refused_as_corrupt(path, "it lacks the TFL3 file identifier")
    schema = _schema()
    try:
        model = schema.Model.GetRootAs(content)
        if not 0 < model.OperatorCodesLength() <= size // 4 or not 0 < model.SubgraphsLength() <= size // 4:
            raise ValueError("operator or subgraph count beyond the file")
        codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
        custom = sorted({code.CustomCode().decode("utf-8", "replace") for code in codes
                         if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == schema.BuiltinOperator.CUSTOM})
        graph = model.Subgraphs(0)
        if not 0 <= graph.TensorsLength() <= size // 4:
            raise ValueError("tensor count beyond the file")
        weights = declared = 0
        for number in range(graph.TensorsLength()):
            tensor = graph.Tensors(number)
            elements = math.prod(max(int(side), 1) for side in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else 1
            stored = model.Buffers(tensor.Buffer()) if 0 < tensor.Buffer() < model.BuffersLength() else None
            if stored is not None and (stored.DataLength() > 0 or stored.Size() > 0):
                weights += elements
            else:
                declared += elements
    except Exception as error:  # noqa: BLE001 — a damaged flatbuffer fails in many ways
        raise _refused_as_corrupt(path, f"its flatbuffer cannot be read: {type(error).__name__}") from None
    if declared > MAX_ELEMENTS_PER_IMAGE:
        raise HarnessInputError(
            f"Model {path} declares {declared:,} activation elements per image, over the {MAX_ELEMENTS_PER_IMAGE:,} "
            "(1 GiB of float32) the harness lets the interpreter allocate", "An image classifier needs far fewer: the "
            "file is damaged or hostile; convert the model again.")
    findings = [_custom_op_finding(name) for name in custom]
    checks = (f"file size <= {MAX_ARCHIVE_BYTES // MIB} MiB and the TFL3 identifier; activations declared <= "
              f"{MAX_ELEMENTS_PER_IMAGE:,} elements per image; operator codes read as data ({len(codes)} operator "
              "kinds) and checked for custom operators and Flex (TensorFlow) operators",)
    return Screening(checks, tuple(findings)), weights


def _custom_op_finding(name: str) -> str:
    if name.startswith(FLEX_PREFIX):
        op = name[len(FLEX_PREFIX):]
        family = side_effect_family(op)
        return (f"TensorFlow operator {op if op.isidentifier() else shown(op)} run through the Flex delegate"
                + (f" ({family})" if family else " (runs TensorFlow's own kernel, outside the TFLite runtime)"))
    return f"custom operator {shown(name)} (native code the runtime must be given)"


def _interpreter_class():
    """LiteRT's interpreter where it installs, else TensorFlow's; with the loader's name and version."""
    try:
        import ai_edge_litert
        from ai_edge_litert.interpreter import Interpreter
        return Interpreter, f"ai-edge-litert {ai_edge_litert.__version__} (LiteRT)"
    except ImportError:
        tf = tf_runtime.tensorflow()
        return tf.lite.Interpreter, f"tf.lite (TensorFlow {tf.__version__})"


def _tensor(detail: dict) -> Tensor:
    """An input or output as the interpreter details it; an integer tensor without quantisation is fed as it is."""
    quantisation = None
    if np.issubdtype(detail["dtype"], np.integer):
        if len(detail["quantization_parameters"]["scales"]) > 1:
            raise ValueError(f"per-channel quantisation of its input or output {detail['name']!r}")
        scale, zero_point = detail["quantization"]
        quantisation = (float(scale), int(zero_point)) if scale else (1.0, 0)
    shape = tuple(None if side < 0 else int(side) for side in detail["shape_signature"])
    return Tensor(detail["name"], shape, np.dtype(detail["dtype"]), quantisation)


class TfliteForward(DeployedForward):
    """One ``.tflite`` file's interpreter; its input is resized to each batch when its batch axis is dynamic."""

    kind = "TFLite"

    def __init__(self, path, card_layout: str | None, card_where: str, num_parameters: int):
        interpreter_class, self.loader = _interpreter_class()
        try:
            with tf_runtime.stderr_silenced():  # the runtime prints an INFO line on creating its CPU delegate
                self._interpreter = interpreter_class(model_path=str(path))
                self._interpreter.allocate_tensors()
            inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        except Exception as error:  # noqa: BLE001 — the runtime's parser and op resolver raise ValueError, RuntimeError
            raise _refused_as_corrupt(path, f"{self.loader} cannot load it: {first_line(error)}") from None
        if (len(inputs), len(outputs)) != (1, 1):
            raise HarnessInputError(f"Model {path} takes {len(inputs)} input(s) and gives {len(outputs)} output(s)",
                                    "The harness evaluates image classifiers with one image input and one output "
                                    "of class scores: convert a model with exactly those.")
        try:
            model_input, model_output = _tensor(inputs[0]), _tensor(outputs[0])
        except ValueError as error:
            raise HarnessInputError(f"Model {path} uses {error}", "Quantise the model's input and output per "
                                    "tensor (the TFLite converter's default).") from None
        self._input_index, self._output_index = inputs[0]["index"], outputs[0]["index"]
        self._describe(path, model_input, model_output, num_parameters, card_layout, card_where)

    @property
    def network(self):
        """The interpreter: no layers, no gradients."""
        return self._interpreter

    def _run(self, x: np.ndarray) -> np.ndarray:
        interpreter = self._interpreter
        if tuple(interpreter.get_input_details()[0]["shape"]) != x.shape:  # only with a dynamic batch axis
            interpreter.resize_tensor_input(self._input_index, list(x.shape), strict=True)
            with tf_runtime.stderr_silenced():
                interpreter.allocate_tensors()
        interpreter.set_tensor(self._input_index, x)
        interpreter.invoke()
        return interpreter.get_tensor(self._output_index).copy()
