"""The requirements file: the bundled one is valid, and mistakes get one clear error."""

import tempfile
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safety_harness.core.errors import HarnessInputError, shown
from safety_harness.core.safe_yaml import MAX_BYTES
from safety_harness.plan import requirements as requirements_module
from safety_harness.plan.requirements import (
    CLEAN,
    METRICS,
    Condition,
    expand_cases,
    load_requirements,
    register_metric_family,
)

BUNDLED = "safety_tests/requirements.yaml"


def write(tmp_path, body, version="version: 1\n"):
    path = tmp_path / "requirements.yaml"
    path.write_text(version + textwrap.dedent(body))
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
    shortcut = requirements["SR-SHORTCUT-STICKER"]
    assert (shortcut.metric, shortcut.class_id, shortcut.threshold, shortcut.direction, shortcut.conditions) == (
        "sticker_attraction", None, 0.15, "<=", (CLEAN,))


def test_per_class_requirements_expand_to_one_case_per_class():
    cases = expand_cases(load_requirements(BUNDLED), num_classes=43)
    ids = [case.case_id for case in cases]
    assert len(ids) == len(set(ids))
    assert "SR-CLASS-RECALL-class00" in ids and "SR-CLASS-RECALL-class42" in ids
    assert "SR-STOP-RECALL" in ids


def test_conditions_expand_to_one_case_each(tmp_path):
    path = write(tmp_path, "requirements:" + ENTRY + "    condition: [clean, 'rain:1-2', 'fog:3']\n")
    cases = expand_cases(load_requirements(path), 43)
    assert [c.case_id for c in cases] == ["SR-X@clean", "SR-X@rain:1", "SR-X@rain:2", "SR-X@fog:3"]
    assert [c.condition for c in cases] == [CLEAN, Condition("rain", 1), Condition("rain", 2), Condition("fog", 3)]


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


def test_a_trigger_scan_takes_its_norm_ratio_limit_and_refuses_a_class(tmp_path):
    entry = "requirements:\n  - id: SR-T\n    title: t\n    hazard: h\n    metric: trigger_anomaly\n"
    (requirement,) = load_requirements(write(tmp_path, entry))
    assert requirement.threshold is None and requirement.parameters == {"max_norm_ratio": 0.4, "max_next_ratio": 0.7}
    with pytest.raises(HarnessInputError, match="'max_norm_ratio': input should be less than 1"):
        load_requirements(write(tmp_path, entry + "    max_norm_ratio: 1\n"))
    with pytest.raises(HarnessInputError, match="applies to the whole ingest; remove 'class'"):
        load_requirements(write(tmp_path, entry + "    class: 14\n"))


def test_a_leakage_requirement_is_a_ceiling_on_the_whole_ingest(tmp_path):
    entry = "requirements:\n  - id: SR-L\n    title: t\n    hazard: h\n    metric: leakage_rate\n    threshold: 0.01\n"
    (requirement,) = load_requirements(write(tmp_path, entry + "    direction: '<='\n"))
    assert requirement.threshold == 0.01 and requirement.parameters == {}
    with pytest.raises(HarnessInputError, match="'direction': input should be '<='"):
        load_requirements(write(tmp_path, entry + "    direction: '>='\n"))
    with pytest.raises(HarnessInputError, match="applies to the whole ingest; remove 'class'"):
        load_requirements(write(tmp_path, entry + "    direction: '<='\n    class: 14\n"))


def test_every_metric_has_a_safety_test():
    import importlib
    import pkgutil

    import safety_harness.safety_tests as safety_tests

    implemented = set()
    for module_info in pkgutil.iter_modules(safety_tests.__path__):
        module = importlib.import_module(f"{safety_tests.__name__}.{module_info.name}")
        implemented |= {mark.args[0] for name in dir(module) if name.startswith("test_")
                        for mark in getattr(getattr(module, name), "pytestmark", [])
                        if mark.name == "requirement_metric"}
    # a family registered by a test of this process (below) has its test where it is registered
    assert implemented == set(METRICS) - set(requirements_module.registered_by_users())


@pytest.mark.parametrize(
    "body, message",
    [
        ("requirements: 3\n", "'requirements': input should be a valid list"),
        ("requirements: []\n", "'requirements': list should have at least 1 item"),
        ("requirements: [\n", "not valid YAML"),
        ("requirements:" + ENTRY.replace("recall", "recal"), "requirement 'SR-X', 'metric': unknown metric 'recal'"),
        ("requirements:" + ENTRY.replace("threshold: 0.9", "threshold: 1.9"),
         "requirement 'SR-X', 'threshold': input should be less than or equal to 1 (got 1.9)"),
        ("requirements:" + ENTRY.replace('">="', '">"'), "requirement 'SR-X', 'direction': input should be"),
        ("requirements:" + ENTRY.replace("    class: 14\n", ""), "requirement 'SR-X', 'class': metric 'recall' needs"),
        ("requirements:" + ENTRY.replace("metric: recall", "metric: accuracy"),
         "requirement 'SR-X', 'class': metric 'accuracy' applies to the whole ingest"),
        ("requirements:" + ENTRY.replace("    hazard: h\n", ""), "requirement 'SR-X', 'hazard': is required but missing"),
        ("requirements:" + ENTRY.replace("metric: recall", "metric: confusion_rate"),
         "requirement 'SR-X', 'confused_with': is required but missing"),
        ("requirements:" + ENTRY.replace("metric: recall", "metric: confusion_rate") + "    confused_with: [1, 14]\n",
         "requirement 'SR-X', 'confused_with': must not contain the requirement's own class 14"),
        ("requirements:" + ENTRY + "    confidence: 1.5\n", "requirement 'SR-X', 'confidence': input should be less than 1"),
        ("requirements:" + ENTRY.replace("metric: recall", "metric: flip_rate"),
         "requirement 'SR-X', 'condition': metric 'flip_rate' compares a perturbed condition with clean"),
        ("requirements:" + ENTRY + "    condition: ['rain:1-2', 'rain:2']\n",
         "requirement 'SR-X', 'condition': lists rain:2 more than once"),
        ("requirements:" + ENTRY.replace("    threshold: 0.9\n", ""), "requirement 'SR-X', 'threshold': is required"),
        ("requirements:" + ENTRY + "    bins: 15\n", "requirement 'SR-X', 'bins': is not a key of metric 'recall'"),
        ("requirements:" + ENTRY.replace("metric: recall", "metric: silent_failure_rate"),
         "requirement 'SR-X', 'detector': is required but missing"),
        ("requirements:" + ENTRY.replace("metric: recall", "metric: coverage") + "    detector: msp\n",
         "requirement 'SR-X', 'class': metric 'coverage' applies to the whole ingest"),
        ("requirements:" + ENTRY.replace("metric: recall", "metric: silent_failure_rate")
         + "    detector: msp\n    target_false_alarm_rate: 0\n",
         "requirement 'SR-X', 'target_false_alarm_rate': input should be greater than 0"),
        ("requirements:" + ENTRY.replace("metric: recall", "metric: sticker_attraction").replace("    class: 14\n", ""),
         "requirement 'SR-X', 'direction': input should be '<='"),
        ("requirements:" + ENTRY.replace("metric: recall", "metric: sticker_attraction").replace('">="', '"<="'),
         "requirement 'SR-X', 'class': metric 'sticker_attraction' applies to the whole ingest"),
        ("requirements:\n  - just text\n", "entry 1: input should be a valid dictionary"),
        ("defaults:\n  confidence: 2\nrequirements:" + ENTRY, "'defaults.confidence': input should be less than 1"),
    ],
)
def test_mistakes_get_one_clear_error_naming_the_file(tmp_path, body, message):
    path = write(tmp_path, body)
    with pytest.raises(HarnessInputError) as error:
        load_requirements(path)
    assert message in str(error.value) and str(path) in str(error.value)


def refusal(path, num_classes=43) -> str:
    with pytest.raises(HarnessInputError) as error:
        expand_cases(load_requirements(path), num_classes)
    assert str(error.value).count("How to fix") == 1
    return str(error.value)


# --- one test per family of refused input: each message names the file, the requirement and the key ---


def test_duplicate_key_is_refused_not_silently_overwritten(tmp_path):
    path = write(tmp_path, "requirements:" + ENTRY + "    threshold: 0.5\n")
    message = refusal(path)
    assert str(path) in message and "line 10" in message and "key 'threshold' appears twice" in message


def test_alias_bomb_is_refused(tmp_path):
    path = write(tmp_path, """
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
requirements: [*c, *c, *c, *c, *c, *c, *c, *c, *c]
""")
    message = refusal(path)
    assert str(path) in message and "line 3" in message and "anchor &a refused" in message


def test_oversize_file_is_refused_before_reading(tmp_path):
    path = write(tmp_path, "requirements:" + ENTRY + "#" * MAX_BYTES)
    message = refusal(path)
    assert str(path) in message and "the limit is 1048576 bytes" in message


def test_non_utf8_bytes_are_refused_with_their_line(tmp_path):
    path = write(tmp_path, "requirements:" + ENTRY)
    path.write_bytes(path.read_bytes().replace(b"title: t", b"title: Stra\xdfe"))
    message = refusal(path)
    assert str(path) in message and "line 4: byte 0xdf is not UTF-8" in message


def test_unknown_key_is_refused(tmp_path):
    path = write(tmp_path, "requirements:" + ENTRY.replace("class: 14", "klass: 14"))
    message = refusal(path)
    assert str(path) in message and "requirement 'SR-X', 'klass': is not a key of metric 'recall'" in message


def test_backwards_severity_range_is_refused_not_dropped(tmp_path):
    path = write(tmp_path, "requirements:" + ENTRY + "    condition: ['rain:3-1']\n")
    message = refusal(path)
    assert str(path) in message and "requirement 'SR-X', 'condition': condition 'rain:3-1' is a backwards range" in message


@pytest.mark.parametrize("condition", ["rain:0", "rain:6", "rain:2-7"])
def test_severity_outside_one_to_five_is_refused(tmp_path, condition):
    path = write(tmp_path, "requirements:" + ENTRY + f"    condition: '{condition}'\n")
    message = refusal(path)
    assert str(path) in message and "requirement 'SR-X', 'condition':" in message and "outside 1..5" in message


def test_confused_with_a_class_the_model_lacks_is_refused(tmp_path):
    path = write(tmp_path, "requirements:" + ENTRY.replace("metric: recall", "metric: confusion_rate")
                 + "    confused_with: [50, 60]\n")
    message = refusal(path)
    assert "Requirement SR-X, 'confused_with': names class 50, but the model has 43 classes" in message


def test_class_the_model_lacks_is_refused(tmp_path):
    message = refusal(write(tmp_path, "requirements:" + ENTRY), num_classes=10)
    assert "Requirement SR-X, 'class': names class 14, but the model has 10 classes (0..9)" in message


def test_duplicate_id_is_refused(tmp_path):
    path = write(tmp_path, "requirements:" + ENTRY + ENTRY)
    message = refusal(path)
    assert str(path) in message and "requirement 'SR-X', 'id': used by entries 1 and 2" in message


@pytest.mark.parametrize("bad_id", ["SR X", "<b>SR</b>", "SR/1", "SR-Ä"])
def test_id_outside_the_safe_alphabet_is_refused(tmp_path, bad_id):
    path = write(tmp_path, "requirements:" + ENTRY.replace("id: SR-X", f"id: '{bad_id}'"))
    message = refusal(path)
    assert str(path) in message and f"requirement {bad_id!r}, 'id':" in message and "letters, digits" in message


@pytest.mark.parametrize("version, shown_as", [("version: 2\n", "input should be 1 (got 2)"),
                                               ("", "is required but missing")])
def test_version_must_be_1(tmp_path, version, shown_as):
    path = write(tmp_path, "requirements:" + ENTRY, version=version)
    message = refusal(path)
    assert str(path) in message and f"'version': {shown_as}" in message


def test_long_values_are_shortened_in_messages(tmp_path):
    long_metric = "x" * 5000
    path = write(tmp_path, "requirements:" + ENTRY.replace("metric: recall", f"metric: {long_metric}"))
    message = refusal(path)
    assert shown(long_metric) in message and len(message) < 1000


def test_conditions_print_as_they_are_written():
    assert [str(c) for c in Condition.expand("fog:2-4")] == ["fog:2", "fog:3", "fog:4"]
    assert str(Condition.parse("clean")) == "clean" and Condition.parse("clean") is CLEAN
    assert Condition.parse("rain:2") == Condition("rain", 2) and hash(Condition.parse("rain:2")) == hash(
        Condition("rain", 2))
    with pytest.raises(ValueError, match="not 'rain:1-2'"):
        Condition.parse("rain:1-2")


scalars = st.none() | st.booleans() | st.integers(-3, 60) | st.floats(allow_nan=False) | st.text(max_size=12)
keys = st.sampled_from(["version", "defaults", "requirements", "id", "title", "hazard", "metric", "class",
                        "condition", "threshold", "direction", "confidence", "confused_with", "budget",
                        "max_examples", "bins", "binning", "detector", "ood_sets", "input", "output", "classes",
                        "size", "channels", "range", "resize"]) | st.text(max_size=8)
values = scalars | st.sampled_from([1, ">=", "<=", "each", "clean", "rain:1-3", "rain:3-1", 0.9, 14, *METRICS,
                                    "mahalanobis", "RGB", "logits", "gtsrb43", [0, 1], ["noise"]])
nested = st.recursive(values, lambda children: st.lists(children, max_size=4)
                      | st.dictionaries(keys, children, max_size=6), max_leaves=30)
# mostly mappings at the top, as both files are
documents = st.dictionaries(keys, nested, max_size=6) | nested


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_yaml_document_parses_or_gets_one_clear_error(document):
    from safety_harness.model_under_test.card import parse_card

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "file.yaml"
        path.write_text(yaml.safe_dump(document))
        for parse in (load_requirements, parse_card):
            try:
                parse(path)
            except HarnessInputError as error:
                assert str(path) in str(error)


def test_missing_file(tmp_path):
    with pytest.raises(HarnessInputError, match="does not exist"):
        load_requirements(tmp_path / "nope.yaml")


OOD_ENTRY = """requirements:
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


def test_a_monitored_requirement_carries_its_monitor(tmp_path):
    body = "requirements:" + ENTRY.replace("metric: recall", "metric: silent_failure_rate") + (
        "    detector: msp\n    condition: [clean, 'fog:1-2']\n")
    requirement, = load_requirements(write(tmp_path, body))
    assert requirement.parameters == {"detector": "msp", "target_false_alarm_rate": 0.05}
    assert [case.case_id for case in expand_cases([requirement], 43)] == ["SR-X@clean", "SR-X@fog:1", "SR-X@fog:2"]


@pytest.mark.parametrize("entries, origins", [
    ((ENTRY.replace("class: 14", "class: each"), ENTRY.replace("SR-X", "SR-X-class14")),
     "'SR-X' (class 14 of 'class: each') and 'SR-X-class14'"),
    ((ENTRY + "    condition: ['fog:1']\n", ENTRY.replace("SR-X", "SR-X@fog:1")),
     "'SR-X' (condition 'fog:1') and 'SR-X@fog:1'"),
    ((OOD_ENTRY.removeprefix("requirements:\n"), ENTRY.replace("SR-X", "SR-O-noise")),
     "'SR-O' (OOD set 'noise') and 'SR-O-noise'"),
])
def test_two_requirements_giving_one_case_id_are_refused_naming_both(tmp_path, entries, origins):
    message = refusal(write(tmp_path, "requirements:\n" + "".join(entry.lstrip("\n") for entry in entries)))
    assert f"Requirements {origins} both give the case id" in message and "Rename one of them" in message


def test_an_ood_set_listed_twice_is_refused_and_a_given_one_named_too_is_one_case(tmp_path):
    message = refusal(write(tmp_path, OOD_ENTRY.replace("[noise, given]", "[noise, noise]")))
    assert "requirement 'SR-O', 'ood_sets': lists noise more than once" in message
    requirements = load_requirements(write(tmp_path, OOD_ENTRY.replace("[noise, given]", "[given, billboards]")))
    assert [c.case_id for c in expand_cases(requirements, 43, ("billboards",))] == ["SR-O-billboards"]


def test_independence_is_groups_unless_a_requirement_or_the_defaults_say_images(tmp_path):
    (requirement,) = load_requirements(write(tmp_path, "requirements:" + ENTRY))
    assert requirement.independence == "groups"
    (requirement,) = load_requirements(write(tmp_path, "defaults:\n  independence: images\nrequirements:" + ENTRY))
    assert requirement.independence == "images"
    (requirement,) = load_requirements(write(tmp_path, "requirements:" + ENTRY + "    independence: images\n"))
    assert requirement.independence == "images" and "independence" not in requirement.parameters
    with pytest.raises(HarnessInputError, match="'independence'"):
        load_requirements(write(tmp_path, "requirements:" + ENTRY + "    independence: frames\n"))


def test_paired_requirements_are_bundled_and_keep_their_direction(tmp_path):
    requirements = {r.id: r for r in load_requirements(BUNDLED)}
    stop = requirements["SR-STOP-REGRESSION"]
    assert (stop.metric, stop.class_id, stop.threshold, stop.direction, stop.conditions[0]) == (
        "regression", 14, 0.005, "<=", CLEAN)
    agreement = requirements["SR-STOP-AGREEMENT"]
    assert (agreement.metric, agreement.class_id, agreement.threshold, agreement.direction) == (
        "agreement", 14, 0.995, ">=")
    for metric, wrong in (("regression", ">="), ("agreement", "<=")):
        entry = ENTRY.replace("metric: recall", f"metric: {metric}").replace('">="', f'"{wrong}"')
        with pytest.raises(HarnessInputError, match="requirement 'SR-X', 'direction'"):
            load_requirements(write(tmp_path, "requirements:" + entry))


def test_a_registered_metric_family_is_read_and_checked_like_a_bundled_one(tmp_path):
    spec = register_metric_family("scratch_confident_error_rate", parameters={"min_confidence": (float, 0.9)},
                                  class_key="optional")
    assert METRICS["scratch_confident_error_rate"] is spec and spec.binomial
    # a conftest.py imported again registers the same declaration: nothing changes
    assert register_metric_family("scratch_confident_error_rate", parameters={"min_confidence": (float, 0.9)},
                                  class_key="optional") == spec
    entry = ENTRY.replace("metric: recall", "metric: scratch_confident_error_rate")
    (default,) = load_requirements(write(tmp_path, "requirements:" + entry))
    assert (default.metric, default.class_id, default.parameters) == (
        "scratch_confident_error_rate", 14, {"min_confidence": 0.9})
    (given,) = load_requirements(write(tmp_path, "requirements:" + entry + "    min_confidence: 0.5\n"))
    assert given.parameters == {"min_confidence": 0.5}
    message = refusal(write(tmp_path, "requirements:" + entry + "    min_confidence: high\n"))
    assert "'min_confidence'" in message and "SR-X" in message
    message = refusal(write(tmp_path, "requirements:" + entry + "    bins: 3\n"))
    assert "is not a key of metric 'scratch_confident_error_rate'" in message and "min_confidence" in message


@pytest.mark.parametrize(("metric", "declaration", "message"), [
    ("recall", {}, "already a bundled metric"),
    ("scratch_declared_twice", {"parameters": {"margin": (float, 0.2)}}, "registered with another declaration"),
    ("scratch-name", {}, "is a Python identifier"),
    ("scratch_clashing_key", {"parameters": {"threshold": float}}, "a key every requirement takes"),
    ("scratch_not_a_rate", {"rate": False}, "say how it is bounded"),
    ("scratch_class_key", {"class_key": "each"}, "class_key must be one of"),
])
def test_a_registration_that_would_change_a_family_is_refused(metric, declaration, message):
    register_metric_family("scratch_declared_twice", parameters={"margin": (float, 0.1)})
    with pytest.raises(ValueError, match=message):
        register_metric_family(metric, **declaration)
