"""Predictions kept on disk between runs, under a key of everything that determines them.

The key hashes the model file (SHA-256) and its card, the ingest's content hash, the condition
with its perturbation's parameters, the seed, the images evaluated, the batch size, the
library versions and the source code of every harness module on the path from file to
probabilities. Any change of any part is a miss: a hit is never stale. An entry is written to a
temporary file and renamed into place, so a killed run leaves no half-written entry.
"""

import functools
import hashlib
import importlib.metadata
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from safety_harness.core import __version__

#: the harness code that turns an image file into the stored outputs
_CODE = ("safety_harness/ingest", "model_under_test", "perturbations", "safety_harness/ood/reconstruction.py",
         "safety_harness/run/predictions.py")
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
    """A key over ``parts`` (JSON-able values; numpy arrays are hashed) and the code fingerprint."""
    def encode(value):
        if isinstance(value, np.ndarray):
            return hashlib.sha256(np.ascontiguousarray(value).tobytes() + str(value.dtype).encode()).hexdigest()
        return value

    text = json.dumps({k: encode(v) for k, v in parts.items()}, sort_keys=True, default=str)
    return hashlib.sha256((text + code_fingerprint()).encode()).hexdigest()


class PredictionCache:
    """``load``/``store`` named arrays (model outputs, fitted detector state) and decoding failures
    by key; ``folder=None`` disables it.

    ``outcomes`` records, per stage of the run, whether it was served from the cache.
    """

    def __init__(self, folder: Path | None):
        self.folder = None if folder is None else Path(folder)
        self.outcomes: dict[str, str] = {}

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npz"

    def load(self, key: str, stage: str):
        """The stored ``(arrays, failures)`` or None; ``arrays`` maps names to the arrays stored
        (those given as None to :meth:`store` are absent)."""
        if self.folder is None:
            self.outcomes[stage] = "computed (cache disabled)"
            return None
        path = self._path(key)
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files if name != "failures"}
                failures = [(int(index), reason) for index, reason in json.loads(str(stored["failures"]))]
        except (OSError, ValueError, KeyError):  # absent, or unreadable: recompute and rewrite
            self.outcomes[stage] = "computed"
            return None
        self.outcomes[stage] = "cache"
        return arrays, failures

    def store(self, key: str, arrays: dict, failures) -> None:
        if self.folder is None:
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        present = {name: value for name, value in arrays.items() if value is not None}
        handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, failures=np.array(json.dumps([[int(i), r] for i, r in failures])), **present)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
