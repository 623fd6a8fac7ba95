"""tools/requirements_met.py: ``make install`` skips pip only when every requirement is installed."""

import subprocess
import sys

from tests.conftest import PROJECT_ROOT

TOOL = PROJECT_ROOT / "tools" / "requirements_met.py"


def met(*arguments) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *arguments], capture_output=True, text=True, timeout=60)


def test_the_installed_requirements_are_met_with_their_dependencies():
    result = met("-r", str(PROJECT_ROOT / "requirements.txt"), "--no-deps", "tf-keras")
    assert result.returncode == 0, result.stderr


def test_a_missing_package_a_wrong_version_or_a_missing_dependency_leave_it_to_pip(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# a comment\npytest>=8  # inline\n")
    assert met("-r", str(requirements)).returncode == 0
    for arguments, reason in ((["surely-not-an-installed-package-x9"], "is not installed"),
                              (["pytest<1"], "does not satisfy pytest<1"),
                              # tf-keras declares the full tensorflow, which the Makefile leaves out
                              (["tf-keras"], "needed by tf-keras"),
                              (["-r", str(requirements), "--editable=."], "cannot be checked here")):
        result = met(*arguments)
        assert result.returncode == 1 and reason in result.stderr, (arguments, result.stderr)
