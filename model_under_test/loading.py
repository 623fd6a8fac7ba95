"""Loading any saved classifier: Keras 3 and legacy Keras 2 ``.h5``, ``.keras``, TensorFlow SavedModel.

Untrusted artifacts stay untrusted: Keras ``safe_mode`` stays on, and a model whose
configuration holds ``Lambda`` layers (arbitrary Python code; tf_keras would unmarshal its
bytecode) is refused unless the user opts in.
"""

import hashlib
import json
import warnings
import zipfile
from pathlib import Path

from model_under_test.card import ModelCard, resolve_card
from model_under_test.inference import Forward, LoadedModel
from safety_harness.core import tf_runtime
from safety_harness.core.errors import HarnessInputError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
FORMATS = ".h5 / .hdf5 (Keras 3 or legacy Keras 2), .keras, or a TensorFlow SavedModel directory (with saved_model.pb)"


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


def _contains_lambda(config) -> bool:
    if isinstance(config, dict):
        return config.get("class_name") == "Lambda" or any(_contains_lambda(v) for v in config.values())
    if isinstance(config, list):
        return any(_contains_lambda(v) for v in config)
    return False


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


def _detect_format(path: Path) -> str:
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
    raise HarnessInputError(f"Model {path} has an unknown format {suffix or '(no extension)'!r}",
                            f"Pass --model one of: {FORMATS}.")


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def _load_keras_file(path: Path, model_format: str):
    """Keras 3 first; legacy ``.h5`` files it cannot read go to tf_keras. Returns (model, loader)."""
    keras = tf_runtime.keras()
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True), "keras"
    except Exception as keras_error:  # noqa: BLE001 — any failure of Keras 3 is reported or retried below
        if model_format != "h5":
            raise HarnessInputError(f"Model {path} cannot be read by Keras 3 ({_first_line(keras_error)})",
                                    "Check that the file is a complete Keras 3 model.") from None
        try:
            return tf_runtime.tf_keras().models.load_model(path, compile=False), "tf_keras"
        except Exception as legacy_error:  # noqa: BLE001
            raise HarnessInputError(
                f"Model {path} cannot be read by Keras 3 ({_first_line(keras_error)}) "
                f"nor by tf_keras ({_first_line(legacy_error)})",
                "Check that the file is a complete Keras model; re-save it with the Keras that trained it.",
            ) from None


def _load_savedmodel(path: Path):
    tf = tf_runtime.tensorflow()
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as error:  # noqa: BLE001
        raise HarnessInputError(f"SavedModel {path} cannot be loaded ({_first_line(error)})",
                                "Check that the directory is a complete TensorFlow SavedModel.") from None
    if "serving_default" not in loaded.signatures:
        raise HarnessInputError(f"SavedModel {path} has no 'serving_default' signature",
                                "Export the model with a serving signature (model.export(path)).")
    return loaded


def load_model(path, card_path=None, allow_unsafe: bool = False) -> LoadedModel:
    """Load ``path`` with the card in force, validate the pair, and compile the batched forward pass."""
    path = Path(path).resolve()
    model_format = _detect_format(path)
    card, card_path, assumed = resolve_card(path, card_path)
    if model_format in ("h5", "keras") and not allow_unsafe and _contains_lambda(_stored_config(path, model_format)):
        raise HarnessInputError(
            f"Model {path} contains Lambda layers, which run arbitrary Python code when loaded",
            "Load it only if you trust its origin, with --allow-unsafe-model; better, replace the Lambda layers "
            "with registered custom layers.",
        )
    with warnings.catch_warnings(record=True) as caught, tf_runtime.stderr_silenced():
        warnings.simplefilter("always")
        if model_format == "savedmodel":
            network, loader = _load_savedmodel(path), "tf.saved_model"
        else:
            if allow_unsafe:
                tf_runtime.keras().config.enable_unsafe_deserialization()
            network, loader = _load_keras_file(path, model_format)
    load_warnings = sorted({str(w.message).splitlines()[0] for w in caught if issubclass(w.category, UserWarning)})
    forward = Forward(network, loader)
    _check_card_against_model(path, card, card_path, forward.input_shape, forward.output_shape)
    card = card if card.size is not None else _with_size(card, forward.input_shape)
    return LoadedModel(
        path=path, format=model_format, loader=loader, sha256=file_sha256(path), card=card, card_path=card_path,
        card_assumed=assumed, load_warnings=tuple(load_warnings), forward=forward,
    )


def _with_size(card: ModelCard, input_shape) -> ModelCard:
    from dataclasses import replace

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
