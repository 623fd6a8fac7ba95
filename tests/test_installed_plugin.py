"""The harness as a user installs it: the wheel built from this checkout, installed into a fresh virtual environment
with no checkout on its path, run in the user's own folder (README, "In your own repository").

The environment takes the already installed dependencies offline, through a folder of links to every entry of this
interpreter's site-packages but this distribution's own (an editable install of this checkout, whose entry point
would register the plugin a second time) and the .pth files that put it on the path.
"""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

from safety_harness import ROOMS
from tests.conftest import PROJECT_ROOT, read_evidence

#: the site-packages of the interpreter this one runs on (itself, or the base of the virtual environment it is)
SITE_PACKAGES = Path(sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"])
DISTRIBUTION = "traffic_sign_safety_harness"
#: what the packaged folders hold besides their sources; the rest of the checkout is not shipped
NOT_SHIPPED = shutil.ignore_patterns(".git", ".cache", "reports", "__pycache__", "build", "*.egg-info", ".hypothesis",
                                     ".pytest_cache", ".benchmarks", "dist")


def build_wheel(folder: Path) -> Path:
    """The wheel of a copy of this checkout (a build writes into the folder it builds)."""
    source = folder / "source"
    shutil.copytree(PROJECT_ROOT, source, ignore=NOT_SHIPPED)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(folder / "dist"), str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = (folder / "dist").glob(f"{DISTRIBUTION}-*.whl")
    return wheel


def shipped_files() -> set[str]:
    """Every file of the package and its rooms in this checkout, as the wheel names it."""
    folders = [(PROJECT_ROOT / "safety_harness", "safety_harness"),
               *((PROJECT_ROOT / room, f"safety_harness/{room}") for room in ROOMS)]
    return {f"{prefix}/{path.relative_to(folder).as_posix()}" for folder, prefix in folders
            for path in folder.rglob("*") if path.is_file() and "__pycache__" not in path.parts}


def fresh_environment(folder: Path, wheel: Path) -> Path:
    """The python of a new virtual environment holding the wheel, its dependencies linked from this interpreter's."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder / "venv")], check=True, timeout=120)
    python = folder / "venv" / "bin" / "python"
    dependencies = folder / "dependencies"
    dependencies.mkdir()
    for entry in SITE_PACKAGES.iterdir():
        if not (entry.name.startswith((f"{DISTRIBUTION}-", "__editable__")) or entry.suffix == ".pth"):
            (dependencies / entry.name).symlink_to(entry)
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "installed_dependencies.pth").write_text(f"{dependencies}\n")
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile", "-q", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return python


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the environment's python, the wheel's file names)."""
    folder = tmp_path_factory.mktemp("installed")
    wheel = build_wheel(folder)
    return fresh_environment(folder, wheel), set(zipfile.ZipFile(wheel).namelist())


def run_in(folder: Path, python: Path, *arguments) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    return subprocess.run([str(python), *map(str, arguments)], cwd=folder, capture_output=True, text=True,
                          env={**environment, "PYTHONHASHSEED": "0"}, timeout=900)


def readme_example() -> dict[str, str]:
    """The files of the README's example of a requirement of one's own kind, by name (each block's first line)."""
    section = PROJECT_ROOT.joinpath("README.md").read_text().split("### A requirement of your own kind")[1]
    blocks = re.findall(r"```(?:python|yaml)\n# (\S+)\n(.*?)```", section.split("\n## ")[0], re.DOTALL)
    return {name: body for name, body in blocks}


def test_the_wheel_holds_one_namespace_with_every_module_and_the_data_the_harness_reads(installed):
    _, names = installed
    assert {name.split("/")[0] for name in names} == {"safety_harness", f"{DISTRIBUTION}-0.2.0.dist-info"}
    assert shipped_files() - names == set()


def test_the_distribution_requires_the_pinned_runtime_of_requirements_txt():
    pinned = {line.strip() for line in PROJECT_ROOT.joinpath("requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    dependencies = tomllib.loads(PROJECT_ROOT.joinpath("pyproject.toml").read_text())["project"]["dependencies"]
    assert set(dependencies) <= pinned and {"tensorflow-cpu==2.21.0", "pytest-html==4.2.0"} <= set(dependencies)


def test_init_writes_the_starter_files_and_overwrites_nothing(installed, tmp_path):
    python, _ = installed
    written = run_in(tmp_path, python, "-m", "safety_harness", "init")
    assert written.returncode == 0, written.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model_card.yaml", "requirements.yaml"]
    again = run_in(tmp_path, python, "-m", "safety_harness", "init")
    assert again.returncode == 4 and "requirements.yaml exists" in again.stderr


def test_a_safety_run_in_the_users_folder_with_the_bundled_then_the_users_requirements(installed, shared_path,
                                                                                         tmp_path):
    python, _ = installed
    model, ingest = shared_path("models", "abis47", "traffic_classifier.h5"), shared_path("gtsrb", "Polish_Test")
    # the user's card lives in the user's repository (given after a space, a path in a folder with a pytest
    # configuration above it, like this checkout, is where pytest would read its configuration from)
    card = tmp_path / "models" / "abis47.yaml"
    card.parent.mkdir()
    shutil.copyfile(PROJECT_ROOT / "tests" / "shared_model_cards" / "abis47.yaml", card)
    user = tmp_path / "repository"
    user.mkdir()
    mission = ["--model", model, "--model-card", card, "--ingest", ingest]

    bundled = run_in(user, python, "-m", "pytest", *mission, "-k", "SR-ACCURACY", "-v", "-p", "no:cacheprovider")
    assert bundled.returncode in (0, 1), bundled.stdout[-3000:] + bundled.stderr[-3000:]
    assert f"rootdir: {user}\n" in bundled.stdout
    assert "test_classification.py::test_accuracy_floor[SR-ACCURACY] " in bundled.stdout
    evidence = read_evidence(user / "reports" / "safety_report.evidence.json")
    (accuracy,) = [result for result in evidence["requirements"] if result["id"] == "SR-ACCURACY"]
    assert accuracy["n"] == 9 and accuracy["verdict"] in ("pass", "fail", "insufficient_evidence")
    assert evidence["model"]["path"] == str(model.resolve()) and (user / "reports" / "safety_report.html").is_file()

    for name, body in readme_example().items():
        user.joinpath(name).write_text(body)
    own = run_in(user, python, "-m", "pytest", *mission, "--requirements", "requirements.yaml",
                 "--junitxml=reports/junit.xml", "-p", "no:cacheprovider")
    assert own.returncode in (0, 1), own.stdout[-3000:] + own.stderr[-3000:]
    evidence = read_evidence(user / "reports" / "safety_report.evidence.json")
    (result,) = evidence["requirements"]  # the user's file replaced the bundled one
    assert (result["id"], result["metric"], result["parameters"]) == (
        "MY-CONFIDENT-ERRORS", "confident_error_rate", {"min_confidence": 0.9})
    assert result["bound"] is not None and result["verdict"] in ("pass", "fail", "insufficient_evidence")
    passed = result["verdict"] == "pass"
    assert (evidence["gate"], own.returncode) == (("pass", 0) if passed else ("fail", 1))
    assert "MY-CONFIDENT-ERRORS" in (user / "reports" / "safety_report.html").read_text()
    (case,) = [case for case in ElementTree.parse(user / "reports" / "junit.xml").iter("testcase")
               if "MY-CONFIDENT-ERRORS" in case.get("name")]
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties["verdict"] == result["verdict"] and float(properties["bound"]) == result["bound"]

    # without an option the folder's tests run as before, its safety test skipped: no safety run
    plain = run_in(user, python, "-m", "pytest", "-p", "no:cacheprovider", "-rs")
    assert plain.returncode == 0, plain.stdout[-3000:] + plain.stderr[-3000:]
    assert "1 skipped" in plain.stdout and "judged in a safety run" in plain.stdout
    assert "safety gate" not in plain.stdout
