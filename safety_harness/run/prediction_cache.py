"""Predictions and other stages' results kept on disk between runs, under a key of everything that
determines them.

The key hashes what the stage declares: for predictions the model file (SHA-256) and its card, the
ingest's content hash, the condition with its perturbation's parameters, the seed, the images
evaluated, the batch size, the image size cap (``--max-image-pixels``); and for every stage the
library versions and the source of the code it runs (:func:`code_fingerprint`, found from its imports
by :mod:`safety_harness.run.stage_code`). Any change of any part is a miss: a hit is never stale.
Entries are typed: named arrays with decoding failures (``.npz``) or a JSON object (``.json``). An
entry is written to a temporary file and renamed into place, so a killed run leaves no half-written
entry; it carries its key and a SHA-256 digest of its content, checked (with the images asked for)
when it is read, so a damaged or altered entry is recomputed, never used. A cache folder that cannot
be used (a file, not creatable, not writable) turns caching off with a note in the run's outcomes,
not an error.
"""

import functools
import hashlib
import importlib.metadata
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from safety_harness.core import __version__
from safety_harness.run.stage_code import ModuleGraph, module_of

_LIBRARIES = ("tensorflow-cpu", "tensorflow", "keras", "tf-keras", "numpy", "opencv-python-headless",
              "albumentations", "pillow", "ai-edge-litert", "onnxruntime", "onnx")


def code_fingerprint(*stages) -> str:
    """SHA-256 over the code ``stages`` run (functions, classes or modules: the source of the modules declaring
    them and of the project modules those import, transitively; see :mod:`safety_harness.run.stage_code`), the
    harness version and the library versions. With no stage: over every module of the project's packages (what
    a Ray worker must share with the driver). Computed once per process and set of stages."""
    return _fingerprint(tuple(sorted({module_of(stage) for stage in stages})))


@functools.cache
def _fingerprint(modules: tuple) -> str:
    graph = _project_graph()
    text = f"{__version__}\0{graph.fingerprint(modules or graph.project_modules())}\0{_library_versions()}"
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def _library_versions() -> str:
    """The installed versions of the libraries the stages call (third-party code is named, not read)."""
    versions = []
    for name in _LIBRARIES:
        try:
            versions.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return " ".join(versions)


@functools.cache
def _project_graph() -> ModuleGraph:
    """This process's project modules, each read and parsed once."""
    return ModuleGraph()


def cache_key(*, code=None, **parts) -> str:
    """A key over ``parts`` (JSON-able values; numpy arrays are hashed with their dtype and shape: the same bytes
    can be other images) and the fingerprint of ``code``, the stage that computes the entry (a function, class or
    module, or a tuple of them; :func:`code_fingerprint`). Without ``code``, every module of the project counts:
    never stale, but any change of the project recomputes the entry."""
    def encode(value):
        if isinstance(value, np.ndarray):
            layout = f"{value.dtype}{value.shape}".encode()
            return hashlib.sha256(np.ascontiguousarray(value).tobytes() + layout).hexdigest()
        return value

    text = json.dumps({k: encode(v) for k, v in parts.items()}, sort_keys=True, default=str)
    return hashlib.sha256((text + code_fingerprint(*_as_stages(code))).encode()).hexdigest()


def _as_stages(code) -> tuple:
    """``code`` (a stage, a tuple of them, or None) as a tuple of stages."""
    return () if code is None else code if isinstance(code, tuple) else (code,)


class PredictionCache:
    """Typed entries by key: named arrays with decoding failures (model outputs, fitted detector state, ...,
    :meth:`load`/:meth:`store`/:meth:`cached`) and JSON documents (admissions, checks, self-checks, ...,
    :meth:`load_json`/:meth:`store_json`/:meth:`cached_json`); ``folder=None`` disables it.

    ``outcomes`` records, per stage of the run, whether it was served from the cache, and why an
    entry was refused or the cache could not be used: the report lists them. An entry is used only
    when it names the key it was read under and its content matches the SHA-256 digest stored with
    it, so a truncated, altered or misplaced entry is recomputed, never trusted. The digest detects
    damage and careless edits, not a forger who recomputes it: a shared cache must be trusted as much
    as the code it is shared with.
    """

    def __init__(self, folder: Path | None):
        self.folder = None if folder is None else Path(folder)
        self.outcomes: dict[str, str] = {}
        self._unusable = None if self.folder is None else _unusable_reason(self.folder)

    def _path(self, key: str, suffix: str = ".npz") -> Path:
        return self.folder / key[:2] / f"{key}{suffix}"

    def load(self, key: str, stage: str, expected_indices=None):
        """The stored ``(arrays, failures)`` or None; ``arrays`` maps names to the arrays stored
        (those given as None to :meth:`store` are absent).

        With ``expected_indices`` (the images asked for), the entry must account for exactly those:
        its ``indices`` and its failures together, each once, and every array one row per index."""
        path = self._readable(key, stage, ".npz")
        if path is None:
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
            problem = _entry_problem(arrays, key, expected_indices)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            problem = f"unreadable ({type(error).__name__}: {error})"
        if problem is not None:
            self.outcomes[stage] = f"computed (cache entry {path} refused: {problem})"
            return None
        self.outcomes[stage] = "cache"
        failures = _failures(arrays)
        for name in _RESERVED:
            del arrays[name]
        return arrays, failures

    def load_json(self, key: str, stage: str) -> dict | None:
        """The JSON object stored under ``key``, or None."""
        path = self._readable(key, stage, ".json")
        if path is None:
            return None
        try:
            entry = json.loads(path.read_bytes())
            problem = _json_entry_problem(entry, key)
        except (OSError, ValueError) as error:
            problem = f"unreadable ({type(error).__name__}: {error})"
        if problem is not None:
            self.outcomes[stage] = f"computed (cache entry {path} refused: {problem})"
            return None
        self.outcomes[stage] = "cache"
        return entry["value"]

    def _readable(self, key: str, stage: str, suffix: str) -> Path | None:
        """The path of the entry of ``key``, or None (the reason noted in ``outcomes``)."""
        if self.folder is None:
            self.outcomes[stage] = "computed (cache disabled)"
            return None
        if self._unusable is not None:
            self.outcomes[stage] = f"computed (cache not used: {self._unusable})"
            return None
        path = self._path(key, suffix)
        if not path.exists():
            self.outcomes[stage] = "computed"
            return None
        return path

    def cached(self, stage: str, compute, code=None, **key_parts) -> dict:
        """The named arrays ``compute()`` returns, kept under a key of ``stage``, ``key_parts`` and the code that
        computes them (see :func:`cache_key`: everything that determines them): ``compute``'s module and what it
        imports, and ``code`` (stages it runs through objects it is given, such as the model's). On a hit
        ``compute`` is not called. Arrays given as None are absent from the result. A stage of several entries
        is noted as served from the cache only when each of them was: one computed earlier in the run keeps its
        outcome."""
        def load(key):
            stored = self.load(key, stage)
            return None if stored is None else stored[0]

        def computed():
            return {name: value for name, value in compute().items() if value is not None}

        return self._cached(stage, computed, (compute, *_as_stages(code)), key_parts, load,
                            lambda key, arrays: self.store(key, arrays, []))

    def cached_json(self, stage: str, compute, code=None, **key_parts) -> dict:
        """:meth:`cached` for a stage whose result is a JSON object (``compute()`` returns a dict)."""
        return self._cached(stage, compute, (compute, *_as_stages(code)), key_parts,
                            lambda key: self.load_json(key, stage), self.store_json)

    def _cached(self, stage, compute, code, key_parts, load, store):
        key = cache_key(code=code, stage=stage, **key_parts)
        earlier = self.outcomes.get(stage, "cache")
        stored = load(key)
        if earlier != "cache":
            self.outcomes[stage] = earlier
        if stored is not None:
            return stored
        result = compute()
        store(key, result)
        return result

    def store(self, key: str, arrays: dict, failures) -> None:
        """Write an array entry; a cache that cannot be written to is noted in ``outcomes``, not raised."""
        present = {name: value for name, value in arrays.items() if value is not None}
        present[_FAILED_INDICES] = np.array([int(index) for index, _ in failures], np.int64)
        present[_FAILED_REASONS] = np.array([str(reason) for _, reason in failures], np.str_)
        present[_KEY] = np.array(key)
        present[_DIGEST] = np.array(_digest(present))
        self._write(key, ".npz", lambda file: np.savez(file, **present))

    def store_json(self, key: str, value: dict) -> None:
        """Write a JSON entry (``value`` a JSON object; numpy scalars in it are written as numbers), as
        :meth:`store` does."""
        entry = {"key": key, "sha256": _json_digest(value), "value": value}
        self._write(key, ".json", lambda file: file.write(_json_text(entry).encode()))

    def _write(self, key: str, suffix: str, write) -> None:
        """``write(file)`` to a temporary file renamed into the entry's place: a killed writer leaves no half
        entry."""
        if self.folder is None or self._unusable is not None:
            return
        path = self._path(key, suffix)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        except OSError as error:
            self._unusable = f"cannot write to {self.folder}: {error.strerror or error}"
            self.outcomes["prediction cache"] = f"not written ({self._unusable})"
            return
        try:
            with os.fdopen(handle, "wb") as file:
                write(file)
            os.replace(temporary, path)
        except OSError as error:
            self.outcomes["prediction cache"] = f"entry not written ({path}: {error.strerror or error})"
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)


#: reserved names in an array entry beside the stored arrays
_FAILED_INDICES, _FAILED_REASONS, _KEY, _DIGEST = "__failed_indices__", "__failed_reasons__", "__key__", "__sha256__"
_RESERVED = (_FAILED_INDICES, _FAILED_REASONS, _KEY, _DIGEST)


def _digest(arrays: dict) -> str:
    """SHA-256 over every array of an entry but the digest: name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name == _DIGEST:
            continue
        value = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}\0{value.dtype.str}\0{value.shape}\0".encode() + value.tobytes())
    return digest.hexdigest()


def _json_digest(value) -> str:
    """SHA-256 over the canonical JSON text of ``value``."""
    return hashlib.sha256(_json_text(value).encode()).hexdigest()


def _json_text(value) -> str:
    """``value`` as canonical JSON (sorted keys, no spaces; a numpy scalar as the number it holds)."""
    def plain(scalar):
        if isinstance(scalar, np.generic):
            return scalar.item()
        raise TypeError(f"{type(scalar).__name__} is not JSON")

    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=plain)


def _failures(arrays: dict) -> list:
    return [(int(index), str(reason)) for index, reason in zip(arrays[_FAILED_INDICES], arrays[_FAILED_REASONS],
                                                               strict=True)]


def _json_entry_problem(entry, key: str) -> str | None:
    """Why a read JSON entry cannot be used, or None."""
    if not isinstance(entry, dict) or set(entry) != {"key", "sha256", "value"} or not isinstance(entry["value"], dict):
        return "not an entry of this harness (a key, a digest and a JSON object expected)"
    if entry["key"] != key:
        return "it was written under another key"
    if entry["sha256"] != _json_digest(entry["value"]):
        return "its content does not match its SHA-256 digest (truncated or altered)"
    return None


def _entry_problem(arrays: dict, key: str, expected_indices) -> str | None:
    """Why a read array entry cannot be used, or None."""
    if any(name not in arrays for name in _RESERVED):
        return "no key or digest (written by another version, or not by this harness)"
    if str(arrays[_KEY]) != key:
        return "it was written under another key"
    if str(arrays[_DIGEST]) != _digest(arrays):
        return "its content does not match its SHA-256 digest (truncated or altered)"
    if arrays[_FAILED_INDICES].shape != arrays[_FAILED_REASONS].shape or arrays[_FAILED_INDICES].ndim != 1:
        return "its failures do not pair an image index with a reason"
    if expected_indices is None:
        return None
    indices = arrays.get("indices")
    failed = arrays[_FAILED_INDICES]
    if indices is None or indices.ndim != 1:
        return "it holds no image indices"
    accounted = np.concatenate([indices.astype(np.int64), failed.astype(np.int64)])
    expected = np.asarray(expected_indices, np.int64)
    if accounted.size != expected.size:
        return (f"it accounts for {accounted.size} image(s) ({indices.size} predicted, {failed.size} failed), "
                f"not the {expected.size} asked for")
    if not np.array_equal(np.sort(accounted), np.sort(expected)):
        return "its images are not the ones asked for"
    rows = {name: value.shape[0] for name, value in arrays.items()
            if name not in _RESERVED and value.ndim and value.shape[0] != indices.size}
    if rows:
        return f"{rows} row(s) where {indices.size} image(s) were predicted"
    return None


def _unusable_reason(folder: Path) -> str | None:
    """Why ``folder`` cannot serve as the cache (created when missing), or None."""
    if folder.exists() and not folder.is_dir():
        return f"{folder} is a file, not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"{folder} cannot be created: {error.strerror or error}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is not writable"
    return None
