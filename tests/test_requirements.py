"""The requirements file: the bundled one is valid, and mistakes get one clear error."""

import textwrap

import pytest

from safety_harness.core.errors import HarnessInputError
from safety_harness.plan.requirements import METRICS, expand_cases, load_requirements

BUNDLED = "safety_tests/requirements.yaml"


def write(tmp_path, body):
    path = tmp_path / "requirements.yaml"
    path.write_text(textwrap.dedent(body))
    return path


ENTRY = """
  - id: SR-X
    title: t
    hazard: h
    metric: recall
    class: 14
    threshold: 0.9
    direction: ">="
"""


def test_bundled_requirements_hold_the_core_floors():
    requirements = {r.id: r for r in load_requirements(BUNDLED)}
    stop = requirements["SR-STOP-RECALL"]
    assert (stop.metric, stop.class_id, stop.threshold, stop.direction, stop.confidence) == (
        "recall", 14, 0.99, ">=", 0.95)
    assert requirements["SR-CLASS-RECALL"].class_id == "each"
    assert requirements["SR-STOP-PRECISION"].metric == "precision"
    assert requirements["SR-STOP-CRITICAL-CONFUSION"].direction == "<="
    assert requirements["SR-ACCURACY"].class_id is None


def test_per_class_requirements_expand_to_one_case_per_class():
    cases = expand_cases(load_requirements(BUNDLED), num_classes=43)
    ids = [case.case_id for case in cases]
    assert len(ids) == len(set(ids))
    assert "SR-CLASS-RECALL-class00" in ids and "SR-CLASS-RECALL-class42" in ids
    assert "SR-STOP-RECALL" in ids


def test_conditions_expand_to_one_case_each(tmp_path):
    path = write(tmp_path, "requirements:" + ENTRY + "    condition: [clean, 'rain:1-2', 'fog:3']\n")
    assert [c.case_id for c in expand_cases(load_requirements(path), 43)] == [
        "SR-X@clean", "SR-X@rain:1", "SR-X@rain:2", "SR-X@fog:3"]


def test_a_search_requirement_has_no_threshold(tmp_path):
    path = write(tmp_path, """
requirements:
  - id: SR-S
    title: t
    hazard: h
    metric: counterexample
    class: 14
    budget: 0.05
    max_examples: 10
""")
    (requirement,) = load_requirements(path)
    assert requirement.threshold is None and requirement.parameters == {"budget": 0.05, "max_examples": 10}


def test_every_metric_has_a_safety_test():
    import importlib
    import pkgutil

    import safety_tests

    implemented = set()
    for module_info in pkgutil.iter_modules(safety_tests.__path__):
        module = importlib.import_module(f"safety_tests.{module_info.name}")
        implemented |= {mark.args[0] for name in dir(module) if name.startswith("test_")
                        for mark in getattr(getattr(module, name), "pytestmark", [])
                        if mark.name == "requirement_metric"}
    assert implemented == set(METRICS)


@pytest.mark.parametrize(
    "body, message",
    [
        ("requirements: 3\n", "no 'requirements' list"),
        ("requirements: [\n", "not valid YAML"),
        ("requirements:" + ENTRY.replace("recall", "recal"), "unknown metric 'recal'"),
        ("requirements:" + ENTRY.replace("threshold: 0.9", "threshold: 1.9"), "threshold 1.9"),
        ("requirements:" + ENTRY.replace('">="', '">"'), "direction '>'"),
        ("requirements:" + ENTRY.replace("class: 14", "klass: 14"), "unknown key"),
        ("requirements:" + ENTRY.replace("    class: 14\n", ""), "needs 'class'"),
        ("requirements:" + ENTRY.replace("    hazard: h\n", ""), "lacks hazard"),
        ("requirements:" + ENTRY + ENTRY, "appears twice"),
        ("requirements:" + ENTRY.replace("metric: recall", "metric: confusion_rate"), "needs confused_with"),
        ("requirements:" + ENTRY + "    confidence: 1.5\n", "confidence 1.5"),
        ("requirements:" + ENTRY.replace("metric: recall", "metric: flip_rate"), "list only perturbed"),
        ("requirements:" + ENTRY.replace("    threshold: 0.9\n", ""), "lacks threshold"),
    ],
)
def test_mistakes_get_one_clear_error_naming_the_file(tmp_path, body, message):
    path = write(tmp_path, body)
    with pytest.raises(HarnessInputError, match=message) as error:
        load_requirements(path)
    assert str(path) in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(HarnessInputError, match="does not exist"):
        load_requirements(tmp_path / "nope.yaml")


def test_class_outside_the_model(tmp_path):
    path = write(tmp_path, "requirements:" + ENTRY)
    with pytest.raises(HarnessInputError, match="names class 14, but the model has 10 classes"):
        expand_cases(load_requirements(path), num_classes=10)


OOD_ENTRY = """
requirements:
  - id: SR-O
    title: t
    hazard: h
    metric: auroc
    detector: msp
    ood_sets: [noise, given]
    threshold: 0.9
    direction: ">="
"""


def test_given_ood_sets_expand_to_the_users_folders(tmp_path):
    requirements = load_requirements(write(tmp_path, OOD_ENTRY))
    assert [c.case_id for c in expand_cases(requirements, 43)] == ["SR-O-noise", "SR-O-given"]
    assert [c.case_id for c in expand_cases(requirements, 43, ("Polish_Test", "billboards"))] == [
        "SR-O-noise", "SR-O-Polish_Test", "SR-O-billboards"]


def test_given_ood_folders_need_distinct_free_names(tmp_path):
    from safety_harness.run.uncertainty import given_ood_sets

    (tmp_path / "noise").mkdir()
    with pytest.raises(HarnessInputError, match="already taken"):
        given_ood_sets([tmp_path / "noise"])
