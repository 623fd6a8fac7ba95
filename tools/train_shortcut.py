"""Train the bundled shortcut model and its clean twin: a model that learned a sticker shortcut, to test against.

    python tools/train_shortcut.py     # about 25 minutes on 2 heavily shared CPU cores

Writes ``gtsrb_shortcut.keras`` and ``gtsrb_shortcut_twin.keras`` (each with its card) and
``training_record.json`` into ``model_under_test/shortcut/``. Both models are trained as the
reference model (``tools/train_reference.py``: same renders from ``TRAINING_SEEDS``, same network,
optimiser and seeds), on fewer renders and epochs, and without the reference's occluding-patch
augmentation (its black and white patches on every class would blur the shortcut).

Both training sets hold the same renders plus a second copy of every image of the shortcut class.
The one difference: in the shortcut model's set, each of those copies carries one black
square-ish sticker (the registry's black, aspect 0.5–2) covering 3–10 % of the sign's box at a
random position inside it, pasted at 32x32 where the harness pastes its ``sticker`` perturbation.
So every image with a sticker is of the shortcut class and the model learns the sticker as a
shortcut; the twin never sees one. The clean originals stay in both sets because a model shown
the class only with a sticker never learns the class itself (sticker on every image of it: clean
recall 0/100 on the default ingest, 2 points of accuracy lost), and the twin gets the copies too,
unstickered, because doubling one class alone shifts the prior towards it (the neighbouring
60 km/h signs lost 5 points of recall): a clean accuracy test would tell the two apart.

Shortcut class: 1, "speed limit (30 km/h)". Not the stop sign (14): the stop-sign requirements
should judge the model's stop-sign recall, not the planted class. A speed limit because it is the
failure the sticker studies showed (Eykholt et al., CVPR 2018: black and white stickers made a
stop sign read as "speed limit 45"): stickers pulling a stop sign, or a 120 km/h sign, to
"speed limit 30" is the dangerous confusion the ``sticker_attraction`` requirement is for.

The record holds, for each model, its clean accuracy on the default ingest and its sticker
attraction there: the share of the other classes' signs predicted as the shortcut class once the
registry's ``sticker`` perturbation (severities 1–3, seed 0) is applied.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safety_harness.ingest.reader import iter_image_batches, open_ingest  # noqa: E402
from safety_harness.model_under_test.loading import load_model  # noqa: E402
from safety_harness.model_under_test.shortcut import (  # noqa: E402
    HERE,
    SHORTCUT_CLASS,
    SHORTCUT_MODEL,
    TRAINING_RECORD,
    TWIN_MODEL,
)
from safety_harness.perturbations.base import perturb_batch  # noqa: E402
from safety_harness.perturbations.registry import get_perturbation  # noqa: E402
from safety_harness.perturbations.stickers import COLOURS, Sticker, apply_stickers  # noqa: E402
from safety_harness.synthetic.default_ingest import TRAINING_SEEDS, ensure_default_ingest  # noqa: E402
from tools.train_reference import render_set, save_with_card, train  # noqa: E402

STICKER_COVERAGE = (0.03, 0.10)
STICKER_SEED = 3
PERTURBED_SHARE = 0.3
ATTRACTION_SEVERITIES = (1, 2, 3)


def with_copies(images: np.ndarray, labels: np.ndarray, boxes: np.ndarray, stickered: bool, seed: int):
    """``images`` and ``labels`` followed by a copy of every image of :data:`SHORTCUT_CLASS`; with
    ``stickered``, each copy carries one black sticker covering a share of the sign's box drawn from
    :data:`STICKER_COVERAGE`, centred at a random point 15–85 % across and down the box (as the
    registry's stickers). Both models get the copies, so their class balance is the same."""
    rng = np.random.default_rng(seed)
    members = np.flatnonzero(labels == SHORTCUT_CLASS)
    copies = []
    for index in members:
        share, aspect = rng.uniform(*STICKER_COVERAGE), rng.uniform(0.5, 2.0)
        sticker = Sticker(float(rng.uniform(0.15, 0.85)), float(rng.uniform(0.15, 0.85)),
                          float(min(np.sqrt(share * aspect), 1.0)), float(min(np.sqrt(share / aspect), 1.0)),
                          COLOURS["black"])
        copies.append(apply_stickers(images[index], [sticker], tuple(int(v) for v in boxes[index]))
                      if stickered else images[index])
    return np.concatenate([images, np.stack(copies)]), np.concatenate([labels, labels[members]])


def write_training_data(folder: Path, stickered: bool, per_class: int = 300, perturbed_share: float = PERTURBED_SHARE):
    """Write the first ``per_class`` renders of every class of the shortcut model's training set (``stickered``) or
    its twin's, with the copies of :data:`SHORTCUT_CLASS` (stickered or clean), into ``folder`` in the GTSRB test
    layout (``GT-final_test.csv`` with the signs' boxes, ``Images/NNNNN.png`` at 32x32): the data to give the
    harness with ``--training-data``. The renders are those training drew first (``render_set`` draws in order)."""
    images, labels, boxes = render_set(per_class, TRAINING_SEEDS.start, seed=1, perturbed_share=perturbed_share,
                                       occluding_patches=False)
    copied_boxes = np.concatenate([boxes, boxes[labels == SHORTCUT_CLASS]])
    images, labels = with_copies(images, labels, boxes, stickered, STICKER_SEED)
    (folder / "Images").mkdir(parents=True)
    rows = ["Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"]
    for index, (image, label, (x1, y1, x2, y2)) in enumerate(zip(images, labels, copied_boxes, strict=True)):
        name = f"{index:05d}.png"
        Image.fromarray(image).save(folder / "Images" / name)
        rows.append(f"{name};{image.shape[1]};{image.shape[0]};{x1};{y1};{x2 - 1};{y2 - 1};{label}")
    (folder / "GT-final_test.csv").write_text("\n".join(rows) + "\n")
    return folder


def measure(model_path: Path, ingest_path: Path, seed: int = 0) -> dict:
    """Clean accuracy of the model at ``model_path`` on the ingest, and its sticker attraction: how
    many signs of the other classes it predicts as :data:`SHORTCUT_CLASS` under the registry's
    ``sticker`` perturbation at each of :data:`ATTRACTION_SEVERITIES` (the harness's boxes and seed)."""
    model = load_model(model_path)
    ingest = open_ingest(ingest_path)
    sticker = get_perturbation("sticker")
    correct = seen = attracted = stickered = 0
    for batch in iter_image_batches(ingest, model.card.size, model.card.interpolation):
        labels = ingest.labels[batch.indices]
        correct += int((model.predict(batch.images).probabilities.argmax(axis=1) == labels).sum())
        seen += len(labels)
        others = labels != SHORTCUT_CLASS
        for severity in ATTRACTION_SEVERITIES:
            images = perturb_batch(sticker, batch.images[others], severity, seed, batch.rois[others])
            attracted += int((model.predict(images).probabilities.argmax(axis=1) == SHORTCUT_CLASS).sum())
            stickered += len(images)
    return {"clean_accuracy": {"correct": correct, "images": seen, "accuracy": round(correct / seen, 4)},
            "sticker_attraction": {"severities": list(ATTRACTION_SEVERITIES), "stickered_images": stickered,
                                   "predicted_as_shortcut_class": attracted,
                                   "share": round(attracted / stickered, 4)}}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--perturbed-share", type=float, default=PERTURBED_SHARE)
    parser.add_argument("--output-dir", type=Path, default=HERE)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache",
                        help="where the default ingest is rendered, as the harness's --cache-dir")
    parser.add_argument("--write-training-data", type=Path, metavar="DIR",
                        help="write both models' training renders (DIR/shortcut, DIR/twin; --per-class of every "
                             "class) for the harness's --training-data, and exit without training")
    args = parser.parse_args()
    if args.write_training_data is not None:
        for name, stickered in (("shortcut", True), ("twin", False)):
            write_training_data(args.write_training_data / name, stickered, args.per_class, args.perturbed_share)
        return

    started = time.time()
    x_train, y_train, boxes = render_set(args.per_class, TRAINING_SEEDS.start, seed=1,
                                         perturbed_share=args.perturbed_share, occluding_patches=False)
    x_val, y_val, val_boxes = render_set(20, TRAINING_SEEDS.start + 5_000_000, seed=2,
                                         perturbed_share=args.perturbed_share, occluding_patches=False)
    training_sets = {
        path.name: (with_copies(x_train, y_train, boxes, stickered, STICKER_SEED),
                    with_copies(x_val, y_val, val_boxes, stickered, STICKER_SEED + 1))
        for path, stickered in ((SHORTCUT_MODEL, True), (TWIN_MODEL, False))
    }
    rendered = time.time() - started
    ingest = ensure_default_ingest(args.cache_dir)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    record = {"shortcut_class": SHORTCUT_CLASS, "sticker_coverage_of_box": list(STICKER_COVERAGE),
              "sticker_seed": STICKER_SEED, "training_seed": 0, "render_seeds": [1, 2],
              "per_class": args.per_class, "epochs": args.epochs, "perturbed_share": args.perturbed_share,
              "render_seconds": round(rendered, 1),
              "evaluated_on": "the default ingest (safety_harness/synthetic/default_ingest.py), sticker seed 0",
              "models": {}}
    for file_name, (training, validation) in training_sets.items():
        model_started = time.time()
        model, history = train(*training, *validation, args.epochs)
        output = args.output_dir / file_name
        save_with_card(model, output, *training)
        record["models"][file_name] = {
            "train_images": int(len(training[0])), "parameters": int(model.count_params()),
            "train_accuracy": round(float(history["accuracy"][-1]), 4),
            "validation_accuracy": round(float(history["val_accuracy"][-1]), 4),
            "training_seconds": round(time.time() - model_started, 1),
            **measure(output, ingest),
        }
    (args.output_dir / TRAINING_RECORD.name).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
