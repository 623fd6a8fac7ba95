"""Screening an untrusted model file before anything in it is deserialised or run.

A model should only compute. What is read here is read as data (JSON, HDF5 metadata, the
SavedModel protobuf), so screening itself runs nothing:

* ``.keras`` archives: every member's declared size and compression ratio are checked
  before a byte is inflated (a zip bomb would otherwise be read whole);
* ``.h5``: the bytes outside the weight datasets bound the configuration attribute's size;
* Keras configurations: layers that carry Python code (``Lambda``, tf_keras ``TFOpLambda``,
  ``SlicingOpLambda``, any ``function`` entry) or custom objects from modules outside Keras;
* SavedModels: every op of the functions that run when the model is loaded or its serving
  signature called, nested functions included, against a deny-list of ops with side effects
  (files, network, processes, Python callbacks, printing and logging).

Size violations are always refused; code findings are returned so that the caller refuses
them, or, when the user trusts the model, records them.
"""

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from safety_harness.core import tf_runtime
from safety_harness.core.errors import HarnessInputError

MIB = 1 << 20
#: the largest configuration (``config.json``, ``metadata.json``, h5 ``model_config``) read
MAX_CONFIG_BYTES = 64 * MIB
#: the largest total a ``.keras`` archive may inflate to
MAX_ARCHIVE_BYTES = 4096 * MIB
#: weights barely compress and JSON about 10:1; a zip bomb reaches 1000:1
MAX_COMPRESSION_RATIO = 100
#: below this size a member's compression ratio does not matter
RATIO_CHECKED_ABOVE = MIB
CONFIG_MEMBERS = ("config.json", "metadata.json")

#: Keras layer classes whose configuration is Python code, by name or as bytecode
CODE_LAYER_CLASSES = frozenset({"Lambda", "TFOpLambda", "SlicingOpLambda", "__lambda__"})

#: op-name patterns of TensorFlow ops that reach outside the computation, by family
SIDE_EFFECT_OPS = {
    "file access": re.compile(r"File|Reader|TFRecord|TextLine|FixedLengthRecord|CSVDataset|SnapshotDataset|"
                              r"SaveDataset|LoadDataset|ImmutableConst"),
    "checkpoint read or write": re.compile(r"^(Save|Restore)|MergeV2Checkpoints"),
    "Python callback": re.compile(r"PyFunc"),
    "printing or logging": re.compile(r"^Print|Summary|^Write|^Debug|ImportEvent"),
    "network or process": re.compile(r"Rpc|ShellExecute|Gcs|BigQuery|Bigtable|Kafka|Http|Socket|Outfeed|Infeed"),
}
SERVING_SIGNATURE = "serving_default"


def side_effect_family(op: str) -> str | None:
    """The family of side effects TensorFlow op type ``op`` belongs to, None for a pure computation."""
    return next((family for family, pattern in SIDE_EFFECT_OPS.items() if pattern.search(op)), None)


@dataclass(frozen=True)
class Screening:
    """What was checked, and what the model does beyond computing (empty: nothing found)."""

    checks: tuple[str, ...]
    findings: tuple[str, ...]


def screen_keras_file(path: Path, model_format: str) -> Screening:
    """Size limits, then the stored configuration's code-carrying layers."""
    if model_format == "keras":
        _check_archive_sizes(path)
        checks = [f"archive members' declared sizes (configuration <= {MAX_CONFIG_BYTES // MIB} MiB, total <= "
                  f"{MAX_ARCHIVE_BYTES // MIB} MiB, compression <= {MAX_COMPRESSION_RATIO}:1)"]
    else:
        _check_h5_config_size(path)
        checks = [f"configuration attribute size <= {MAX_CONFIG_BYTES // MIB} MiB"]
    config = _stored_config(path, model_format)
    findings = [] if config is None else sorted(set(_code_in_config(config)))
    checks.append("configuration read as JSON, checked for Lambda-like layers, functions and custom objects outside Keras")
    return Screening(tuple(checks), tuple(findings))


def _check_archive_sizes(path: Path):
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    for member in members:
        if member.filename in CONFIG_MEMBERS and member.file_size > MAX_CONFIG_BYTES:
            raise HarnessInputError(
                f"Model {path}: its {member.filename} declares {member.file_size / MIB:.0f} MiB, over the "
                f"{MAX_CONFIG_BYTES // MIB} MiB a model configuration may take",
                "A real configuration is a few kB to a few MB: the archive is damaged or hostile; save the model "
                "again with model.save('name.keras').")
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > RATIO_CHECKED_ABOVE and ratio > MAX_COMPRESSION_RATIO:
            raise HarnessInputError(
                f"Model {path}: its member {member.filename} inflates {ratio:.0f}:1 (to {member.file_size / MIB:.0f}"
                f" MiB), more than the {MAX_COMPRESSION_RATIO}:1 a model's contents compress",
                "The archive is damaged or a zip bomb; save the model again with model.save('name.keras').")
    total = sum(member.file_size for member in members)
    if total > MAX_ARCHIVE_BYTES:
        raise HarnessInputError(
            f"Model {path} declares {total / MIB:.0f} MiB of contents, over the {MAX_ARCHIVE_BYTES // MIB} MiB limit",
            "Check the archive: an image classifier the harness evaluates is far smaller.")


def _check_h5_config_size(path: Path):
    """The attribute is stored uncompressed beside the weights: the file's bytes outside its datasets bound it."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            if "model_config" not in handle.attrs:
                return
            attribute = handle.attrs.get_id("model_config")
            if h5py.check_string_dtype(attribute.dtype) and h5py.check_string_dtype(attribute.dtype).length is None:
                dataset_bytes = []
                handle.visititems(lambda _, item: dataset_bytes.append(item.id.get_storage_size())
                                  if isinstance(item, h5py.Dataset) else None)
                bound = path.stat().st_size - sum(dataset_bytes)
            else:
                bound = attribute.get_storage_size()
    except OSError:
        return  # unreadable: the loader reports it
    if bound > MAX_CONFIG_BYTES:
        raise HarnessInputError(
            f"Model {path}: its model_config attribute may take up to {bound / MIB:.0f} MiB, over the "
            f"{MAX_CONFIG_BYTES // MIB} MiB a model configuration may take",
            "A real configuration is a few kB to a few MB: the file is damaged or hostile; save the model again.")


def _stored_config(path: Path, model_format: str):
    """The model's architecture as stored in the file, read without deserialising any layer."""
    try:
        if model_format == "h5":
            import h5py

            with h5py.File(path, "r") as handle:
                raw = handle.attrs.get("model_config")
        else:
            with zipfile.ZipFile(path) as archive:
                raw = archive.read("config.json")
    except (OSError, KeyError, zipfile.BadZipFile):
        return None
    if raw is None:
        return None
    try:
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except ValueError:
        return None


def _is_keras_module(module) -> bool:
    return module is None or module == "keras" or str(module).startswith("keras.")


def _code_in_config(config, layer: str = "the model"):
    """Descriptions of what in ``config`` names code; ``layer`` is the enclosing layer's name."""
    if isinstance(config, list):
        for value in config:
            yield from _code_in_config(value, layer)
        return
    if not isinstance(config, dict):
        return
    class_name = config.get("class_name")
    inner = config.get("config")
    if isinstance(class_name, str) and isinstance(inner, dict) and isinstance(inner.get("name"), str):
        layer = f"layer {inner['name']!r}"
    if class_name in CODE_LAYER_CLASSES:
        yield f"{class_name} in {layer} (Python code)"
        return
    if "function" in config:
        yield f"{layer} names a function ({str(config['function'])[:60]})"
    registered = config.get("registered_name")
    if not _is_keras_module(config.get("module")) or (isinstance(registered, str) and ">" in registered):
        yield f"custom object {class_name!r} of module {config.get('module')!r} in {layer}"
    for key, value in config.items():
        if key != "compile_config":  # loaded with compile=False: never deserialised
            yield from _code_in_config(value, layer)


def screen_savedmodel(path: Path) -> Screening:
    """The ops that loading and the serving signature run, read from ``saved_model.pb`` without loading it.

    Scanned: the serving signature's graph, the init op (``__saved_model_init_op`` or the TF1
    collections), every function of a TF2 object graph (resource and checkpoint-value functions run
    during loading), and, for a TF1 SavedModel, the variable-restore graph (where restore ops are
    expected). A TF2 SavedModel's restore graph is not run: TensorFlow restores its variables itself.
    """
    tf_runtime.tensorflow()  # imported quietly first: the protobuf module would import it with its start-up lines
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    try:
        saved_model.ParseFromString((path / "saved_model.pb").read_bytes())
    except Exception as error:  # noqa: BLE001 — protobuf's DecodeError and friends
        raise HarnessInputError(f"SavedModel {path}: its saved_model.pb cannot be parsed ({type(error).__name__})",
                                "Check that the directory is a complete TensorFlow SavedModel.") from None
    if len(saved_model.meta_graphs) != 1:
        raise HarnessInputError(
            f"SavedModel {path} holds {len(saved_model.meta_graphs)} MetaGraphs, not one",
            "Export the model once, with tf.saved_model.save or model.export(path).")
    meta_graph = saved_model.meta_graphs[0]
    _check_serving_signature(path, meta_graph)
    scan = _GraphScan(meta_graph)
    scan.from_tensors(SERVING_SIGNATURE, [t.name for t in meta_graph.signature_def[SERVING_SIGNATURE].outputs.values()])
    if "__saved_model_init_op" in meta_graph.signature_def:
        scan.from_tensors("the init op", [t.name for t in meta_graph.signature_def["__saved_model_init_op"]
                                          .outputs.values()])
    for key in ("saved_model_main_op", "legacy_init_op"):
        if key in meta_graph.collection_def:
            scan.from_tensors("the init op", list(meta_graph.collection_def[key].node_list.value))
    objects = meta_graph.object_graph_def
    if objects.nodes:
        # every function the loader restores, whatever may call it: resource and checkpoint-value functions
        # run during tf.saved_model.load itself; the saver's own save/restore functions are not among them
        for name in sorted(objects.concrete_functions):
            scan.function("the functions tf.saved_model.load restores", name)
        restore = "TF2 restore graph not run, so not scanned"
    else:
        scan.from_tensors("the variable-restore graph", [meta_graph.saver_def.restore_op_name],
                          allowed=("checkpoint read or write",))
        restore = "TF1 variable-restore graph: only checkpoint ops"
    families = ", ".join(SIDE_EFFECT_OPS)
    checks = (f"ops of serving_default, the init op and every restored function, nested functions included "
              f"({scan.functions_scanned} functions, {scan.ops_scanned} ops) checked for {families}; {restore}",)
    return Screening(checks, tuple(scan.findings))


def _check_serving_signature(path: Path, meta_graph):
    if SERVING_SIGNATURE not in meta_graph.signature_def:
        raise HarnessInputError(
            f"SavedModel {path} has no 'serving_default' signature (saved from a plain tf.Module without "
            "signatures?), so the harness does not know which function classifies an image",
            "Export the model with a serving signature taking one image batch: model.export(path) for Keras, or "
            "tf.saved_model.save(module, path, signatures=module.__call__.get_concrete_function("
            "tf.TensorSpec([None, H, W, C], tf.float32))).")
    signature = meta_graph.signature_def[SERVING_SIGNATURE]
    if len(signature.inputs) != 1 or len(signature.outputs) != 1:
        raise HarnessInputError(
            f"SavedModel {path}: its serving signature takes {len(signature.inputs)} input(s) "
            f"({', '.join(sorted(signature.inputs))}) and gives {len(signature.outputs)} output(s) "
            f"({', '.join(sorted(signature.outputs))})",
            "The harness evaluates image classifiers with one image input and one output of class scores: "
            "export a serving signature with exactly those.")


class _GraphScan:
    """Walks a MetaGraph's ops from given roots through every function they call, once each."""

    def __init__(self, meta_graph):
        self._nodes = {node.name: node for node in meta_graph.graph_def.node}
        self._library = {function.signature.name: function for function in meta_graph.graph_def.library.function}
        self._visited_functions: set[str] = set()
        self._visited_nodes: set[str] = set()
        self.findings: list[str] = []
        self.ops_scanned = 0

    @property
    def functions_scanned(self) -> int:
        return len(self._visited_functions)

    def from_tensors(self, root: str, tensor_names, allowed: tuple[str, ...] = ()):
        """Every node of the main graph that ``tensor_names`` depend on, data and control inputs; ops of the
        ``allowed`` families are expected there."""
        pending = [name.lstrip("^").split(":")[0] for name in tensor_names]
        while pending:
            name = pending.pop()
            if name in self._visited_nodes or name not in self._nodes:
                continue
            self._visited_nodes.add(name)
            node = self._nodes[name]
            self._check(node, f"node {name!r} of the graph, reached from {root}", root, allowed)
            pending.extend(entry.lstrip("^").split(":")[0] for entry in node.input)

    def function(self, root: str, name: str):
        """Every node of function ``name`` (all of them run: TF2 adds control dependencies on stateful ops)."""
        if name in self._visited_functions or name not in self._library:
            return
        self._visited_functions.add(name)
        for node in self._library[name].node_def:
            self._check(node, f"node {node.name!r} of function {name}, reached from {root}", root)

    def _check(self, node, where: str, root: str, allowed: tuple[str, ...] = ()):
        self.ops_scanned += 1
        family = side_effect_family(node.op)
        if family is not None and family not in allowed:
            self.findings.append(f"{node.op} ({family}) at {where}")
        if node.op in self._library:  # a function called as an op
            self.function(root, node.op)
        for value in node.attr.values():
            if value.HasField("func"):
                self.function(root, value.func.name)
            for function in value.list.func:
                self.function(root, function.name)
