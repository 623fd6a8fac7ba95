"""ONNX models (``.onnx``): screened as a protobuf with the ``onnx`` package, run by ``onnxruntime`` on the CPU.

Screening reads the graph as data before onnxruntime sees the file:

* the file's size (a protobuf holds at most 2 GiB; larger weights go to external-data files);
* exactly one image input (graph inputs that are initializers are weights, not inputs) and one output;
* every node's operator domain, in the main graph, its subgraphs and local functions: a domain other than
  the standard ones and onnxruntime's own contrib ops (:data:`KNOWN_DOMAINS`) is a custom operator,
  native code from a library the runtime would have to load; refused unless ``--allow-unsafe-model``
  (onnxruntime is then left to report what it cannot run);
* every external-data reference: a relative path to a file beside the model or below its folder, links
  resolved; anything else (absolute, ``..``, a link out, a missing file, a range beyond the file) is
  refused, since onnxruntime would read whatever file it names.

The input layout (NCHW, as PyTorch exports, or NHWC, as TensorFlow converts) is detected from the input's
shape, or set by the card's ``input.layout``; a dynamic batch axis takes each batch whole, a fixed one runs
in chunks of its size.
"""

from pathlib import Path

import numpy as np

from safety_harness.core.errors import HarnessInputError, first_line, shown
from safety_harness.model_under_test.deployed import DeployedForward, Tensor, optional_runtime
from safety_harness.model_under_test.screening import MIB, Screening

#: protobuf's own limit on one message: a model beyond it keeps its weights in external-data files
MAX_PROTOBUF_BYTES = 2048 * MIB
#: operator domains whose kernels onnxruntime carries itself ("" is the default ONNX domain)
KNOWN_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "com.microsoft"})
#: named when onnxruntime or onnx is missing
INSTALL = "pip install 'onnxruntime==1.31.*' 'onnx==1.23.*' (or pip install '.[onnx]' in the harness's checkout)"
_CONVERT_AGAIN = "Export or convert the model again, or check that the download completed."
#: ONNX element types the harness reads, by onnxruntime's type name; an input may also take integers
_OUTPUT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}
_INPUT_TYPES = {**_OUTPUT_TYPES, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}


def screen_onnx(path: Path) -> tuple[Screening, int]:
    """The graph read as data: inputs and outputs, custom operator domains, external data; returns the screening
    and the number of weights (elements of the initializers)."""
    onnx = optional_runtime("onnx", path, INSTALL)
    size = path.stat().st_size
    if size > MAX_PROTOBUF_BYTES:
        raise HarnessInputError(f"Model {path} takes {size / MIB:.0f} MiB, over the {MAX_PROTOBUF_BYTES // MIB} MiB "
                                "a protobuf can hold", "Save the weights as external data beside the model "
                                "(onnx.save_model(..., save_as_external_data=True)).")
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception as error:  # noqa: BLE001 — protobuf's DecodeError and friends
        raise HarnessInputError(f"Model {path} is not a readable ONNX model ({first_line(error)})",
                                _CONVERT_AGAIN) from None
    graph = model.graph
    if not graph.node or not graph.output:
        raise HarnessInputError(f"Model {path} is not a readable ONNX model (its graph has no nodes or no output)",
                                _CONVERT_AGAIN)
    weights = {tensor.name for tensor in graph.initializer}
    inputs = [value.name for value in graph.input if value.name not in weights]
    if (len(inputs), len(graph.output)) != (1, 1):
        raise HarnessInputError(
            f"Model {path} takes {len(inputs)} input(s) ({', '.join(shown(name, 40) for name in inputs)}) and gives "
            f"{len(graph.output)} output(s) ({', '.join(shown(value.name, 40) for value in graph.output)})",
            "The harness evaluates image classifiers with one image input and one output of class scores: export "
            "a model with exactly those.")
    functions = {(function.domain, function.name) for function in model.functions}
    graphs = [graph, *_subgraphs(graph, onnx), *model.functions]  # each has nodes
    custom = sorted({(node.domain, node.op_type) for g in graphs for node in g.node
                     if node.domain not in KNOWN_DOMAINS and (node.domain, node.op_type) not in functions})
    findings = [f"custom operator {op!r} of domain {domain!r} (native code from a library the runtime must load)"
                for domain, op in custom]
    external = [_checked_external_data(path, tensor, onnx) for tensor in _tensors(graph, onnx)
                if tensor.data_location == onnx.TensorProto.EXTERNAL]
    checks = (f"file size <= {MAX_PROTOBUF_BYTES // MIB} MiB; graph read as data: one input and one output, operator "
              f"domains of every node ({sum(len(g.node) for g in graphs)} nodes, subgraphs and local functions "
              f"included) against the standard ones and onnxruntime's contrib ops; external data only from files in "
              f"the model's folder ({len(external)} tensors)",)
    count = sum(int(np.prod(tensor.dims)) for tensor in graph.initializer)
    return Screening(checks, tuple(findings)), count


def _subgraphs(graph, onnx):
    """Every graph nested in ``graph``'s node attributes (If, Loop, Scan bodies), recursively."""
    for node in graph.node:
        for attribute in node.attribute:
            nested = [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else (
                list(attribute.graphs) if attribute.type == onnx.AttributeProto.GRAPHS else [])
            for subgraph in nested:
                yield subgraph
                yield from _subgraphs(subgraph, onnx)


def _tensors(graph, onnx):
    """Every stored tensor: initializers and constant attributes of ``graph`` and of its subgraphs."""
    for g in (graph, *_subgraphs(graph, onnx)):
        yield from g.initializer
        for node in g.node:
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.TENSOR:
                    yield attribute.t
                yield from attribute.tensors


def _checked_external_data(path: Path, tensor, onnx) -> str:
    """The external-data file of ``tensor``, refused unless it lies in the model's folder and holds the range named."""
    entries = {entry.key: entry.value for entry in tensor.external_data}
    location = entries.get("location", "")
    folder = path.parent.resolve()
    try:
        target = (folder / location).resolve()
        inside = (bool(location) and not Path(location).is_absolute() and target.is_relative_to(folder)
                  and target.is_file())
    except (OSError, ValueError):  # a NUL byte, a name too long, a link loop
        inside = False
    if not inside:
        raise HarnessInputError(
            f"Model {path}: its tensor {tensor.name!r} reads external data from {location!r}, which is not a file in "
            f"the model's folder {folder}",
            "Keep a model's external-data files beside it, named by relative paths inside its folder (as "
            "onnx.save_model(..., save_as_external_data=True) writes them); the harness reads no file elsewhere.")
    offset, length = int(entries.get("offset", 0) or 0), entries.get("length")
    if offset < 0 or (length is not None and offset + int(length) > target.stat().st_size):
        raise HarnessInputError(
            f"Model {path}: its tensor {tensor.name!r} reads bytes {offset}..{offset + int(length or 0)} of "
            f"{location!r}, beyond that file's {target.stat().st_size} bytes", "Save the model and its external "
            "data again together; the external-data file is truncated or belongs to another model.")
    return location


def _shape(value) -> tuple:
    return tuple(side if isinstance(side, int) else None for side in value.shape)


class OnnxForward(DeployedForward):
    """One ``.onnx`` file in an onnxruntime CPU session."""

    kind = "ONNX"

    def __init__(self, path, card_layout: str | None, card_where: str, num_parameters: int):
        ort = optional_runtime("onnxruntime", path, INSTALL)
        from onnxruntime.capi import onnxruntime_pybind11_state as state

        self.loader = f"onnxruntime {ort.__version__} (CPUExecutionProvider)"
        self.run_errors = (RuntimeError, ValueError, state.Fail, state.InvalidArgument, state.RuntimeException)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: its warnings would reach the user's terminal
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # noqa: BLE001 — onnxruntime's own exception classes derive from Exception
            raise HarnessInputError(f"Model {path} cannot be loaded by {self.loader} ({first_line(error)})",
                                    _CONVERT_AGAIN) from None
        (model_input,), (model_output,) = self._session.get_inputs(), self._session.get_outputs()
        if model_input.type not in _INPUT_TYPES or model_output.type not in _OUTPUT_TYPES:
            raise HarnessInputError(
                f"Model {path} takes {model_input.type} and gives {model_output.type}",
                f"The harness feeds {', '.join(_INPUT_TYPES)} and reads {', '.join(_OUTPUT_TYPES)}: export the "
                "model with those.")
        self._names = model_input.name, model_output.name
        integer = np.issubdtype(_INPUT_TYPES[model_input.type], np.integer)
        self._describe(path, Tensor(model_input.name, _shape(model_input), np.dtype(_INPUT_TYPES[model_input.type]),
                                    (1.0, 0) if integer else None),
                       Tensor(model_output.name, _shape(model_output), np.dtype(_OUTPUT_TYPES[model_output.type]), None),
                       num_parameters, card_layout, card_where)

    @property
    def network(self):
        """The onnxruntime session: no layers, no gradients."""
        return self._session

    def _run(self, x: np.ndarray) -> np.ndarray:
        input_name, output_name = self._names
        return self._session.run([output_name], {input_name: x})[0]
