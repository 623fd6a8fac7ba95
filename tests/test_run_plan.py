"""The run plan: what a session evaluates, built once; after ``-k`` the run documents only what remains."""

import dataclasses
import json
import re
import textwrap

import pytest

from safety_harness.core.errors import HarnessInputError
from safety_harness.model_under_test.reference import BUNDLED_MODEL
from safety_harness.plan.conditions import CLEAN, Condition
from safety_harness.plan.plan import RunOptions, plan_run
from safety_harness.plan.requirements import expand_cases, load_requirements
from tests.conftest import PROJECT_ROOT

pytest_plugins = ["pytester"]

# pytester restores sys.modules after each in-process run; imported here first, TensorFlow and
# Keras stay loaded (importing TensorFlow twice in one process fails).
pytest.importorskip("tensorflow")
pytest.importorskip("keras")

BUNDLED_REQUIREMENTS = PROJECT_ROOT / "safety_tests" / "requirements.yaml"

REQUIREMENTS = """\
version: 1
requirements:
  - id: P-STOP-WEATHER
    title: t
    hazard: h
    metric: recall
    class: 14
    condition: [clean, "rain:1-2"]
    threshold: 0.9
    direction: ">="
  - id: P-YIELD-RAIN
    title: t
    hazard: h
    metric: recall
    class: 13
    condition: "rain:2"
    threshold: 0.9
    direction: ">="
  - id: P-FLIP
    title: t
    hazard: h
    metric: flip_rate
    condition: ["rain:2", "fog:1"]
    threshold: 0.1
    direction: "<="
  - id: P-SEARCH
    title: t
    hazard: h
    metric: counterexample
    class: 14
    budget: 0.1
    max_examples: 5
  - id: P-OOD
    title: t
    hazard: h
    metric: auroc
    detector: mahalanobis
    ood_sets: [noise, given]
    threshold: 0.9
    direction: ">="
"""
RAIN_1, RAIN_2, FOG_1 = Condition("rain", 1), Condition("rain", 2), Condition("fog", 1)


def plan_of(tmp_path, requirements=REQUIREMENTS, ood_set_paths=()):
    path = tmp_path / "requirements.yaml"
    path.write_text(textwrap.dedent(requirements))
    return plan_run(RunOptions(model_path=BUNDLED_MODEL, card_path=None, ingest_path=tmp_path,
                               requirements_path=path, ood_set_paths=tuple(ood_set_paths)))


def test_the_plan_holds_every_case_and_what_they_need(tmp_path):
    plan = plan_of(tmp_path)
    assert [r.id for r in plan.requirements] == ["P-STOP-WEATHER", "P-YIELD-RAIN", "P-FLIP", "P-SEARCH", "P-OOD"]
    assert [c.case_id for c in plan.cases] == [
        "P-STOP-WEATHER@clean", "P-STOP-WEATHER@rain:1", "P-STOP-WEATHER@rain:2", "P-YIELD-RAIN@rain:2",
        "P-FLIP@rain:2", "P-FLIP@fog:1", "P-SEARCH", "P-OOD-noise", "P-OOD-given"]
    assert plan.conditions == (CLEAN, RAIN_1, RAIN_2, FOG_1)
    # a condition read by a whole-ingest requirement perturbs every image, else only the classes read
    assert plan.classes_per_condition == {RAIN_1: {14}, RAIN_2: None, FOG_1: None}
    assert plan.perturbations_used == ("fog", "rain", "sticker")
    assert plan.ood_sets_needed == ("noise",)  # 'given' without --ood-set is no set: judged not applicable
    assert plan.needs_uncertainty


def test_mc_dropout_passes_are_planned_for_the_conditions_their_detectors_read_and_clean(tmp_path):
    assert plan_of(tmp_path).mc_dropout_conditions == frozenset()  # no MC dropout detector: no passes
    monitor = REQUIREMENTS + """\
  - id: P-SILENT
    title: t
    hazard: h
    metric: silent_failure_rate
    class: 14
    detector: mc_mutual_information
    condition: "fog:1"
    threshold: 0.005
    direction: "<="
"""
    plan = plan_of(tmp_path, monitor)
    # clean: the in-distribution data every detector is fitted and thresholded on
    assert plan.mc_dropout_conditions == {CLEAN, FOG_1}
    assert plan.selected(["P-FLIP@fog:1"]).mc_dropout_conditions == frozenset()


def test_selected_narrows_the_plan_to_the_remaining_cases(tmp_path):
    plan = plan_of(tmp_path)
    narrowed = plan.selected(["P-STOP-WEATHER@rain:1", "P-STOP-WEATHER@rain:2", "P-YIELD-RAIN@rain:2"])
    assert narrowed.options == plan.options
    assert [r.id for r in narrowed.requirements] == ["P-STOP-WEATHER", "P-YIELD-RAIN"]
    assert [c.case_id for c in narrowed.cases] == [
        "P-STOP-WEATHER@rain:1", "P-STOP-WEATHER@rain:2", "P-YIELD-RAIN@rain:2"]
    assert narrowed.conditions == (RAIN_1, RAIN_2)
    assert narrowed.classes_per_condition == {RAIN_1: {14}, RAIN_2: {13, 14}}
    assert narrowed.perturbations_used == ("rain",)
    assert narrowed.ood_sets_needed == () and not narrowed.needs_uncertainty
    assert plan.selected([]).cases == ()


def test_given_ood_sets_are_planned_by_their_folder_names(tmp_path):
    plan = plan_of(tmp_path, ood_set_paths=[tmp_path / "Polish_Test"])
    assert [c.case_id for c in plan.cases if c.requirement.id == "P-OOD"] == ["P-OOD-noise", "P-OOD-Polish_Test"]
    assert plan.ood_sets_needed == ("noise", "Polish_Test")
    assert plan.selected(["P-OOD-Polish_Test"]).ood_sets_needed == ("Polish_Test",)


def test_the_bundled_plan_is_the_bundled_requirements_expanded(tmp_path):
    plan = plan_run(RunOptions(model_path=BUNDLED_MODEL, card_path=None, ingest_path=tmp_path,
                               requirements_path=BUNDLED_REQUIREMENTS))
    assert plan.requirements == load_requirements(BUNDLED_REQUIREMENTS)
    assert plan.cases == tuple(expand_cases(plan.requirements, 43))


def test_an_unknown_perturbation_stops_the_plan(tmp_path):
    with pytest.raises(HarnessInputError, match="Unknown perturbation 'hail'"):
        plan_of(tmp_path, REQUIREMENTS.replace('condition: "rain:2"', 'condition: "hail:2"'))


def test_an_unknown_ood_set_stops_the_plan(tmp_path):
    with pytest.raises(HarnessInputError, match="names OOD set 'billboards'"):
        plan_of(tmp_path, REQUIREMENTS.replace("[noise, given]", "[noise, billboards]"))


WEATHER_PERTURBATIONS = {"rain", "fog", "snow", "sun_flare", "shadow"}


def test_a_keyword_selection_documents_only_the_selected_requirements(pytester):
    """``-k SR-WEATHER``: the evidence and the report show the weather requirements and perturbations,
    with a contact sheet for each, and nothing of what was deselected."""
    html, evidence = pytester.path / "report.html", pytester.path / "evidence.json"
    outcome = pytester.runpytest_inprocess(
        str(PROJECT_ROOT / "safety_tests"), f"--rootdir={PROJECT_ROOT}", "-c", str(PROJECT_ROOT / "pytest.ini"),
        "-p", "no:cacheprovider", "-k", "SR-WEATHER", f"--html={html}", f"--evidence={evidence}",
        f"--cache-dir={PROJECT_ROOT / '.cache'}")
    assert outcome.ret == pytest.ExitCode.OK
    record, report = json.loads(evidence.read_text()), html.read_text()
    assert {r["requirement"] for r in record["requirements"]} == {"SR-WEATHER-STOP-RECALL", "SR-WEATHER-STOP-FLIP"}
    assert len(record["requirements"]) == 30
    assert set(record["perturbations"]) == WEATHER_PERTURBATIONS
    assert set(re.findall(r'alt="contact sheet of ([^"]+)"', report)) == WEATHER_PERTURBATIONS
    predicted = [label for label in record["predictions_from"] if label.startswith("ingest ")]
    assert {label.split()[-1].split(":")[0] for label in predicted} == WEATHER_PERTURBATIONS | {str(CLEAN)}
    deselected = [r.id for r in load_requirements(BUNDLED_REQUIREMENTS) if not r.id.startswith("SR-WEATHER")]
    assert set(re.findall(r"<h3>(\w+): ", report)) == WEATHER_PERTURBATIONS  # the perturbations' definitions
    # the deselected requirements are named as not judged (safety case, limitations), and nowhere else
    assert [r["id"] for r in record.pop("requirements_not_judged")] == deselected
    safety_case = record.pop("safety_case")
    assert [h["not_judged"] for h in safety_case["hazards"] if h["status"] == "undeveloped"] == [[r] for r in deselected]
    assert {s["requirement"] for h in safety_case["hazards"] for s in h["solutions"]} == {
        "SR-WEATHER-STOP-RECALL", "SR-WEATHER-STOP-FLIP"}
    judged_sections = report[:report.index("<h2>Safety case</h2>")] + report[report.index("<h2>Requirements</h2>"):]
    # names of other requirements' perturbations that no text of the report uses otherwise (not "sticker": the
    # bundled card's caveats say the model never saw stickers)
    unused = {"gaussian_noise", "motion_blur", "defocus_blur", "jpeg"}
    for text in (json.dumps(record), judged_sections):
        assert not [word for word in (*deselected, *unused) if word in text]



def test_a_baseline_card_without_a_baseline_model_stops_the_plan(tmp_path):
    path = tmp_path / "requirements.yaml"
    path.write_text(textwrap.dedent(REQUIREMENTS))
    with pytest.raises(HarnessInputError, match="--baseline-card .* without --baseline-model"):
        plan_run(RunOptions(model_path=BUNDLED_MODEL, card_path=None, ingest_path=tmp_path, requirements_path=path,
                            baseline_card_path=tmp_path / "released.yaml"))


def test_a_baseline_with_the_same_classes_is_planned(tmp_path):
    plan = plan_of(tmp_path)
    assert plan_run(dataclasses.replace(plan.options, baseline_model_path=BUNDLED_MODEL)).cases == plan.cases
