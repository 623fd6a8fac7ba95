"""Deep ensembles (--model given more than once): averaging, disagreement, pairing of cards, members'
own preprocessing, and an ensemble of two real third-party models judged end to end."""

from pathlib import Path

import numpy as np
import pytest
from scipy.special import rel_entr

from safety_harness.core import tf_runtime
from safety_harness.core.errors import HarnessInputError
from safety_harness.metrics.ensemble import disagreement, mean_probabilities
from safety_harness.model_under_test import ensemble_of, load_model
from safety_harness.ood import DETECTORS, DetectorInputs
from safety_harness.plan.options import check_options, model_members

CARDS = Path(__file__).parent / "shared_model_cards"
#: two members that agree, two that contradict each other with certainty, one sure and one undecided
MEMBERS = np.array([
    [[0.7, 0.2, 0.1], [0.7, 0.2, 0.1]],
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
    [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]],
])


def test_the_ensemble_predicts_the_mean_of_its_members():
    expected = [[0.7, 0.2, 0.1], [0.5, 0.5, 0.0], [0.75, 0.25, 0.0]]
    np.testing.assert_allclose(mean_probabilities(MEMBERS), expected, atol=1e-7)
    assert mean_probabilities(MEMBERS).dtype == np.float32


def test_disagreement_is_the_mutual_information_of_the_members():
    # agreeing members: 0; certain and contradicting: ln 2, the most two members can disagree;
    # [1, 0] and [0.5, 0.5]: H([0.75, 0.25]) - (0 + ln 2) / 2
    h_mean = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    np.testing.assert_allclose(disagreement(MEMBERS), [0.0, np.log(2), h_mean - np.log(2) / 2], atol=1e-12)


def test_disagreement_is_the_members_mean_kl_divergence_from_the_ensemble():
    members = np.random.default_rng(0).dirichlet(np.ones(43) * 0.3, size=(50, 4))
    ensemble = members.mean(axis=1, keepdims=True)
    mean_kl = rel_entr(members, ensemble).sum(axis=2).mean(axis=1)
    np.testing.assert_allclose(disagreement(members), mean_kl, atol=1e-10)
    assert (disagreement(members) <= np.log(4) + 1e-12).all()


@pytest.mark.parametrize("bad, phrase", [
    (np.ones((3, 3)) / 3, "shape"),
    (np.ones((2, 0, 3)), "shape"),
    (np.full((2, 2, 2), np.nan), "finite"),
    (np.full((2, 2, 2), 0.7), "probabilities"),
])
def test_member_probabilities_are_validated(bad, phrase):
    for function in (mean_probabilities, disagreement):
        with pytest.raises(ValueError, match=phrase):
            function(bad)


def test_the_disagreement_detector_reads_the_members_and_is_unavailable_without_them():
    detector = DETECTORS["ensemble_disagreement"]()
    ensemble_inputs = DetectorInputs(mean_probabilities(MEMBERS), member_probabilities=MEMBERS)
    np.testing.assert_allclose(detector.score(ensemble_inputs), disagreement(MEMBERS))
    assert detector.unavailable_reason(ensemble_inputs) is None
    assert "not an ensemble" in detector.unavailable_reason(DetectorInputs(MEMBERS[:, 0]))
    assert "ensemble has no single penultimate layer" in DETECTORS["mahalanobis"]().unavailable_reason(ensemble_inputs)


@pytest.mark.parametrize("models, cards, expected", [
    (["a.h5"], [], [("a.h5", None)]),
    ([], ["c.yaml"], [(None, "c.yaml")]),
    (["a.h5", "b.h5"], [], [("a.h5", None), ("b.h5", None)]),
    (["a.h5", "b.h5"], ["c.yaml"], [("a.h5", "c.yaml"), ("b.h5", "c.yaml")]),
    (["a.h5", "b.h5"], ["ca.yaml", "cb.yaml"], [("a.h5", "ca.yaml"), ("b.h5", "cb.yaml")]),
])
def test_cards_pair_with_models_in_order_or_one_for_all(models, cards, expected):
    assert model_members(models, cards) == expected


@pytest.mark.parametrize("models, cards, phrase", [
    (["a.h5", "b.h5", "c.h5"], ["ca.yaml", "cb.yaml"], "--model is given 3 times and --model-card 2 times"),
    (["a.h5"], ["ca.yaml", "cb.yaml"], "--model is given once (or not: the bundled model) and --model-card 2 times"),
    ([], ["ca.yaml", "cb.yaml"], "--model-card 2 times"),
])
def test_cards_that_cannot_be_paired_are_refused_naming_the_options(tmp_path, models, cards, phrase):
    for check in (lambda: model_members(models, cards), lambda: check_options(tmp_path, models=models,
                                                                               model_cards=cards)):
        with pytest.raises(HarnessInputError) as raised:
            check()
        assert phrase in raised.value.problem
        assert "Give --model-card once per --model" in raised.value.fix


def save_member(folder, name, size, channels, classes=43, seed=1):
    """A tiny Keras classifier taking ``size`` images of ``channels``, saved with its card."""
    keras = tf_runtime.keras()
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((*size, 1 if channels == "GRAY" else 3)), keras.layers.Conv2D(4, 3),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(classes, "softmax")])
    path = folder / f"{name}.keras"
    model.save(path)
    names = ", ".join(f"c{i}" for i in range(classes))
    (folder / f"{name}.yaml").write_text(f"input:\n  size: {list(size)}\n  channels: {channels}\n  range: [0, 1]\n"
                                         f"  resize: area\noutput: probabilities\nclasses: [{names}]\n")
    return path


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    folder = tmp_path_factory.mktemp("members")
    return {"rgb16": load_model(save_member(folder, "rgb16", (16, 16), "RGB")),
            "bgr12": load_model(save_member(folder, "bgr12", (12, 12), "BGR", seed=2)),
            "three": load_model(save_member(folder, "three", (16, 16), "RGB", classes=3))}


def test_each_member_is_fed_at_its_own_size_as_its_own_card_says(members):
    import cv2

    ensemble = ensemble_of([members["bgr12"], members["rgb16"]])
    assert ensemble.card.size == (16, 16)  # the largest member's: the smaller one resizes
    images = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    smaller = np.stack([cv2.resize(image, (12, 12), interpolation=cv2.INTER_AREA) for image in images])
    alone = np.stack([members["rgb16"].predict(images).probabilities, members["bgr12"].predict(smaller).probabilities])
    outputs = ensemble.predict(images)
    np.testing.assert_allclose(outputs.probabilities, alone.mean(axis=0), atol=1e-6)
    assert outputs.member_probabilities.shape == (6, 2, 43) and outputs.logits is None and outputs.features is None


def test_the_ensemble_does_not_depend_on_the_order_of_its_members(members):
    forward, backward = ensemble_of([members["rgb16"], members["bgr12"]]), ensemble_of([members["bgr12"],
                                                                                         members["rgb16"]])
    images = np.random.default_rng(1).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    assert forward.sha256 == backward.sha256
    np.testing.assert_array_equal(forward.predict(images).probabilities, backward.predict(images).probabilities)
    assert [m.path.name for m in backward.members] == ["bgr12.keras", "rgb16.keras"]  # listed as given


def test_members_with_other_classes_or_given_twice_are_refused(members):
    with pytest.raises(HarnessInputError, match="disagree on their classes") as raised:
        ensemble_of([members["rgb16"], members["three"]])
    assert "has 43 and --model" in raised.value.problem and "has 3" in raised.value.problem
    with pytest.raises(HarnessInputError, match="the same model, with the same card") as raised:
        ensemble_of([members["rgb16"], members["bgr12"], members["rgb16"]])
    assert raised.value.fix == "Give each ensemble member once."


def test_a_member_with_other_classes_stops_the_run_with_exit_4(run_safety_suite, members):
    run = run_safety_suite(f"--model={members['rgb16'].path}", f"--model={members['three'].path}",
                           name="ensemble-classes")
    assert run.returncode == 4 and "Traceback" not in run.output, run.output
    assert "Ensemble members disagree on their classes" in run.output and "How to fix:" in run.output


def test_an_ensemble_of_two_shared_models_is_judged_end_to_end(run_safety_suite, shared_path, final_test_subset):
    # every stop sign of the real test set and 330 other signs: what is asserted is on the stop signs
    first, second = shared_path("models", "abis47", "traffic_classifier.h5"), shared_path(
        "models", "nvarshi2004", "traffic_sign_model.keras")
    run = run_safety_suite(f"--model={first}", f"--model-card={CARDS / 'abis47.yaml'}", f"--model={second}",
                           f"--model-card={CARDS / 'nvarshi2004.yaml'}", f"--ingest={final_test_subset}",
                           "-k", "SR-STOP-RECALL or SR-SILENT-STOP-MISS", name="ensemble-shared")
    assert run.returncode in (0, 1), run.output
    model = run.evidence["model"]
    # the members differ on purpose: 30x30 RGB in 0..255 and 32x32 BGR in 0..1, each fed as its own card says
    assert [m["path"] for m in model["members"]] == [str(first.resolve()), str(second.resolve())]
    assert [m["card"]["channels"] for m in model["members"]] == ["RGB", "BGR"]
    assert [m["card_path"] for m in model["members"]] == [str(CARDS / "abis47.yaml"), str(CARDS / "nvarshi2004.yaml")]
    assert all(m["preprocessing_check"]["clearly_better"] is None for m in model["members"])
    assert model["input_size"] == [32, 32] and "mean" in model["combination"]
    results = {r["id"]: r for r in run.evidence["requirements"]}
    assert len(results) == 1 + 16  # stop recall; silent misses on clean images and 15 weather conditions
    for result in results.values():
        assert result["n"] == 270 and result["bound"] is not None, result["id"]
        assert result["verdict"] in ("pass", "fail", "insufficient_evidence"), result["id"]
    recall = results["SR-STOP-RECALL"]
    assert recall["bound"] <= recall["value"] and recall["successes"] >= 265
    assert "ensemble" in run.evidence["explanations"]["explainers"][0]["reason"]
    # real data, given as a folder: release evidence, for the ensemble as a whole
    data = run.evidence["data"]
    assert not data["demonstration"] and [(d["role"], d["provenance"]) for d in data["sets"]] == [("ingest", "real")]
    assert "demonstration" not in run.output
    top_goal = run.evidence["safety_case"]["top_goal"]["text"]
    assert top_goal.startswith(f"The ensemble of 2 classifiers (SHA-256 {model['sha256']})")
    assert "an ensemble of 2 models" in run.html


def test_the_trigger_scan_does_not_apply_to_an_ensemble(run_safety_suite, members):
    run = run_safety_suite(f"--model={members['rgb16'].path}", f"--model={members['bgr12'].path}",
                           "-k", "SR-TRIGGER-SCAN", name="ensemble-trigger-scan")
    (scan,) = run.evidence["requirements"]
    assert scan["verdict"] == "not_applicable" and "the model is an ensemble" in scan["reason"], run.output
    assert "trigger scan" not in run.evidence["predictions_from"]
