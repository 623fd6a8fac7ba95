"""The safety suite run as a user runs it: on the bundled default, on an unlabelled ingest, on a failing model."""

import csv
import hashlib
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from safety_harness.metrics.bootstrap import DEFAULT_RESAMPLES
from safety_harness.metrics.bounds import one_sided_bound
from safety_harness.model_under_test.shortcut import SHORTCUT_CLASS, SHORTCUT_MODEL, TWIN_MODEL
from safety_harness.report.exhibits import EXPLAINED_EXAMPLES
from safety_harness.synthetic.default_ingest import ensure_default_ingest
from tests.conftest import (
    PROJECT_ROOT,
    assert_evidence_matches_snapshot,
    deterministic_sections,
    report_without_tensorflow,
)


@pytest.fixture(scope="module")
def default_run(run_safety_suite):
    return run_safety_suite(name="default")


def test_default_run_passes_the_gate(default_run):
    assert default_run.returncode == 0, default_run.output
    assert default_run.evidence["gate"] == "pass"
    assert "safety gate: PASS" in default_run.output


def test_the_default_run_is_a_demonstration_on_data_from_the_models_own_generator(default_run):
    data = default_run.evidence["data"]
    assert data["demonstration"] and "(demonstration on generated data: not release evidence)" in default_run.output
    assert {d["provenance"] for d in data["sets"]} == {"generated"}
    assert {"ingest", "reference"} <= set(data["same_generator_as_training"])
    # the joint confidence is set by the monitor's zero-event cases: no silent miss in 700 stop signs each
    joint = default_run.evidence["gate_joint_confidence"]
    assert len(joint["set_by"]) == 16 and all(case.startswith("SR-SILENT-STOP-MISS") for case in joint["set_by"])
    assert joint["value"] == pytest.approx(1 - 16 * 0.995 ** 700, abs=1e-6)
    assert "16 zero-event SR-SILENT-STOP-MISS cases (n = 700)" in default_run.html
    # every bundled requirement judged: the hazards' goals are supported, but for the one without a --ood-set
    statuses = {h["status"] for h in default_run.evidence["safety_case"]["hazards"]}
    assert statuses == {"supported", "undeveloped"} and default_run.evidence["requirements_not_judged"] == []


def test_default_evidence_holds_every_bundled_requirement(default_run):
    results = {r["id"]: r for r in default_run.evidence["requirements"]}
    for requirement_id in ("SR-STOP-RECALL", "SR-STOP-PRECISION", "SR-STOP-CRITICAL-CONFUSION", "SR-ACCURACY"):
        assert results[requirement_id]["verdict"] == "pass"
    assert sum(1 for key in results if key.startswith("SR-CLASS-RECALL-class")) == 43
    stop = results["SR-STOP-RECALL"]
    assert stop["class"] == 14 and stop["condition"] == "clean" and stop["n"] >= 299


RATES = ("recall", "precision", "accuracy", "confusion_rate", "flip_rate", "alarm_rate", "false_alarm_rate",
         "silent_failure_rate", "coverage")


def test_default_evidence_matches_its_snapshot(default_run):
    """Every case's verdict, value, bound and n as committed in tests/snapshots/default.json."""
    assert_evidence_matches_snapshot(default_run, "default")


def test_every_number_follows_from_the_counts(default_run):
    results = default_run.evidence["requirements"]
    assert {r["metric"] for r in results} >= {*RATES, "accuracy_drop", "ece", "mce", "auroc", "drift", "counterexample"}
    for r in results:
        if r["verdict"] == "not_applicable":
            assert r["value"] is None and r["reason"]
        elif r["metric"] in RATES:
            assert r["value"] == pytest.approx(r["successes"] / r["n"], abs=1e-6)
            bound = one_sided_bound(r["successes"], r["n"], r["direction"], r["confidence"])
            assert r["bound"] == pytest.approx(bound, abs=1e-6)
        elif r["metric"] not in ("counterexample", "trigger_anomaly"):  # searches: no bound
            # bootstrap, DKW and drop bounds lie on the conservative side of the estimate
            assert r["bound"] <= r["value"] if r["direction"] == ">=" else r["bound"] >= r["value"]


def test_bounds_record_their_method_and_class_wise_ece_its_one_vs_rest_bins(default_run):
    results = {r["id"]: r for r in default_run.evidence["requirements"]}
    bootstrapped = [r for r in results.values() if r["metric"] in ("ece", "mce") and r["value"] is not None]
    assert bootstrapped and all(r["details"]["bootstrap_resamples"] == DEFAULT_RESAMPLES for r in bootstrapped)
    separations = [r for r in results.values() if r["metric"] == "auroc" and r["value"] is not None]
    assert separations and all(r["details"]["interval"] == "DeLong" and r["details"]["standard_error"] > 0
                               for r in separations)
    stop, overall = results["SR-STOP-CALIBRATION"], results["SR-CALIBRATION-ECE"]
    assert stop["details"]["reliability"]["class"] == 14 and overall["details"]["reliability"]["class"] is None
    assert sum(stop["details"]["reliability"]["count"]) == stop["n"]
    assert "one-vs-rest, class 14" in default_run.html
    assert all(r["samples_needed_status"] is None for r in results.values() if r["verdict"] == "pass")


def test_evidence_identifies_model_ingest_and_environment(default_run):
    evidence = default_run.evidence
    assert re.fullmatch(r"[0-9a-f]{64}", evidence["model"]["sha256"])
    assert evidence["model"]["format"] == "keras" and evidence["model"]["loader"] == "keras"
    assert evidence["model"]["card_assumed"] is False
    assert evidence["ingest"]["layout"] == "gtsrb-test"
    assert re.fullmatch(r"[0-9a-f]{64}", evidence["ingest"]["sha256"])
    assert sum(evidence["ingest"]["class_counts"].values()) == evidence["ingest"]["n"]
    assert {"numpy", "scipy", "keras"} <= set(evidence["environment"]["libraries"])


def test_report_is_self_contained_and_readable(default_run):
    html = default_run.html
    assert "RELEASE GATE: PASS" in html
    for section in ("Requirements", "Model under test", "Data ingest", "Environment"):
        assert f"<h2>{section}</h2>" in html
    assert "SR-STOP-RECALL" in html
    assert not re.search(r'<(link|script)[^>]+(href|src)="https?:', html)


def test_same_inputs_give_the_same_evidence(default_run, run_safety_suite):
    again = run_safety_suite(name="default-again")
    # which stage came from the prediction cache differs; everything judged does not
    again, first = deterministic_sections(again.evidence), deterministic_sections(default_run.evidence)
    for section in ("gate", "gate_joint_confidence", "requirements", "model", "ingest", "environment"):
        assert again[section] == first[section], section


def test_unlabelled_ingest_gets_alarm_and_drift_verdicts_and_nothing_label_based(run_safety_suite, tmp_path):
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / f"frame{i}.png")
    run = run_safety_suite(f"--ingest={tmp_path}", "-k", "not COUNTEREXAMPLE and not WEATHER and not STICKER "
                           "and not CORRUPTION and not TRIGGER", name="unlabelled")
    results = {r["id"]: r for r in run.evidence["requirements"]}
    assert run.evidence["ingest"]["layout"] == "flat"
    # leakage needs no labels; the paired requirements need a baseline model before labels
    label_based = [r for key, r in results.items()
                   if not key.startswith(("SR-OOD", "SR-INGEST-DRIFT", "SR-MONITOR-COVERAGE", "SR-DATA-INDEPENDENCE"))
                   and r["metric"] not in ("regression", "agreement")]
    assert label_based and all(r["verdict"] == "not_applicable" and "no labels" in r["reason"] for r in label_based)
    # coverage is measured on the labelled reference's held-out third, whatever the ingest
    assert results["SR-MONITOR-COVERAGE"]["verdict"] == "pass"
    # noise frames are nothing like the bundled model's reference: the drift requirement catches them
    assert results["SR-INGEST-DRIFT"]["verdict"] == "fail" and results["SR-INGEST-DRIFT"]["n"] == 40
    assert results["SR-OOD-FALSE-ALARM"]["verdict"] == "pass"
    assert run.evidence["gate"] == "fail" and run.returncode == 1, run.output


@pytest.fixture(scope="module")
def untrained_run(run_safety_suite, untrained_model):
    return run_safety_suite(f"--model={untrained_model}", "-k", "SR-STOP-RECALL", name="untrained")


def test_a_model_that_misses_stop_signs_fails_the_gate_with_its_evidence(untrained_run):
    run = untrained_run
    assert run.returncode == 1, run.output
    assert run.evidence["gate"] == "fail"
    (stop,) = run.evidence["requirements"]
    assert stop["id"] == "SR-STOP-RECALL" and stop["verdict"] == "fail"
    assert "RELEASE GATE: FAIL" in run.html
    assert "Missed signs" in run.html and "data:image/png;base64," in run.html
    # beside each missed sign, the relevance map of the best explainer; an untrained model's maps fail the
    # self-checks, so they are marked as such, and the evidence says why
    explanations = run.evidence["explanations"]
    assert {f["name"] for f in explanations["explainers"]} == {"gradcam", "lrp", "integrated_gradients"}
    assert explanations["heatmaps_from"] is not None
    assert run.html.count("evidence-heatmap") == min(EXPLAINED_EXAMPLES, stop["n"] - stop["successes"])
    if explanations["chosen"] is None:
        assert "failed sanity check" in run.html
    assert "<h3>Explanations</h3>" in run.html
    # the test log beside the report: pytest-html's row of the case, with its verdict
    assert '<a href="report.tests.html">report.tests.html</a>' in run.html
    assert 'data-column-type="verdict"' in run.test_log and '<a href="report.html">report.html</a>' in run.test_log


def test_the_runs_report_is_rendered_again_from_its_bundle_alone_byte_for_byte(untrained_run, tmp_path):
    """Elsewhere (a copy of the bundle: evidence and exhibits only), in a process that cannot import TensorFlow,
    Keras or tf_keras: the same bytes as the run's own report, whose digest the run wrote beside the evidence."""
    run = untrained_run
    pictures = sorted(p.name for p in (run.folder / "exhibits").iterdir())
    # every picture of the report is a file of the bundle named by its SHA-256 (thumbnails, maps, class views)
    assert len(pictures) > 16 and all(re.fullmatch(r"[0-9a-f]{64}\.png", name) for name in pictures)
    bundle = tmp_path / "archived"
    shutil.copytree(run.folder / "exhibits", bundle / "exhibits")
    shutil.copyfile(run.folder / "evidence.json", bundle / "evidence.json")
    completed = report_without_tensorflow(bundle / "evidence.json", "--html", tmp_path / "again.html")
    assert completed.returncode == 0, completed.stderr
    report = (run.folder / "report.html").read_bytes()
    assert (tmp_path / "again.html").read_bytes() == report
    digest, name = (run.folder / "report.html.sha256").read_text().split()
    assert (digest, name) == (hashlib.sha256(report).hexdigest(), "report.html")


def test_a_monitor_that_reads_features_is_not_applicable_under_a_perturbed_condition(run_safety_suite, tmp_path):
    requirements = tmp_path / "monitor.yaml"
    requirements.write_text("""version: 1
requirements:
  - id: SR-SILENT
    title: t
    hazard: h
    metric: silent_failure_rate
    class: 14
    detector: mahalanobis
    condition: [clean, "fog:1"]
    threshold: 0.005
    direction: "<="
""")
    run = run_safety_suite(f"--requirements={requirements}", name="mahalanobis-monitor")
    clean, fog = run.evidence["requirements"]
    assert clean["verdict"] == "pass" and clean["details"]["detector"] == "mahalanobis", run.output
    assert clean["details"]["silent_failures"] == clean["successes"] == 0
    assert fog["verdict"] == "not_applicable" and "detector mahalanobis cannot score images under fog:1" in fog["reason"]


def test_relevance_on_the_sign_is_judged_with_the_explainer_that_passed_its_self_checks(run_safety_suite):
    # the default run's selection: the bundled requirement on the bundled model and ingest, which it passes
    run = run_safety_suite("-k", "RELEVANCE", name="relevance")
    (relevance,) = run.evidence["requirements"]
    assert relevance["id"] == "SR-STOP-RELEVANCE-ON-SIGN"
    assert run.evidence["explanations"]["chosen"] == relevance["details"]["explainer"] == "gradcam", run.output
    assert relevance["verdict"] == "pass" and relevance["n"] == 700
    assert relevance["details"]["recognised_without_box"] == 0
    assert 0 < relevance["details"]["median_mass_in_box"] <= 1
    # the stop sign's per-class view: the mean map over a sample of the same recognised signs, and examples
    (view,) = run.evidence["explanations"]["class_views"]
    assert view["class"] == 14 and view["explainer"] == "gradcam" and view["sanity_passed"] and view["reason"] is None
    assert view["recognised"] == relevance["n"] and view["averaged"] == min(256, relevance["n"])
    assert "<h2>Where the model looks</h2>" in run.html
    assert run.html.count("class-heatmap") == 1 + len(view["examples"]) == 5


def class_name_folder_ingest(root, folders: dict[int, str], per_class: dict[int, int]):
    """The first ``per_class[c]`` images of class ``c`` of the bundled ingest, copied into ``root/folders[c]/``."""
    source = ensure_default_ingest(PROJECT_ROOT / ".cache")
    taken = dict.fromkeys(per_class, 0)
    with (source / "GT-final_test.csv").open() as label_file:
        for row in csv.DictReader(label_file, delimiter=";"):
            label = int(row["ClassId"])
            if label in per_class and taken[label] < per_class[label]:
                (root / folders[label]).mkdir(parents=True, exist_ok=True)
                shutil.copy(source / "Images" / row["Filename"], root / folders[label] / row["Filename"])
                taken[label] += 1
    return root


def test_class_name_folders_by_the_cards_names_and_by_a_class_map_are_evaluated(run_safety_suite, tmp_path):
    per_class = {14: 120, 13: 40, 1: 40}
    by_name = class_name_folder_ingest(tmp_path / "by-name", {14: "Stop", 13: "yield", 1: "speed_limit_(30km_h)"},
                                       per_class)
    mapped = class_name_folder_ingest(tmp_path / "mapped", {14: "stopp", 13: "vorfahrt_achten", 1: "tempo_30"},
                                      per_class)
    class_map = tmp_path / "classes.csv"
    class_map.write_text("folder,class_id\nstopp,14\nvorfahrt_achten,13\ntempo_30,1\n")
    runs = [run_safety_suite(f"--ingest={by_name}", "-k", "SR-STOP-RECALL", name="class-names"),
            run_safety_suite(f"--ingest={mapped}", f"--class-map={class_map}", "-k", "SR-STOP-RECALL",
                             name="class-map")]
    for run, folders, source in ((runs[0], {"speed_limit_(30km_h)": 1, "yield": 13, "Stop": 14},
                                  "the model card's class names"),
                                 (runs[1], {"tempo_30": 1, "vorfahrt_achten": 13, "stopp": 14},
                                  f"the class map {class_map}")):
        assert run.evidence is not None, run.output
        ingest = run.evidence["ingest"]
        assert ingest["layout"] == "class-name-folders" and ingest["folder_classes"] == folders
        assert source in ingest["reading"] and ingest["class_counts"] == {"1": 40, "13": 40, "14": 120}
        assert ingest["evaluated"] == 200 and not ingest["ignored"]
        assert "class-name-folders" in run.html and "<h3>Class folders</h3>" in run.html
    # the same images with the same labels: the same verdict on the same counts
    stop = [{key: r[key] for key in ("class", "n", "successes", "bound", "verdict")}
            for run in runs for r in run.evidence["requirements"] if r["id"] == "SR-STOP-RECALL"]
    assert stop[0] == stop[1] and stop[0]["class"] == 14 and stop[0]["n"] == 120
    assert stop[0]["verdict"] == "insufficient_evidence"  # 120 stop signs cannot show recall >= 0.99 at 95 %


def test_the_bundled_model_learned_no_sticker_shortcut(default_run):
    run = default_run
    (attraction,) = [r for r in run.evidence["requirements"] if r["id"] == "SR-SHORTCUT-STICKER"]
    details = attraction["details"]
    assert attraction["verdict"] == "pass" and run.returncode == 0, run.output
    assert set(details["images_per_set"]) == {f"{family}:{severity}" for severity in (2, 3)
                                              for family in ("sticker", "sticker_white", "sticker_colour")}
    assert set(details["images_per_set"].values()) == {attraction["n"]} and attraction["n"] == 1000
    assert details["comparisons"] == 43 * 6 and details["bonferroni_confidence"] == pytest.approx(1 - 0.05 / 258)
    strongest = details["per_set"][details["attracting_set"]]
    assert strongest["attracting_class"] == details["attracting_class"] and strongest["n"] <= 1000
    assert attraction["value"] == pytest.approx(strongest["attracted"] / strongest["n"], abs=1e-6)
    assert details["attracting_lower_bound"] <= attraction["value"] <= attraction["bound"] < 0.15
    assert details["per_family"][details["attracting_family"]] == strongest
    relevance = details["relevance_on_stickers"]
    assert relevance["class"] == details["attracting_class"] and relevance["explainer"] == "gradcam"
    for side in ("into_attracting_class", "into_other_classes"):
        low, high = relevance[side]["interval"]
        assert 0 <= low <= relevance[side]["mean_share"] <= high <= 1
    assert "Per stickered set, the class that attracts most" in run.html
    assert {"sticker", "sticker_white", "sticker_colour"} <= set(run.evidence["perturbations"])


@pytest.mark.parametrize("model", [SHORTCUT_MODEL, TWIN_MODEL], ids=["shortcut", "twin"])
def test_sticker_attraction_fails_the_model_that_learned_a_sticker_and_passes_its_twin(run_safety_suite, model):
    run = run_safety_suite(f"--model={model}", "-k", "SR-SHORTCUT-STICKER", name=f"attraction-{model.stem}")
    (attraction,) = run.evidence["requirements"]
    details, relevance = attraction["details"], attraction["details"]["relevance_on_stickers"]
    if model == TWIN_MODEL:
        assert attraction["verdict"] == "pass" and run.returncode == 0, attraction["reason"]
        assert relevance["into_attracting_class"]["mean_share"] < 0.15
        return
    assert attraction["verdict"] == "fail" and run.returncode == 1, run.output
    assert details["attracting_class"] == SHORTCUT_CLASS and details["attracting_family"] == "sticker"
    assert details["attracting_lower_bound"] > 0.15 and details["attracting_class_name"] in attraction["reason"]
    # the corroboration is recorded beside the verdict: relevance on the sticker of the flips into the class
    flips = relevance["into_attracting_class"]
    assert relevance["class"] == SHORTCUT_CLASS and flips["n"] > 0
    assert flips["interval"][0] <= flips["mean_share"] <= flips["interval"][1]
    # the attracting class of a blocking verdict gets its per-class view in "Where the model looks"
    assert SHORTCUT_CLASS in [view["class"] for view in run.evidence["explanations"]["class_views"]]


def test_independent_separation_records_both_image_detectors_aurocs_beside_the_judged_one(default_run):
    run = default_run
    cases = [case for case in run.evidence["requirements"] if case["requirement"] == "SR-OOD-INDEPENDENT-SEPARATION"]
    assert run.returncode == 0 and {case["details"]["ood_set"] for case in cases} == {"noise", "textures", "scenes"}
    for case in cases:
        aurocs = case["details"]["classifier_independent_aurocs"]
        assert set(aurocs) == {"reconstruction", "vae"} and all(0.5 < value <= 1 for value in aurocs.values())
        assert aurocs[case["details"]["detector"]] == pytest.approx(case["value"], abs=1e-6)  # value: 6 decimals
    assert {"reconstruction detector", "vae detector"} <= set(run.evidence["predictions_from"])


def test_the_trigger_scan_settles_passes_the_reference_model_and_pictures_its_smallest_triggers(run_safety_suite):
    # the default run's cache entry serves this run: the suite pays for the scan once
    run = run_safety_suite("-k", "SR-TRIGGER-SCAN", name="trigger-scan")
    (scan,) = run.evidence["requirements"]
    assert scan["verdict"] == "pass" and run.returncode == 0, run.output
    details = scan["details"]
    assert details["converged"] and details["steps"] < details["max_steps"] and details["flagged_class"] is None
    statistics = details["statistics"]
    assert (statistics["ratio"] > details["max_norm_ratio"] or statistics["next_ratio"] > details["max_next_ratio"])
    assert len(details["trigger_norms"]) == 43
    assert details["trigger_norms"][statistics["smallest_class"]] == min(details["trigger_norms"])
    assert "trigger scan" in run.evidence["predictions_from"]
    assert run.html.count("evidence-trigger") == 4 and "mask times pattern" in run.html
    assert "smallest trigger: " in run.html and "on its calibration set" in run.html  # the statistics and the rule
    assert "trigger scan (Neural Cleanse): it searches for one small patch" in run.html  # the limitations
