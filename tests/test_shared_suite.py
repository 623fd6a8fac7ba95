"""The safety suite on the real GTSRB test set with each real third-party model (../shared).

The evidence's accuracy and stop-sign recall are checked against an independent computation
written here: its own decoding, resizing and preprocessing, its own forward pass, its own counts.
"""

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from harness import tf_runtime

CARDS = Path(__file__).parent / "shared_model_cards"
INTERPOLATION = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}
MODELS = [
    # folder, file, loader module, (height, width), channels, (lo, hi), resize as in its card
    ("abis47", "traffic_classifier.h5", "keras", (30, 30), "RGB", (0, 255), "bicubic"),
    ("nabagata", "traffic_classifier.h5", "tf_keras", (30, 30), "RGB", (0, 255), "bicubic"),
    ("nvarshi2004", "traffic_sign_model.keras", "keras", (32, 32), "BGR", (0, 1), "bilinear"),
    ("ikreza_gray", "traffic_sign.hdf5", "tf_keras", (32, 32), "GRAY", (-1, 0.9921875), "bilinear"),
]


def independent_predictions(model_path, loader, size, channels, value_range, resize, test_set):
    rows = [line.split(";") for line in (test_set / "GT-final_test.csv").read_text().splitlines()[1:]]
    labels = np.array([int(row[7]) for row in rows])
    images = np.stack([cv2.resize(np.asarray(Image.open(test_set / "Images" / row[0]).convert("RGB")),
                                  size[::-1], interpolation=INTERPOLATION[resize]) for row in rows]).astype(np.float32)
    if channels == "BGR":
        images = images[..., ::-1]
    elif channels == "GRAY":
        images = images.mean(axis=-1, keepdims=True)
    lo, hi = value_range
    images = lo + images * (hi - lo) / 255
    model = getattr(tf_runtime, loader)().models.load_model(model_path, compile=False)
    predicted = np.concatenate([model(images[i:i + 512], training=False).numpy().argmax(1)
                                for i in range(0, len(images), 512)])
    return labels, predicted


@pytest.mark.parametrize("folder, name, loader, size, channels, value_range, resize", MODELS,
                         ids=[m[0] for m in MODELS])
def test_evidence_agrees_with_an_independent_computation(run_safety_suite, shared_path, folder, name, loader, size,
                                                         channels, value_range, resize):
    model_path, test_set = shared_path("models", folder, name), shared_path("gtsrb", "Final_Test")
    run = run_safety_suite(f"--model={model_path}", f"--model-card={CARDS / f'{folder}.yaml'}",
                           f"--ingest={test_set}", "-k", "SR-ACCURACY or SR-STOP-RECALL", name=folder)
    assert run.returncode in (0, 1), run.output
    results = {r["id"]: r for r in run.evidence["requirements"]}
    labels, predicted = independent_predictions(model_path, loader, size, channels, value_range, resize, test_set)
    stop = labels == 14
    assert results["SR-STOP-RECALL"]["n"] == stop.sum() == 270
    assert results["SR-STOP-RECALL"]["successes"] == (predicted[stop] == 14).sum()
    assert results["SR-ACCURACY"]["value"] == pytest.approx((predicted == labels).mean(), abs=0.01)
    # the verdict follows the rules: a floor missed by the estimate fails, one missed only by the bound is
    # insufficient evidence (270 stop signs cannot show recall >= 0.99 even with none missed)
    assert results["SR-STOP-RECALL"]["verdict"] in ("fail", "insufficient_evidence")
    expected = "fail" if results["SR-STOP-RECALL"]["value"] < 0.99 else "insufficient_evidence"
    assert results["SR-STOP-RECALL"]["verdict"] == expected
    assert run.evidence["gate"] == "fail" and run.returncode == 1


def test_the_42_output_savedmodel_gets_its_clear_error(run_safety_suite, shared_path):
    run = run_safety_suite(f"--model={shared_path('models', 'jovanzac', 'saved_model')}",
                           f"--model-card={CARDS / 'jovanzac.yaml'}", f"--ingest={shared_path('gtsrb', 'Final_Test')}",
                           name="jovanzac")
    assert run.returncode == 4 and "Traceback" not in run.output
    assert "has 42 outputs but card" in run.output and "How to fix:" in run.output
