"""What produced a run: harness version and commit, Python and library versions."""

import datetime
import importlib.metadata
import platform
import subprocess
from pathlib import Path

from safety_harness.core import __version__

_LIBRARIES = ("tensorflow-cpu", "tensorflow", "keras", "tf-keras", "numpy", "scipy", "albumentations",
              "opencv-python-headless", "pillow", "pytest", "pytest-html", "hypothesis")


def harness_commit() -> str:
    """The commit of the harness's checkout, marked when the tree has uncommitted changes; not that of a
    repository the harness merely sits in."""
    root = Path(__file__).resolve().parents[2]
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        if Path(top).resolve() != root:
            return "unknown (not a git checkout)"
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return commit + (" (with uncommitted changes)" if dirty else "")


def describe_environment(seed: int) -> dict:
    """Versions of everything that can change a number in the report, and when (UTC) the run ended."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "harness_version": __version__,
        "harness_commit": harness_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": versions,
        "seed": seed,
    }
