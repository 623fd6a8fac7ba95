"""The safety suite on the real GTSRB test set with each real third-party model (../shared).

The evidence's accuracy and stop-sign recall are checked against an independent computation
written here: its own decoding, resizing and preprocessing, its own forward pass, its own counts.
"""

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy.stats import beta

from safety_harness.core import tf_runtime
from tests.conftest import assert_evidence_matches_snapshot

CARDS = Path(__file__).parent / "shared_model_cards"
INTERPOLATION = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}
MODELS = [
    # folder, file, loader module, (height, width), channels, (lo, hi), resize as in its card
    ("abis47", "traffic_classifier.h5", "keras", (30, 30), "RGB", (0, 255), "bicubic"),
    ("nabagata", "traffic_classifier.h5", "tf_keras", (30, 30), "RGB", (0, 255), "bicubic"),
    ("nvarshi2004", "traffic_sign_model.keras", "keras", (32, 32), "BGR", (0, 1), "bilinear"),
    ("ikreza_gray", "traffic_sign.hdf5", "tf_keras", (32, 32), "GRAY", (-1, 0.9921875), "bilinear"),
]


def independent_15_bin_ece(probabilities, labels):
    """Guo et al.'s ECE written out here: 15 equal-width bins (lo, hi] of the top-label confidence."""
    confidence, correct = probabilities.max(axis=1), probabilities.argmax(axis=1) == labels
    ece = 0.0
    for lo in np.arange(15) / 15:
        members = (confidence > lo) & (confidence <= lo + 1 / 15)
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return ece


def verdict_by_the_rules(result):
    """The verdict README's rules give for a result's value and bound: the estimate missing the threshold
    fails, the bound missing it is insufficient evidence, else pass."""
    threshold, direction = result["threshold"], result["direction"]
    meets = (lambda x: x >= threshold) if direction == ">=" else (lambda x: x <= threshold)
    if not meets(result["value"]):
        return "fail"
    return "pass" if meets(result["bound"]) else "insufficient_evidence"


def independent_clopper_pearson(result):
    """The exact one-sided bound of a rate, from the beta distribution (Clopper & Pearson 1934)."""
    k, n, confidence = result["successes"], result["n"], result["confidence"]
    if result["direction"] == ">=":
        return 0.0 if k == 0 else beta.ppf(1 - confidence, k, n - k + 1)
    return 1.0 if k == n else beta.ppf(confidence, k + 1, n - k)


@pytest.fixture(scope="module")
def decoded_test_set(shared_path):
    """The real GTSRB test set decoded once for every model's independent computation: its labels and
    its RGB images at their own sizes."""
    test_set = shared_path("gtsrb", "Final_Test")
    rows = [line.split(";") for line in (test_set / "GT-final_test.csv").read_text().splitlines()[1:]]
    labels = np.array([int(row[7]) for row in rows])
    return labels, [np.asarray(Image.open(test_set / "Images" / row[0]).convert("RGB")) for row in rows]


def independent_predictions(model_path, loader, size, channels, value_range, resize, decoded_test_set):
    labels, decoded = decoded_test_set
    images = np.stack([cv2.resize(image, size[::-1], interpolation=INTERPOLATION[resize])
                       for image in decoded]).astype(np.float32)
    if channels == "BGR":
        images = images[..., ::-1]
    elif channels == "GRAY":
        images = images.mean(axis=-1, keepdims=True)
    lo, hi = value_range
    images = lo + images * (hi - lo) / 255
    model = getattr(tf_runtime, loader)().models.load_model(model_path, compile=False)
    probabilities = np.concatenate([model(images[i:i + 512], training=False).numpy()
                                    for i in range(0, len(images), 512)])
    return labels, probabilities


@pytest.mark.parametrize("folder, name, loader, size, channels, value_range, resize", MODELS,
                         ids=[m[0] for m in MODELS])
def test_evidence_agrees_with_an_independent_computation(run_safety_suite, shared_path, decoded_test_set, folder, name,
                                                         loader, size, channels, value_range, resize):
    model_path, test_set = shared_path("models", folder, name), shared_path("gtsrb", "Final_Test")
    run = run_safety_suite(f"--model={model_path}", f"--model-card={CARDS / f'{folder}.yaml'}",
                           f"--ingest={test_set}", "-k", "SR-ACCURACY or SR-STOP-RECALL or SR-CALIBRATION-ECE "
                           "or SR-SHORTCUT-STICKER or SR-SILENT-STOP-MISS or SR-MONITOR-COVERAGE", name=folder)
    assert run.returncode in (0, 1), run.output
    results = {r["id"]: r for r in run.evidence["requirements"]}
    labels, probabilities = independent_predictions(model_path, loader, size, channels, value_range, resize,
                                                    decoded_test_set)
    predicted = probabilities.argmax(axis=1)
    stop = labels == 14
    assert results["SR-STOP-RECALL"]["n"] == stop.sum() == 270
    assert results["SR-STOP-RECALL"]["successes"] == (predicted[stop] == 14).sum()
    assert results["SR-ACCURACY"]["value"] == pytest.approx((predicted == labels).mean(), abs=0.01)
    # the verdict follows the rules: a floor missed by the estimate fails, one missed only by the bound is
    # insufficient evidence (270 stop signs cannot show recall >= 0.99 even with none missed)
    expected = "fail" if results["SR-STOP-RECALL"]["value"] < 0.99 else "insufficient_evidence"
    assert results["SR-STOP-RECALL"]["verdict"] == expected
    assert run.evidence["gate"] == "fail" and run.returncode == 1
    ece = results["SR-CALIBRATION-ECE"]
    assert ece["value"] == pytest.approx(independent_15_bin_ece(probabilities, labels), abs=0.005)
    assert ece["value"] <= ece["bound"] and ece["verdict"] == verdict_by_the_rules(ece)
    # a real model learned no sticker shortcut: no class draws stickered signs of other classes
    shortcut = results["SR-SHORTCUT-STICKER"]
    assert shortcut["verdict"] == "pass" and shortcut["bound"] < 0.15, shortcut["reason"]
    # the model with its runtime monitor: silent misses and coverage judged on their bounds, clean and in weather
    monitored = [r for r in results.values() if r["metric"] in ("silent_failure_rate", "coverage")]
    assert len(monitored) == 16 + 1 and all(r["bound"] is not None and r["n"] > 0 for r in monitored)
    assert {r["details"]["detector"] for r in monitored} == {"msp"}


def test_the_42_output_savedmodel_gets_its_clear_error(run_safety_suite, shared_path):
    run = run_safety_suite(f"--model={shared_path('models', 'jovanzac', 'saved_model')}",
                           f"--model-card={CARDS / 'jovanzac.yaml'}", f"--ingest={shared_path('gtsrb', 'Final_Test')}",
                           name="jovanzac")
    assert run.returncode == 4 and "Traceback" not in run.output
    assert "has 42 outputs but card" in run.output and "How to fix:" in run.output


@pytest.fixture(scope="module")
def runs_on_real_signs(run_safety_suite, shared_path, final_test_subset, tmp_path_factory):
    """The first model on the subset, with the Polish signs as its near-OOD set, run twice on the same inputs:
    the robustness and the uncertainty requirements in one selection, so that one pair of runs serves the
    test of each. The second run computes everything again in a cache folder of its own (a run sharing the
    first's cache would read its results back), so equal evidence shows both requirements reproducible."""
    folder, name = MODELS[0][:2]
    options = (f"--model={shared_path('models', folder, name)}", f"--model-card={CARDS / f'{folder}.yaml'}",
               f"--ingest={final_test_subset}", f"--ood-set={shared_path('gtsrb', 'Polish_Test')}", "-k",
               "SR-STOP-RECALL or SR-WEATHER-STOP-RECALL or SR-CORRUPTION-ACCURACY-DROP "
               "or SR-CALIBRATION or SR-OOD or SR-INGEST-DRIFT")
    return (run_safety_suite(*options, name="real-signs-1"),
            run_safety_suite(*options, f"--cache-dir={tmp_path_factory.mktemp('real-signs-cache')}",
                             name="real-signs-2"))


def test_robustness_on_real_signs_is_measured_and_reproducible(runs_on_real_signs):
    first, second = runs_on_real_signs
    assert first.returncode in (0, 1), first.output
    assert first.evidence["requirements"] == second.evidence["requirements"]
    results = {r["id"]: r for r in first.evidence["requirements"]}
    clean = results["SR-STOP-RECALL"]
    assert clean["n"] == 270
    for perturbation in ("rain", "fog", "snow", "sun_flare", "shadow"):
        for severity in (1, 2, 3):
            result = results[f"SR-WEATHER-STOP-RECALL@{perturbation}:{severity}"]
            assert result["n"] == 270 and result["condition"] == f"{perturbation}:{severity}"
            assert result["bound"] <= result["value"]
    # the perturbations bite on real signs: the worst weather costs recall, stronger blur costs more
    worst = min(results[f"SR-WEATHER-STOP-RECALL@{p}:3"]["value"] for p in ("rain", "fog", "snow", "sun_flare"))
    assert worst < clean["value"]
    drops = [results[f"SR-CORRUPTION-ACCURACY-DROP@pixelate:{s}"]["value"] for s in (1, 2)]
    assert drops[0] <= drops[1] and drops[1] > 0


def test_evidence_on_real_signs_matches_its_snapshot(runs_on_real_signs):
    """Every case's verdict, value, bound and n as committed in tests/snapshots/gtsrb_abis47_final_test_subset.json."""
    assert_evidence_matches_snapshot(runs_on_real_signs[0], "gtsrb_abis47_final_test_subset")


def test_uncertainty_on_real_signs_with_polish_signs_as_near_ood(runs_on_real_signs):
    run, _ = runs_on_real_signs
    assert run.returncode in (0, 1), run.output
    results = {r["id"]: r for r in run.evidence["requirements"]}
    given = results["SR-OOD-GIVEN-SEPARATION-Polish_Test"]
    assert given["details"]["n_out_of_distribution"] == 9 and given["details"]["ood_kind"] == "near"
    assert results["SR-OOD-SEPARATION-noise"]["details"]["ood_kind"] == "far"
    for key in ("SR-CALIBRATION-ECE", "SR-CALIBRATION-MCE", "SR-OOD-FALSE-ALARM", "SR-OOD-FAR-ALARM-noise"):
        assert results[key]["verdict"] == verdict_by_the_rules(results[key]), key
    for key in ("SR-OOD-FALSE-ALARM", "SR-OOD-FAR-ALARM-noise"):
        # the image-level bound is exact Clopper-Pearson; the judged one, over groups, never claims more
        independence = results[key]["independence"]
        image_bound = results[key]["bound"] if independence["independence"] == "images" else independence["image_bound"]
        assert image_bound == pytest.approx(independent_clopper_pearson(results[key]), abs=1e-6), key
        ceiling = results[key]["direction"] == "<="
        assert (results[key]["bound"] - image_bound) * (1 if ceiling else -1) >= -1e-9, key
    # no --reference: the ingest's own thirds are the in-distribution data, and drift cannot be judged
    assert results["SR-INGEST-DRIFT"]["verdict"] == "not_applicable"
    assert "no --reference" in results["SR-OOD-FALSE-ALARM"]["details"]["reference"]
