"""SR-TRAINING-SHORTCUT on the bundled shortcut pair's own training renders: SpRAy finds the stickered class in the
shortcut model's training data and flags nothing in its twin's (the same renders, the class-1 copies left clean).

A small sample: the first 40 renders of every class and their class-1 copies (1,760 images; class 1 holds 80, 40
of them stickered), as ``tools/train_shortcut.py --write-training-data`` writes them; a 129-image ingest for the
explainers' self-checks. About a minute per model on 2 shared cores, most of it LRP on the 1,760 images."""

import pytest

from safety_harness.model_under_test.shortcut import SHORTCUT_CLASS, SHORTCUT_MODEL, TWIN_MODEL
from safety_harness.synthetic.default_ingest import write_ingest
from tests.conftest import PROJECT_ROOT
from tools.train_shortcut import write_training_data

PER_CLASS = 40
#: not among the bundled requirements: on real training data it is a pointer to inspect, not a gate
REQUIREMENTS = PROJECT_ROOT / "safety_tests" / "training_shortcut.yaml"


@pytest.fixture(scope="module")
def small_ingest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spray_ingest") / "ingest"
    write_ingest(folder, per_class=3, stop_signs=3, seed=11)
    return folder


@pytest.mark.parametrize(("model", "stickered"), [(SHORTCUT_MODEL, True), (TWIN_MODEL, False)], ids=["shortcut", "twin"])
def test_spray_finds_the_stickered_class_in_the_shortcut_models_training_data_and_nothing_in_the_twins(
        run_safety_suite, small_ingest, tmp_path, model, stickered):
    training = write_training_data(tmp_path / "training", stickered, PER_CLASS)
    run = run_safety_suite("--model", str(model), "--ingest", str(small_ingest), "--training-data", str(training),
                           f"--requirements={REQUIREMENTS}", name=model.stem)
    (case,) = run.evidence["requirements"]
    details = case["details"]
    assert details["explainer"] == "lrp" and details["explainer_passed_self_checks"], run.output
    assert details["images"] == PER_CLASS * 43 + PER_CLASS and not details["unexamined_classes"]
    if not stickered:
        assert case["verdict"] == "pass" and details["flagged_classes"] == [] and run.returncode == 0, run.output
        return
    assert case["verdict"] == "fail" and details["flagged_classes"] == [SHORTCUT_CLASS], run.output
    (flagged,) = [c for c in details["classes"] if c["flagged"]]
    # the cluster is the stickered copies: they are written after the 43 x 40 renders
    assert all(int(name[-9:-4]) >= PER_CLASS * 43 for name in flagged["examples"])
    assert flagged["share_lower_bound"] > 0.10 and flagged["concentration_excess"] >= 0.10
    assert "Speed limit (30km/h) (1): a SpRAy cluster" in case["reason"]
    assert run.html.count('class="evidence-thumb training-shortcut"') == 1 + min(4, flagged["cluster_size"])
