"""The mission's usage line as written: `pytest --model PATH --ingest DIR`, with spaces, paths anywhere.

pytest takes an existing path after an option it does not know yet for a test path and settles its
rootdir on the paths' common ancestor (pytest-dev/pytest#6904); the installed plugin
(safety_harness.fixtures.options) registers the options and runs such a command again in the = form.
"""

import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT, deterministic_sections, read_evidence


def pytest_in(folder, *arguments):
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *map(str, arguments)],
                          cwd=folder, capture_output=True, text=True, env=env, timeout=900)


def test_space_and_equals_forms_run_the_same_suite_with_paths_outside_the_project(shared_path, tmp_path):
    model, ingest = shared_path("models", "abis47", "traffic_classifier.h5"), shared_path("gtsrb", "Final_Test")
    card = PROJECT_ROOT / "tests" / "shared_model_cards" / "abis47.yaml"
    evidence = {}
    for form in ("space", "equals"):
        paths = [("--model", model), ("--model-card", card), ("--ingest", ingest)]
        options = [part for option, path in paths for part in ((option, path) if form == "space" else (f"{option}={path}",))]
        completed = pytest_in(PROJECT_ROOT, *options, "-k", "SR-STOP-RECALL", f"--evidence={tmp_path / form}.json",
                              f"--html={tmp_path / form}.html")
        assert "unrecognized arguments" not in completed.stderr
        assert f"rootdir: {PROJECT_ROOT}\n" in completed.stdout
        assert completed.returncode in (0, 1), completed.stdout + completed.stderr
        evidence[form] = read_evidence(tmp_path / f"{form}.json")
    assert [r["id"] for r in evidence["space"]["requirements"]] == ["SR-STOP-RECALL"]
    assert evidence["space"]["model"]["path"] == str(model.resolve())
    assert evidence["space"]["ingest"]["path"] == str(ingest.resolve())
    space, equals = deterministic_sections(evidence["space"]), deterministic_sections(evidence["equals"])
    for section in ("gate", "gate_joint_confidence", "requirements", "model", "ingest", "environment"):
        assert space[section] == equals[section], section
    assert (tmp_path / "space.html").read_text().count("SR-STOP-RECALL") > 0


def test_without_an_option_the_plugin_only_adds_its_options_outside_the_harness(tmp_path):
    (tmp_path / "test_other.py").write_text("def test_other_project(request):\n"
                                            "    assert request.config.getoption('model') == []\n")
    completed = pytest_in(tmp_path, "-q")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "1 passed" in completed.stdout and "safety gate" not in completed.stdout
    assert not (tmp_path / "reports").exists()
