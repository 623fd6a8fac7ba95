"""Predictions kept on disk between runs, under a key of everything that determines them.

The key hashes the model file (SHA-256) and its card, the ingest's content hash, the condition
with its perturbation's parameters, the seed, the images evaluated, the batch size, the image
size cap (``--max-image-pixels``), the library versions and the source code of every harness
module on the path from file to probabilities. Any change of any part is a miss: a hit is never stale. An entry is written to a
temporary file and renamed into place, so a killed run leaves no half-written entry; it carries its
key and a SHA-256 digest of its content, checked with the images asked for when it is read, so a
damaged or altered entry is recomputed, never used. A cache folder that cannot be used (a file, not
creatable, not writable) turns caching off with a note in the run's outcomes, not an error.
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

#: the harness code that turns an image file into the stored outputs (predictions, fitted image detectors,
#: explainer self-checks, trigger scans, counterexample searches, image detector scores, OOD set predictions,
#: heatmaps, bootstrap bounds)
_CODE = ("safety_harness/ingest", "model_under_test", "perturbations", "safety_harness/ood/reconstruction.py",
         "safety_harness/ood/vae.py", "safety_harness/run/predictions.py", "safety_harness/run/mc_dropout.py",
         "safety_harness/ood/mc_dropout.py", "safety_harness/explanations", "safety_harness/run/explanations.py",
         "safety_harness/metrics/bootstrap.py", "safety_harness/metrics/calibration.py",
         "safety_harness/backdoor", "safety_harness/run/trigger_scan.py",
         "safety_harness/run/counterexample.py", "safety_harness/run/uncertainty.py")
_LIBRARIES = ("tensorflow-cpu", "tensorflow", "keras", "tf-keras", "numpy", "opencv-python-headless",
              "albumentations", "pillow")


@functools.cache
def code_fingerprint() -> str:
    """SHA-256 over the harness sources that determine predictions, and the library versions."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256(__version__.encode())
    for entry in _CODE:
        path = root / entry
        for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(source.relative_to(root).as_posix().encode() + b"\0" + source.read_bytes())
    for name in _LIBRARIES:
        try:
            digest.update(f"{name}=={importlib.metadata.version(name)}".encode())
        except importlib.metadata.PackageNotFoundError:
            continue
    return digest.hexdigest()


def cache_key(**parts) -> str:
    """A key over ``parts`` (JSON-able values; numpy arrays are hashed with their dtype and shape: the same bytes
    can be other images) and the code fingerprint."""
    def encode(value):
        if isinstance(value, np.ndarray):
            layout = f"{value.dtype}{value.shape}".encode()
            return hashlib.sha256(np.ascontiguousarray(value).tobytes() + layout).hexdigest()
        return value

    text = json.dumps({k: encode(v) for k, v in parts.items()}, sort_keys=True, default=str)
    return hashlib.sha256((text + code_fingerprint()).encode()).hexdigest()


class PredictionCache:
    """``load``/``store`` named arrays (model outputs, fitted detector state) and decoding failures
    by key; ``folder=None`` disables it.

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

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npz"

    def load(self, key: str, stage: str, expected_indices=None):
        """The stored ``(arrays, failures)`` or None; ``arrays`` maps names to the arrays stored
        (those given as None to :meth:`store` are absent).

        With ``expected_indices`` (the images asked for), the entry must account for exactly those:
        its ``indices`` and its failures together, each once, and every array one row per index."""
        if self.folder is None:
            self.outcomes[stage] = "computed (cache disabled)"
            return None
        if self._unusable is not None:
            self.outcomes[stage] = f"computed (cache not used: {self._unusable})"
            return None
        path = self._path(key)
        if not path.exists():
            self.outcomes[stage] = "computed"
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
        failures = [(int(index), reason) for index, reason in json.loads(str(arrays.pop(_FAILURES)))]
        del arrays[_KEY], arrays[_DIGEST]
        return arrays, failures

    def cached(self, stage: str, compute, **key_parts) -> dict:
        """The named arrays ``compute()`` returns, kept under a key of ``stage`` and ``key_parts`` (see
        :func:`cache_key`: everything that determines them); on a hit ``compute`` is not called. Arrays
        given as None are absent from the result. A stage of several entries is noted as served from the
        cache only when each of them was: one computed earlier in the run keeps its outcome."""
        key, earlier = cache_key(stage=stage, **key_parts), self.outcomes.get(stage, "cache")
        stored = self.load(key, stage)
        if earlier != "cache":
            self.outcomes[stage] = earlier
        if stored is not None:
            return stored[0]
        arrays = {name: value for name, value in compute().items() if value is not None}
        self.store(key, arrays, [])
        return arrays

    def store(self, key: str, arrays: dict, failures) -> None:
        """Write an entry; a cache that cannot be written to is noted in ``outcomes``, not raised."""
        if self.folder is None or self._unusable is not None:
            return
        path = self._path(key)
        present = {name: value for name, value in arrays.items() if value is not None}
        present[_FAILURES] = np.array(json.dumps([[int(i), r] for i, r in failures]))
        present[_KEY] = np.array(key)
        present[_DIGEST] = np.array(_digest(present))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        except OSError as error:
            self._unusable = f"cannot write to {self.folder}: {error.strerror or error}"
            self.outcomes["prediction cache"] = f"not written ({self._unusable})"
            return
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, **present)
            os.replace(temporary, path)
        except OSError as error:
            self.outcomes["prediction cache"] = f"entry not written ({path}: {error.strerror or error})"
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)


#: reserved names in an entry beside the stored arrays
_FAILURES, _KEY, _DIGEST = "failures", "__key__", "__sha256__"


def _digest(arrays: dict) -> str:
    """SHA-256 over every array of an entry but the digest: name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name == _DIGEST:
            continue
        value = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}\0{value.dtype.str}\0{value.shape}\0".encode() + value.tobytes())
    return digest.hexdigest()


def _entry_problem(arrays: dict, key: str, expected_indices) -> str | None:
    """Why a read entry cannot be used, or None."""
    if any(name not in arrays for name in (_FAILURES, _KEY, _DIGEST)):
        return "no key or digest (written by another version, or not by this harness)"
    if str(arrays[_KEY]) != key:
        return "it was written under another key"
    if str(arrays[_DIGEST]) != _digest(arrays):
        return "its content does not match its SHA-256 digest (truncated or altered)"
    if expected_indices is None:
        return None
    indices = arrays.get("indices")
    failed = [int(index) for index, _ in json.loads(str(arrays[_FAILURES]))]
    if indices is None or indices.ndim != 1:
        return "it holds no image indices"
    accounted = np.concatenate([indices.astype(np.int64), np.asarray(failed, np.int64)])
    expected = np.asarray(expected_indices, np.int64)
    if accounted.size != expected.size:
        return (f"it accounts for {accounted.size} image(s) ({indices.size} predicted, {len(failed)} failed), "
                f"not the {expected.size} asked for")
    if not np.array_equal(np.sort(accounted), np.sort(expected)):
        return "its images are not the ones asked for"
    rows = {name: value.shape[0] for name, value in arrays.items()
            if name not in (_FAILURES, _KEY, _DIGEST) and value.ndim and value.shape[0] != indices.size}
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
