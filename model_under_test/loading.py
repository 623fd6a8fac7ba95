"""Loading any saved classifier: Keras 3 and legacy Keras 2 ``.h5``, ``.keras``, TensorFlow SavedModel, and the
deployed formats TensorFlow Lite (:mod:`model_under_test.tflite_model`) and ONNX (:mod:`model_under_test.onnx_model`).

Untrusted artifacts stay untrusted: the file is screened before it is deserialised
(:mod:`model_under_test.screening`), Keras ``safe_mode`` stays on, and a model that does more
than compute (layers carrying Python code, graph ops touching files, network or processes) is
refused unless the user opts in; what the user let through is recorded for the report.
"""

import hashlib
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path

from safety_harness.core import tf_runtime
from safety_harness.core.errors import HarnessInputError, first_line
from safety_harness.model_under_test.card import ModelCard, resolve_card
from safety_harness.model_under_test.inference import DeferredForward, Forward, LoadedModel
from safety_harness.model_under_test.onnx_model import OnnxForward, screen_onnx
from safety_harness.model_under_test.screening import Screening, screen_keras_file, screen_savedmodel
from safety_harness.model_under_test.tflite_model import TfliteForward, is_tflite, screen_tflite

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
FORMATS = (".h5 / .hdf5 (Keras 3 or legacy Keras 2), .keras, a TensorFlow SavedModel directory (with saved_model.pb), "
           ".tflite (TensorFlow Lite) or .onnx")
#: the deployed formats: screened, then run by their own runtime (no gradients, no layers)
DEPLOYED = {"tflite": (screen_tflite, TfliteForward), "onnx": (screen_onnx, OnnxForward)}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, or of a directory's sorted relative paths and bytes."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def detect_format(path: Path) -> str:
    """The format of the model at ``path`` by its name and first bytes, or a :class:`HarnessInputError`."""
    if not path.exists():
        raise HarnessInputError(f"Model {path} does not exist", "Pass --model the path of a saved model.")
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "savedmodel"
        raise HarnessInputError(f"Model {path} is a folder without saved_model.pb, so not a SavedModel",
                                f"Pass --model one of: {FORMATS}.")
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        with path.open("rb") as handle:
            if handle.read(8) != HDF5_MAGIC:
                raise HarnessInputError(f"Model {path} is not an HDF5 file (corrupt, truncated or mis-named)",
                                        "Save the model again, or check that the download completed.")
        return "h5"
    if suffix == ".keras":
        if not zipfile.is_zipfile(path):
            raise HarnessInputError(f"Model {path} is not a valid .keras archive (corrupt, truncated or mis-named)",
                                    "Save the model again with model.save('name.keras').")
        return "keras"
    if suffix == ".tflite":
        with path.open("rb") as handle:
            if not is_tflite(handle.read(8)):
                raise HarnessInputError(f"Model {path} is not a TensorFlow Lite flatbuffer (no TFL3 identifier: "
                                        "corrupt, truncated or mis-named)",
                                        "Convert the model again (tools/convert_model.py), or check that the "
                                        "download completed.")
        return "tflite"
    if suffix == ".onnx":
        return "onnx"
    raise HarnessInputError(f"Model {path} has an unknown format {suffix or '(no extension)'!r}",
                            f"Pass --model one of: {FORMATS}.")


def _load_keras_file(path: Path, model_format: str, safe_mode: bool):
    """Keras 3 first; legacy ``.h5`` files it cannot read go to tf_keras. Returns (model, loader)."""
    keras = tf_runtime.keras()
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=safe_mode), "keras"
    except Exception as keras_error:  # noqa: BLE001 — any failure of Keras 3 is reported or retried below
        if model_format != "h5":
            raise HarnessInputError(f"Model {path} cannot be read by Keras 3 ({first_line(keras_error)})",
                                    "Check that the file is a complete Keras 3 model.") from None
        try:
            return tf_runtime.tf_keras().models.load_model(path, compile=False, safe_mode=safe_mode), "tf_keras"
        except Exception as legacy_error:  # noqa: BLE001
            raise HarnessInputError(
                f"Model {path} cannot be read by Keras 3 ({first_line(keras_error)}) "
                f"nor by tf_keras ({first_line(legacy_error)})",
                "Check that the file is a complete Keras model; re-save it with the Keras that trained it.",
            ) from None


def _load_savedmodel(path: Path):
    tf = tf_runtime.tensorflow()
    try:
        return tf.saved_model.load(str(path))
    except Exception as error:  # noqa: BLE001
        raise HarnessInputError(f"SavedModel {path} cannot be loaded ({first_line(error)})",
                                "Check that the directory is a complete TensorFlow SavedModel.") from None


def _refuse_unless_trusted(path: Path, screening: Screening, allow_unsafe: bool):
    if screening.findings and not allow_unsafe:
        listed = "\n".join(f"    {finding}" for finding in screening.findings[:20])
        more = f"\n    ... and {len(screening.findings) - 20} more" if len(screening.findings) > 20 else ""
        raise HarnessInputError(
            f"Model {path} does more than compute: loading or calling it would run\n{listed}{more}",
            "Load it only if you trust its origin, with --allow-unsafe-model (the report then lists what was let "
            "through); better, rebuild it without Lambda layers, custom code or ops touching files, network or "
            "processes.",
        )


def _check_one_input_one_output(path: Path, network):
    """A SavedModel's signature is checked by screening; a Keras model's inputs and outputs here."""
    inputs, outputs = len(network.inputs), len(network.outputs)
    if (inputs, outputs) != (1, 1):
        raise HarnessInputError(
            f"Model {path} takes {inputs} input(s) and gives {outputs} output(s)",
            "The harness evaluates image classifiers with one image input and one output of class scores: "
            "save a model with exactly those.")


def load_model(path, card_path=None, allow_unsafe: bool = False, sha256: str | None = None) -> LoadedModel:
    """Load ``path`` with the card in force, validate the pair, and compile the batched forward pass.

    The file is screened first; its findings refuse it unless ``allow_unsafe``, which records them. ``sha256``:
    the file's SHA-256 when the caller has just hashed it (None: hashed here), so a large model is read once."""
    path = Path(path).resolve()
    model_format = detect_format(path)
    card, card_path, assumed = resolve_card(path, card_path)
    if model_format in DEPLOYED:
        return _load_deployed(path, model_format, card, card_path, assumed, allow_unsafe, sha256)
    if card.layout not in (None, "NHWC"):
        raise HarnessInputError(f"Model card {card_path} says input.layout {card.layout}, but model {path} is a Keras "
                                "model or SavedModel, which the harness feeds channels last (NHWC)",
                                "Drop input.layout from the card: it sets the layout of a .tflite or .onnx model.")
    screening = screen_savedmodel(path) if model_format == "savedmodel" else screen_keras_file(path, model_format)
    _refuse_unless_trusted(path, screening, allow_unsafe)
    safe_mode = not screening.findings  # off only for a model whose code the user chose to trust
    checks = screening.checks if model_format == "savedmodel" else (
        *screening.checks, "loaded with Keras safe_mode " + ("on" if safe_mode else "off (--allow-unsafe-model)"))
    with warnings.catch_warnings(record=True) as caught, tf_runtime.stderr_silenced():
        warnings.simplefilter("always")
        if model_format == "savedmodel":
            network, loader = _load_savedmodel(path), "tf.saved_model"
        else:
            network, loader = _load_keras_file(path, model_format, safe_mode)
            _check_one_input_one_output(path, network)
    load_warnings = sorted({str(w.message).splitlines()[0] for w in caught if issubclass(w.category, UserWarning)})
    forward = Forward(network, loader)
    _check_card_against_model(path, card, card_path, forward.input_shape, forward.output_shape)
    card = card if card.size is not None else _with_size(card, forward.input_shape)
    return LoadedModel(
        path=path, format=model_format, loader=loader, sha256=sha256 or file_sha256(path), card=card, card_path=card_path,
        card_assumed=assumed, load_warnings=tuple(load_warnings), forward=forward,
        safety_checks=checks, unsafe_allowed=screening.findings,
    )


def _load_deployed(path: Path, model_format: str, card: ModelCard, card_path, assumed: bool, allow_unsafe: bool,
                   sha256: str | None) -> LoadedModel:
    """A TFLite or ONNX model: screened as data, refused on its findings unless trusted, then opened by its runtime."""
    screen, runtime = DEPLOYED[model_format]
    screening, num_parameters = screen(path)
    _refuse_unless_trusted(path, screening, allow_unsafe)
    where = f"card {card_path}" if card_path else "a card beside the model (none found)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        forward = runtime(path, card.layout, where, num_parameters)
    load_warnings = sorted({str(w.message).splitlines()[0] for w in caught if issubclass(w.category, UserWarning)})
    _check_card_against_model(path, card, card_path, forward.input_shape, forward.output_shape)
    card = card if card.size is not None else _with_size(card, forward.input_shape)
    return LoadedModel(
        path=path, format=model_format, loader=forward.loader, sha256=sha256 or file_sha256(path), card=card,
        card_path=card_path, card_assumed=assumed, load_warnings=tuple(load_warnings), forward=forward,
        safety_checks=screening.checks, unsafe_allowed=screening.findings)


def admission(model: LoadedModel) -> dict:
    """What loading ``model`` established beyond its file and card (JSON-able): the format and loader, the card's
    size as resolved, the load's warnings, the screening, and the forward pass's facts. For
    :func:`deferred_model`: the same file, card and trust always load to the same."""
    return {"format": model.format, "loader": model.loader,
            "size": None if model.card.size is None else list(model.card.size),
            "load_warnings": list(model.load_warnings), "safety_checks": list(model.safety_checks),
            "unsafe_allowed": list(model.unsafe_allowed), "forward": model.forward.facts()}


def deferred_model(path, card_path, allow_unsafe: bool, sha256: str, admitted: dict) -> LoadedModel:
    """The model at ``path`` (SHA-256 ``sha256``) as an earlier :func:`load_model` with the same card and trust
    admitted it (:func:`admission`), loaded only when first called. The load checks that the file is still the
    one hashed: a model replaced during the run is an input error, never a silent switch."""
    path = Path(path).resolve()
    card, card_path, assumed = resolve_card(path, card_path)
    if admitted["size"] is not None:
        card = replace(card, size=tuple(admitted["size"]))

    def load() -> Forward:
        loaded = load_model(path, card_path, allow_unsafe)
        if loaded.sha256 != sha256:
            raise HarnessInputError(f"Model {path} changed during the run (its SHA-256 is no longer {sha256})",
                                    "Leave the model file unchanged while the harness evaluates it, and run again.")
        return loaded.forward

    return LoadedModel(
        path=path, format=admitted["format"], loader=admitted["loader"], sha256=sha256, card=card,
        card_path=card_path, card_assumed=assumed, load_warnings=tuple(admitted["load_warnings"]),
        forward=DeferredForward(admitted["forward"], load), safety_checks=tuple(admitted["safety_checks"]),
        unsafe_allowed=tuple(admitted["unsafe_allowed"]))


def _with_size(card: ModelCard, input_shape) -> ModelCard:
    return replace(card, size=(int(input_shape[1]), int(input_shape[2])))


def _check_card_against_model(path, card: ModelCard, card_path, input_shape, output_shape):
    where = f"card {card_path}" if card_path else "the assumed card (no card found)"
    if len(input_shape) != 4:
        raise HarnessInputError(f"Model {path} takes inputs of shape {input_shape}, not images (batch, H, W, C)",
                                "The harness evaluates image classifiers with one image input.")
    if len(output_shape) != 2:
        raise HarnessInputError(f"Model {path} outputs shape {output_shape}, not (batch, classes)",
                                "The harness evaluates classifiers with one output of class scores.")
    classes = len(card.class_names)
    if output_shape[1] != classes:
        raise HarnessInputError(
            f"Model {path} has {output_shape[1]} outputs but {where} lists {classes} classes",
            "Use the model trained for these classes, or give it a card whose 'classes' lists exactly "
            f"{output_shape[1]} class names in output order.",
        )
    height, width, channels = input_shape[1:]
    if card.size is None and (height is None or width is None):
        raise HarnessInputError(f"Model {path} accepts any input size, and {where} gives none",
                                "Set input.size: [height, width] in the model card.")
    if card.size is not None and None not in (height, width) and tuple(card.size) != (height, width):
        raise HarnessInputError(
            f"Model {path} expects {height}x{width} inputs but {where} says input.size {list(card.size)}",
            f"Set input.size: [{height}, {width}] in the model card.")
    if channels is not None and channels != card.num_channels:
        raise HarnessInputError(
            f"Model {path} expects {channels} input channel(s) but {where} says channels {card.channels}",
            "Set input.channels to GRAY for a one-channel model, RGB or BGR for a three-channel one.")
