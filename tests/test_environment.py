"""What produced a run: the harness's version has one source, its commit is the checkout's own."""

import re
import subprocess
import tomllib

from safety_harness import __version__
from safety_harness.core.environment import describe_environment, harness_commit
from tests.conftest import PROJECT_ROOT


def test_the_harness_version_is_the_one_pyproject_defines():
    """The report once said 0.1.0 (a constant in the code) for the package 0.2.0."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    assert __version__ == project["version"]
    assert describe_environment(seed=0)["harness_version"] == project["version"]


def test_the_commit_is_the_checkouts_and_says_when_the_tree_has_changes():
    if subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse"], capture_output=True).returncode:
        assert harness_commit() == "unknown (not a git checkout)"
        return
    head = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{40}( \(with uncommitted changes\))?", harness_commit())
    assert harness_commit() == head + (" (with uncommitted changes)" if dirty else "")
