"""The CI examples in docs/ci run as written: each installs this distribution into the user's pipeline, and the gate
command each YAML gives, run in a folder of the user's on the bundled model and ingest, exits 0 and leaves every
artifact the YAML publishes."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from safety_harness.fixtures.plugin import DEFAULT_CACHE_DIR
from safety_harness.model_under_test.reference import BUNDLED_MODEL
from safety_harness.synthetic.default_ingest import ensure_default_ingest
from tests.conftest import PROJECT_ROOT, read_evidence

CI = PROJECT_ROOT / "docs" / "ci"
INSTALL = 'python -m pip install "$HARNESS"'


def github_actions():
    """(variables, gate command, published paths) of the GitHub Actions example."""
    job = yaml.safe_load((CI / "github-actions.yml").read_text())["jobs"]["safety-gate"]
    steps = {step.get("name"): step for step in job["steps"]}
    published = [line.strip().replace("${{ env.REPORTS }}", "$REPORTS")
                 for line in steps["Publish the report and the evidence"]["with"]["path"].splitlines()]
    published.append(steps["Publish the test results"]["with"]["report_paths"].replace("${{ env.REPORTS }}", "$REPORTS"))
    assert steps["Install the harness"]["run"] == INSTALL
    assert all(step.get("if") == "always()" for name, step in steps.items() if (name or "").startswith("Publish"))
    return job["env"], steps["Safety gate"]["run"], published


def gitlab_ci():
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["safety-gate"]
    (gate,) = [line for line in job["script"] if "pytest" in line]
    assert job["script"][0] == INSTALL and job["artifacts"]["when"] == "always"
    return job["variables"], gate, [*job["artifacts"]["paths"], job["artifacts"]["reports"]["junit"]]


def test_both_examples_install_the_harness_and_run_the_same_gate():
    github, gitlab = github_actions(), gitlab_ci()
    assert github[0] == gitlab[0] and github[0].keys() == {"MODEL", "INGEST", "REPORTS", "HARNESS"}
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    assert github[0]["HARNESS"] == f"{project['name']}=={project['version']}"
    assert github[1] == gitlab[1] and github[1].startswith("python -m pytest ") and "--junitxml=" in github[1]
    assert sorted(github[2]) == sorted(gitlab[2])


def test_the_gate_command_of_the_examples_passes_on_the_bundled_model_and_ingest_in_the_users_folder(tmp_path):
    _, command, published = github_actions()
    variables = {"MODEL": str(BUNDLED_MODEL), "INGEST": str(ensure_default_ingest(DEFAULT_CACHE_DIR)),
                 "REPORTS": str(tmp_path / "reports")}
    repository = tmp_path / "repository"
    repository.mkdir()
    # narrowed to the stop-sign requirements (the whole suite is what `make report` runs), on this checkout's cache
    options = f" -p no:cacheprovider -k SR-STOP --cache-dir={DEFAULT_CACHE_DIR}"
    # the pipeline's `python` is the one the harness is installed in: this interpreter
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    completed = subprocess.run(["bash", "-c", command + options], cwd=repository,
                               env={**os.environ, **variables, "PYTHONHASHSEED": "0", "PATH": path},
                               capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    for path in published:
        artifact = re.sub(r"\$(\w+)", lambda match: variables[match.group(1)], path)
        assert os.path.isfile(artifact) or (path.endswith("/") and os.path.isdir(artifact)), artifact
    evidence = read_evidence(tmp_path / "reports" / "safety_report.evidence.json")
    assert evidence["gate"] == "pass" and evidence["model"]["path"] == str(BUNDLED_MODEL)
    # given by path, the bundled ingest is still known as the renderer's: a demonstration, each render its own group
    assert evidence["data"]["demonstration"] and evidence["ingest"]["groups"]["source"] == "generated_independent"
