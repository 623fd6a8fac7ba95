"""Helpers for the harness's own tests: running the safety suite as a user would, in a subprocess."""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from safety_harness.evidence.document import load_schema
from tools.write_evidence_snapshot import evidence_snapshot, load_snapshot, snapshot_differences

PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: the committed snapshots of runs' evidence (tools/write_evidence_snapshot.py)
SNAPSHOTS = Path(__file__).parent / "snapshots"
SHARED = PROJECT_ROOT.parent / "shared"


@dataclass
class SuiteRun:
    returncode: int
    output: str
    evidence: dict | None
    #: the report (rendered from the evidence bundle) and pytest-html's test log beside it
    html: str | None
    test_log: str | None
    #: the folder of the run's bundle: evidence.json, exhibits/, report.html, report.tests.html
    folder: Path


def read_evidence(path: Path) -> dict | None:
    """The evidence JSON at ``path`` (None when absent), validated against the committed JSON Schema:
    a file CI or an auditor could not rely on fails the test that produced it."""
    if not path.exists():
        return None
    evidence = json.loads(path.read_text())
    jsonschema.validate(evidence, load_schema())
    return evidence


def deterministic_sections(evidence: dict) -> dict:
    """The evidence without what differs between two runs on the same inputs: when it was written
    (``environment.timestamp``) and where its report went (``report``)."""
    environment = {key: value for key, value in evidence["environment"].items() if key != "timestamp"}
    return {**{key: value for key, value in evidence.items() if key != "report"}, "environment": environment}


def assert_evidence_matches_snapshot(run: "SuiteRun", name: str):
    """Every requirement case of ``run``'s evidence has the verdict, value, bound and n of the committed snapshot
    ``tests/snapshots/<name>.json``; the message lists the cases that changed (README, "Evidence snapshots")."""
    snapshot = SNAPSHOTS / f"{name}.json"
    differences = snapshot_differences(load_snapshot(snapshot), evidence_snapshot(run.evidence))
    assert not differences, (
        f"the evidence differs from {snapshot.relative_to(PROJECT_ROOT)} in {len(differences)} case(s):\n  "
        + "\n  ".join(differences) + "\nIf the change is a reviewed change of a requirement or a model, rewrite it: "
        f"python tools/write_evidence_snapshot.py {run.folder / 'evidence.json'} {snapshot.relative_to(PROJECT_ROOT)}")


def gtsrb_test_subset(source: Path, folder: Path, choose) -> Path:
    """The images of the GTSRB-test-layout folder ``source`` whose label-file rows ``choose(rows)`` returns,
    with their labels, in that layout in ``folder``: for a test whose assertions do not need all of them."""
    header, *rows = (source / "GT-final_test.csv").read_text().splitlines()
    chosen = choose(rows)
    (folder / "Images").mkdir(parents=True)
    for row in chosen:
        shutil.copyfile(source / "Images" / row.split(";")[0], folder / "Images" / row.split(";")[0])
    (folder / "GT-final_test.csv").write_text("\n".join([header, *chosen]) + "\n")
    return folder


#: test modules that start Ray: one at a time, since a Ray instance started without an address joins one already
#: running on the machine
RAY_MODULES = frozenset({"test_distributed.py", "test_ray_cluster.py"})


def pytest_collection_modifyitems(items):
    """With ``-n 2 --dist loadgroup`` (``make test``), a module's tests run in one worker, so a module-scoped run
    (e.g. the default run behind test_end_to_end.py) is made once; the Ray modules share one worker."""
    for item in items:
        module = item.path.name
        item.add_marker(pytest.mark.xdist_group("ray" if module in RAY_MODULES else module))


def suite_command(folder: Path, *options) -> list[str]:
    """``pytest safety_tests`` with ``options``, its report and evidence in ``folder`` (run it from PROJECT_ROOT,
    in :func:`suite_environment`)."""
    return [sys.executable, "-m", "pytest", "safety_tests", "-q", "-p", "no:cacheprovider",
            f"--html={folder / 'report.html'}", f"--evidence={folder / 'evidence.json'}",
            f"--cache-dir={PROJECT_ROOT / '.cache'}", *options]


def suite_environment(**variables) -> dict:
    """This process's environment with a fixed hash seed and ``variables``."""
    return {**os.environ, "PYTHONHASHSEED": "0", **variables}


@pytest.fixture(scope="session")
def run_safety_suite(tmp_path_factory):
    """Run ``pytest safety_tests`` with the given options; report and evidence go to a temporary folder."""

    def run(*options, name="run") -> SuiteRun:
        folder = tmp_path_factory.mktemp(name)
        html, evidence = folder / "report.html", folder / "evidence.json"
        completed = subprocess.run(suite_command(folder, *options), cwd=PROJECT_ROOT, capture_output=True, text=True,
                                   env=suite_environment(), timeout=900)
        return SuiteRun(
            returncode=completed.returncode,
            output=completed.stdout + completed.stderr,
            evidence=read_evidence(evidence),
            html=html.read_text() if html.exists() else None,
            test_log=(folder / "report.tests.html").read_text() if (folder / "report.tests.html").exists() else None,
            folder=folder,
        )

    return run


#: runs ``python -m safety_harness.report`` with every import of TensorFlow, Keras or tf_keras refused
WITHOUT_TENSORFLOW = """
import importlib.abc, runpy, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("tensorflow", "keras", "tf_keras"):
            raise ImportError(f"{name} is blocked: the report must not need it")
sys.meta_path.insert(0, Refuse())
sys.argv[0] = "safety_harness.report"
runpy.run_module("safety_harness.report", run_name="__main__", alter_sys=True)
"""


def report_without_tensorflow(*arguments) -> subprocess.CompletedProcess:
    """``python -m safety_harness.report *arguments`` in a process that cannot import TensorFlow, Keras or tf_keras."""
    return subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, *map(str, arguments)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def shared_path():
    """``shared_path(*parts)``: a path in ../shared, or skip the test with the reason."""

    def resolve(*parts) -> Path:
        path = SHARED.joinpath(*parts)
        if not path.exists():
            pytest.skip(f"shared material {path} is absent (integration tests need ../shared beside the project)")
        return path

    return resolve


@pytest.fixture(scope="session")
def final_test_subset(shared_path, tmp_path_factory):
    """A seeded subset of the real GTSRB test set in its own layout: every stop sign and 330 others."""

    def every_stop_sign_and_330_others(rows):
        stop = [row for row in rows if row.split(";")[7] == "14"]
        others = [row for row in rows if row.split(";")[7] != "14"]
        return stop + [others[i] for i in np.random.default_rng(7).choice(len(others), 330, replace=False)]

    return gtsrb_test_subset(shared_path("gtsrb", "Final_Test"), tmp_path_factory.mktemp("final_test_subset"),
                             every_stop_sign_and_330_others)


@pytest.fixture(scope="session")
def untrained_model(tmp_path_factory):
    """A real Keras model that has learned nothing (one Dense layer on the pixels, no Dropout): it must fail
    the stop-sign floor."""
    from safety_harness.core import tf_runtime

    keras = tf_runtime.keras()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(43, activation="softmax")])
    folder = tmp_path_factory.mktemp("untrained")
    model.save(folder / "untrained.keras")
    (folder / "untrained.yaml").write_text("input:\n  size: [32, 32]\n  channels: RGB\n  range: [0, 1]\n"
                                           "  resize: area\noutput: probabilities\nclasses: gtsrb43\n")
    return folder / "untrained.keras"
