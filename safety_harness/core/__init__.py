"""Cross-cutting core of the safety-validation harness: version, errors, quiet TensorFlow import."""

import importlib.metadata

#: the distribution pyproject.toml defines; its installed metadata is the one source of the harness's version
DISTRIBUTION = "traffic-sign-safety-harness"

try:
    __version__ = importlib.metadata.version(DISTRIBUTION)
except importlib.metadata.PackageNotFoundError:
    __version__ = "unknown (not installed: run `make install`)"
