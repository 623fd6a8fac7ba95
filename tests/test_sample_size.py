"""The sample-size plan (``--plan``): the independent groups that decide a rate requirement, checked
against the Clopper–Pearson formulas, and a plan run of the bundled requirements, which loads no model."""

import json
import math

import pytest
from scipy.stats import beta

from safety_harness.core.errors import HarnessInputError
from safety_harness.metrics.bounds import trials_needed
from safety_harness.plan.options import check_options
from safety_harness.plan.requirements import METRICS, expand_cases, load_requirements
from safety_harness.plan.sample_size import collapsed, plan_case, plan_document, plan_lines


def test_stop_recall_needs_299_signs_with_no_miss_and_473_with_one():
    # no miss: the lower bound is 0.05 ** (1 / m), which reaches 0.99 at m = ceil(ln 0.05 / ln 0.99)
    assert trials_needed(0, 0.99, ">=") == math.ceil(math.log(0.05) / math.log(0.99)) == 299
    # one miss: the lower bound Beta.ppf(0.05; m - 1, 2) first reaches 0.99 at m = 473
    assert beta.ppf(0.05, 472, 2) >= 0.99 > beta.ppf(0.05, 471, 2)
    assert trials_needed(1, 0.99, ">=") == 473
    assert beta.ppf(0.05, 626, 3) >= 0.99 > beta.ppf(0.05, 625, 3)
    assert trials_needed(2, 0.99, ">=") == 628


@pytest.mark.parametrize("adverse", [0, 1, 2, 7])
@pytest.mark.parametrize(("threshold", "confidence"), [(0.9, 0.95), (0.995, 0.99), (0.5, 0.9)])
def test_a_ceiling_needs_as_many_trials_as_the_mirrored_floor_and_the_size_is_the_smallest(adverse, threshold,
                                                                                          confidence):
    needed = trials_needed(adverse, threshold, ">=", confidence)
    assert trials_needed(adverse, 1 - threshold, "<=", confidence) == needed
    lower = beta.ppf(1 - confidence, needed - adverse, adverse + 1)
    fewer = needed - 1
    assert lower >= threshold
    assert fewer < max(adverse, 1) or beta.ppf(1 - confidence, fewer - adverse, adverse + 1) < threshold


def test_no_number_of_trials_decides_a_floor_of_1_or_a_ceiling_of_0():
    assert trials_needed(0, 1.0, ">=") is None and trials_needed(0, 0.0, "<=") is None


@pytest.mark.parametrize(("args", "error"), [((-1, 0.9, ">="), ValueError), ((0, 1.5, ">="), ValueError),
                                             ((0, 0.9, "=="), ValueError), ((0.5, 0.9, ">="), TypeError)])
def test_trials_needed_refuses_what_is_not_a_count_a_threshold_or_a_direction(args, error):
    with pytest.raises(error):
        trials_needed(*args)


def test_every_metric_that_is_not_a_rate_names_its_bound():
    assert {name for name, spec in METRICS.items() if not spec.binomial} == \
           {name for name, spec in METRICS.items() if spec.bound}


REQUIREMENTS = """\
version: 1
requirements:
  - {id: R-EACH, title: t, hazard: h, metric: recall, class: each, threshold: 0.9, direction: ">="}
  - {id: R-IID, title: t, hazard: h, metric: recall, class: 1, threshold: 0.9, direction: ">=",
     independence: images, condition: ["rain:1-2"]}
  - {id: R-ALARM, title: t, hazard: h, metric: alarm_rate, detector: msp, ood_sets: [noise, scenes],
     threshold: 0.9, direction: ">="}
  - {id: R-SILENT, title: t, hazard: h, metric: false_alarm_rate, detector: msp, threshold: 0.005, direction: "<="}
  - {id: R-ECE, title: t, hazard: h, metric: ece, threshold: 0.05, direction: "<="}
"""
CLASS_NAMES = ("zero", "one", "two")


@pytest.fixture
def plans(tmp_path):
    (tmp_path / "requirements.yaml").write_text(REQUIREMENTS)
    cases = expand_cases(load_requirements(tmp_path / "requirements.yaml"), len(CLASS_NAMES))
    return [plan_case(case, len(CLASS_NAMES), planned_groups=40) for case in cases]


def test_the_plan_states_groups_per_class_and_condition_and_collapses_equal_cases(plans):
    by_id = {plan.case.case_id: plan for plan in plans}
    assert by_id["R-EACH-class02"].needed == (29, 46, 61)
    assert by_id["R-EACH-class02"].available == 40 and by_id["R-EACH-class02"].decided_with_no_miss
    # a whole-ingest rate has the planned groups of every class; 3 x 40 = 120 cannot show <= 0.005 (598 needed)
    assert by_id["R-SILENT"].needed[0] == 598 and by_id["R-SILENT"].available == 120
    assert by_id["R-SILENT"].decided_with_no_miss is False and by_id["R-SILENT"].adverse == "events"
    assert by_id["R-IID@rain:1"].unit == "images"
    # an OOD set's alarm rate is counted on the set, not on the planned ingest
    assert by_id["R-ALARM-noise"].available is None and by_id["R-ALARM-noise"].decided_with_no_miss is None
    assert by_id["R-ECE"].needed is None and by_id["R-ECE"].bound_method == METRICS["ece"].bound
    assert [len(members) for _, members in collapsed(plans)] == [3, 2, 2, 1, 1]
    lines = plan_lines(plans, CLASS_NAMES)
    assert lines[0] == ("R-EACH, 3 cases [3 classes] recall >= 0.9 at 95 %: 29 independent groups with no miss, "
                        "46 with one, 61 with two; the planned 40 decide it with no miss")
    assert lines[1].startswith("R-IID, 2 cases [class 1 (one), 2 conditions] recall >= 0.9 at 95 %: 29 images ")
    assert lines[2].endswith("not counted on the ingest (the OOD set's own images)")
    assert "the planned 120 cannot decide it with no event" in lines[3]
    assert lines[4].endswith(f"no sample size rule; bound: {METRICS['ece'].bound}")


def test_the_plan_document_records_every_case(plans):
    document = json.loads(json.dumps(plan_document(plans, CLASS_NAMES, 40, requirements_file="r.yaml")))
    assert document["planned_groups_per_class"] == 40 and document["adverse_counts"] == [0, 1, 2]
    assert [case["id"] for case in document["cases"]] == [plan.case.case_id for plan in plans]
    assert document["cases"][0]["class_name"] == "zero" and document["cases"][0]["groups_needed"] == [29, 46, 61]


@pytest.mark.parametrize(("options", "problem"), [
    (dict(plan=True, plan_groups=0), "--plan-groups 0 is not an ingest size"),
    (dict(plan_groups=300), "--plan-groups 300 is given without --plan"),
])
def test_a_planned_size_that_is_no_size_or_has_no_plan_is_refused(tmp_path, options, problem):
    with pytest.raises(HarnessInputError, match=problem):
        check_options(tmp_path, **options)


def test_a_plan_run_states_the_sizes_of_the_bundled_requirements_without_a_model(run_safety_suite, tmp_path):
    plan_json = tmp_path / "plan" / "safety_plan.json"
    run = run_safety_suite("--plan", "--plan-groups=300", f"--plan-json={plan_json}", "--model=absent.keras",
                           "-k", "STOP or CLASS-RECALL", name="plan")
    assert run.returncode == 0, run.output
    # no model is loaded (the model path does not exist) and no evidence is written: no safety test ran
    assert run.evidence is None and run.html is None and " passed" not in run.output
    assert ("SR-STOP-RECALL [class 14 (Stop)] recall >= 0.99 at 95 %: 299 independent groups with no miss, "
            "473 with one, 628 with two; the planned 300 decide it with no miss") in run.output
    assert "SR-CLASS-RECALL, 43 cases [43 classes] recall >= 0.9 at 95 %: 29 independent groups" in run.output
    document = json.loads(plan_json.read_text())
    cases = {case["id"]: case for case in document["cases"]}
    assert "SR-ACCURACY" not in cases  # -k narrows the plan as it narrows a run
    assert cases["SR-SILENT-STOP-MISS@fog:2"]["groups_needed"] == [598, 947, 1258]
    assert cases["SR-SILENT-STOP-MISS@fog:2"]["decided_with_no_miss"] is False
    assert cases["SR-STOP-CALIBRATION"]["bound_method"] == METRICS["ece"].bound
