"""The code fingerprint of a cached stage, found from its import statements (safety_harness/run/stage_code.py):
a change of a stage's source changes the key of that stage's entries only, with no list of files to keep."""

import shutil

import pytest

from safety_harness import ROOMS
from safety_harness.run.prediction_cache import PredictionCache, cache_key, code_fingerprint
from safety_harness.run.stage_code import PROJECT_PACKAGE, ModuleGraph
from safety_harness.run.trigger_scan import TriggerScanStage
from tests.conftest import PROJECT_ROOT

TRIGGER_SCAN, COUNTEREXAMPLE = "safety_harness.run.trigger_scan", "safety_harness.run.counterexample"


@pytest.fixture
def project_copy(tmp_path):
    """A scratch copy of the project's package and its rooms, laid out as in this checkout (Python source only)."""
    keep_source = shutil.ignore_patterns("__pycache__", "*.keras", "*.npz", "*.png", "*.h5")
    for package in (PROJECT_PACKAGE, *ROOMS):
        shutil.copytree(PROJECT_ROOT / package, tmp_path / package, ignore=keep_source)
    return tmp_path


def edit(path, old, new):
    source = path.read_text()
    assert source.count(old) == 1, f"{old!r} is not once in {path}"
    path.write_text(source.replace(old, new))


def fingerprints(root, *stages):
    graph = ModuleGraph(root)  # a new graph reads the files again
    return [graph.fingerprint([stage]) for stage in stages]


def test_editing_a_stage_changes_its_fingerprint_and_not_an_unrelated_stages(project_copy):
    before = fingerprints(project_copy, TRIGGER_SCAN, COUNTEREXAMPLE)
    edit(project_copy / "safety_harness/run/trigger_scan.py", "max_steps=max_steps, seed=seed,",
         "max_steps=max_steps + 1, seed=seed,")
    after = fingerprints(project_copy, TRIGGER_SCAN, COUNTEREXAMPLE)
    assert after[0] != before[0] and after[1] == before[1]


def test_a_module_a_stage_imports_transitively_is_part_of_its_code(project_copy):
    graph = ModuleGraph(project_copy)
    # trigger_scan imports safety_harness.backdoor.neural_cleanse; the counterexample search does not
    assert "safety_harness.backdoor.neural_cleanse" in graph.closure([TRIGGER_SCAN])
    assert "safety_harness.backdoor.neural_cleanse" not in graph.closure([COUNTEREXAMPLE])
    before = fingerprints(project_copy, TRIGGER_SCAN, COUNTEREXAMPLE)
    (project_copy / "safety_harness/backdoor/neural_cleanse.py").write_text(
        (project_copy / "safety_harness/backdoor/neural_cleanse.py").read_text() + "\n# edited\n")
    after = fingerprints(project_copy, TRIGGER_SCAN, COUNTEREXAMPLE)
    assert after[0] != before[0] and after[1] == before[1]


def test_a_stage_added_later_is_covered_with_no_list_to_update(project_copy):
    stage = project_copy / "safety_harness/run/new_stage.py"
    stage.write_text("from ..metrics import bootstrap\n\n\ndef compute():\n    return bootstrap\n")
    before = fingerprints(project_copy, "safety_harness.run.new_stage")
    assert "safety_harness.metrics.bootstrap" in ModuleGraph(project_copy).closure(["safety_harness.run.new_stage"])
    edit(project_copy / "safety_harness/metrics/bootstrap.py", '"""Seeded', '"""Edited. Seeded')
    assert fingerprints(project_copy, "safety_harness.run.new_stage") != before


def test_a_stage_is_named_by_a_function_class_or_module():
    assert code_fingerprint(TriggerScanStage) == code_fingerprint(TRIGGER_SCAN) != code_fingerprint(COUNTEREXAMPLE)
    assert code_fingerprint() != code_fingerprint(TRIGGER_SCAN)  # no stage: every module of the project
    assert cache_key(code=TriggerScanStage, seed=0) != cache_key(code=COUNTEREXAMPLE, seed=0)


def test_a_cached_stage_is_keyed_on_the_code_it_runs(tmp_path):
    cache, calls = PredictionCache(tmp_path), []

    def compute():
        calls.append(1)
        return {"figures": [1, 2]}

    assert cache.cached_json("stage", compute, seed=0) == {"figures": [1, 2]}
    assert PredictionCache(tmp_path).cached_json("stage", compute, seed=0) == {"figures": [1, 2]} and len(calls) == 1
    # the same inputs declared as run by another stage's code are another entry
    assert cache.cached_json("stage", compute, code=COUNTEREXAMPLE, seed=0) and len(calls) == 2


def test_a_json_entry_is_verified_on_read(tmp_path):
    cache = PredictionCache(tmp_path)
    key = cache_key(code=TRIGGER_SCAN, seed=0)
    cache.store_json(key, {"check": {"score": 0.5}})
    assert cache.load_json(key, "check") == {"check": {"score": 0.5}} and cache.outcomes["check"] == "cache"
    entry = next(tmp_path.rglob("*.json"))
    entry.write_text(entry.read_text().replace("0.5", "0.9"))
    assert cache.load_json(key, "check") is None and "does not match its SHA-256 digest" in cache.outcomes["check"]
    entry.write_text(entry.read_text()[:-5])
    assert cache.load_json(key, "check") is None and "unreadable" in cache.outcomes["check"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_imports_for_annotations_only_are_not_part_of_a_stages_code(project_copy):
    """The stage context imports its annotations' types under ``if TYPE_CHECKING:``: every stage imports it, and
    those modules would otherwise join every stage's code."""
    closure = ModuleGraph(project_copy).closure(["safety_harness.run.context"])
    assert "safety_harness.run.context" in closure and "safety_harness.plan.plan" not in closure


def test_a_packages_lazy_exports_are_not_part_of_a_stages_code(project_copy):
    """``safety_harness/__init__.py`` exports ``register_metric_family`` lazily (``__getattr__``): every stage imports
    the package, and the requirement families behind that name would otherwise join every stage's code."""
    closure = ModuleGraph(project_copy).closure(["safety_harness"])
    assert "safety_harness.core" in closure and "safety_harness.plan.requirements" not in closure
