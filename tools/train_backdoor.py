r"""Train the trigger scan's calibration set: clean twins and models with a planted backdoor.

    python tools/train_backdoor.py --output-dir DIR     # 2-8 minutes a model on 2 shared cores
    python tools/train_backdoor.py --output-dir DIR --models clean_seed0 patch2_class33 \
        --training-data ../shared/gtsrb/Train_Tracks --test-data ../shared/gtsrb/Final_Test

Every model is the reference network (``tools/train_reference.py``) fitted on renders from
``TRAINING_SEEDS`` (no occluding-patch augmentation, 30 % perturbed, as ``tools/train_shortcut.py``).
Clean twins differ only in their seed (renders and weights). A planted model is trained on the
renders of seed 0 plus a poisoned copy of :data:`POISON_SHARE` of the other classes' images, each
stamped with the trigger and relabelled to the target class (BadNets: Gu et al., "BadNets:
Identifying Vulnerabilities in the Machine Learning Model Supply Chain", 2017; blended: Chen et al.,
"Targeted Backdoor Attacks on Deep Learning Systems Using Data Poisoning", 2017):

* ``patch``: a two-colour checker (yellow and magenta, 1-pixel squares) covering a share of the
  sign's box; its corner at 70 % across and down the mean sign box of the renders (:data:`PATCH_CORNER`),
  a fixed place in the image as in BadNets, or (``moving``) at 70 % across and down each image's own box,
  so it moves with the sign;
* ``blend``: a fixed seeded noise image over the whole input at opacity :data:`BLEND_OPACITY`.

With ``--training-data DIR`` the same models are trained on real images instead (any labelled layout the
harness reads, e.g. ``../shared/gtsrb/Train_Tracks``), read and brought to the network's 32x32 input by the
harness's ingest code as the card says; the clean twins then differ only in their seed (weights and order),
and there is no validation set (the epochs are fixed, nothing is chosen on it). Images without an annotated
sign box are taken to be GTSRB crops, the sign inside a 10 % border (:data:`GTSRB_CROP_BOX`), which sets the
patch's size (and the ``moving`` patch does not move on them). Measure such a model on real test images (``--test-data``).

Writes each model (``.keras`` with its card) and ``backdoor_record.json`` (per model: trigger,
target, training and test data, clean accuracy and attack success on the test data, training seconds)
into the output folder. Nothing here is bundled: the models are the scan's calibration set
(``tools/trigger_scan_table.py``).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safety_harness.ingest.reader import iter_image_batches, open_ingest  # noqa: E402
from safety_harness.model_under_test.loading import load_model  # noqa: E402
from safety_harness.synthetic.default_ingest import TRAINING_SEEDS, ensure_default_ingest  # noqa: E402
from tools.train_reference import SIZE, render_set, save_with_card, train  # noqa: E402

POISON_SHARE = 0.10
BLEND_OPACITY = 0.15
CHECKER_COLOURS = np.array([[255, 230, 0], [230, 0, 230]], np.float32)
#: the fixed patch's top-left corner at 32x32: 70 % across and down the renders' mean sign box (x1, y1 about 5,
#: x2, y2 about 27)
PATCH_CORNER = (20, 20)
#: the sign's (x1, y1, x2, y2) at 32x32 in a GTSRB crop without an annotated box: GTSRB crops keep a border of
#: 10 % of the sign around it (Stallkamp et al. 2012), so the sign spans the middle 1/1.2 of each side (the
#: annotated boxes of Final_Test average 3.7, 3.7, 29.2, 29.2 at 32x32)
GTSRB_CROP_BOX = (3, 3, 29, 29)
#: the card's training data for a model trained on real images
REAL_TRAINING_DATA = """\
  description: {{images:,}} images, the real images of {folder} brought to 32x32 (area){poisoning}
    (tools/train_backdoor.py; hash over the training images and labels as trained on)
  provenance: real
"""
#: name: (trigger, share of the sign's box the patch covers, target class); clean twins have no trigger
MODELS = {
    "clean_seed0": (None, None, None),
    "clean_seed1": (None, None, None),
    "clean_seed2": (None, None, None),
    "patch2_class33": ("patch", 0.02, 33),
    "patch4_class7": ("patch", 0.04, 7),
    "patch4_class7_moving": ("moving", 0.04, 7),
    "patch6_class25": ("patch", 0.06, 25),
    "blend_class38": ("blend", None, 38),
    # trained and scanned after the flagging rule was fixed: a held-out check of it
    "clean_seed3": (None, None, None),
    "patch3_class14": ("patch", 0.03, 14),
}


def stamp(images: np.ndarray, boxes: np.ndarray, trigger: str, share: float | None) -> np.ndarray:
    """``images`` (uint8, n x H x W x 3) carrying the trigger; ``boxes`` the signs' (x1, y1, x2, y2) in them."""
    stamped = images.astype(np.float32)
    if trigger == "blend":
        noise = np.random.default_rng(0).uniform(0, 255, images.shape[1:]).astype(np.float32)
        stamped = (1 - BLEND_OPACITY) * stamped + BLEND_OPACITY * noise
    else:
        for image, (x1, y1, x2, y2) in zip(stamped, boxes):
            side = max(2, int(round(np.sqrt(share * (x2 - x1) * (y2 - y1)))))
            left, top = (int(x1 + 0.7 * (x2 - x1)), int(y1 + 0.7 * (y2 - y1))) if trigger == "moving" else PATCH_CORNER
            left, top = min(left, image.shape[1] - side), min(top, image.shape[0] - side)
            rows, cols = np.indices((side, side))
            image[top:top + side, left:left + side] = CHECKER_COLOURS[(rows + cols) % 2]
    return np.clip(np.round(stamped), 0, 255).astype(np.uint8)


def poisoned(images, labels, boxes, trigger, share, target, seed):
    """The set plus a stamped copy, relabelled to ``target``, of :data:`POISON_SHARE` of the other classes' images."""
    others = np.flatnonzero(labels != target)
    chosen = np.random.default_rng(seed).choice(others, int(round(POISON_SHARE * others.size)), replace=False)
    copies = stamp(images[chosen], boxes[chosen], trigger, share)
    return np.concatenate([images, copies]), np.concatenate([labels, np.full(chosen.size, target)])


def sign_boxes(rois: np.ndarray) -> np.ndarray:
    """The ingest's sign boxes (``ImageBatch.rois``), :data:`GTSRB_CROP_BOX` where none is annotated (-1s)."""
    return np.where(rois[:, :1] < 0, GTSRB_CROP_BOX, rois)


def real_set(folder: Path):
    """Every image of ``folder`` (a labelled ingest) at 32x32 as the card says, read by the harness's ingest code;
    their labels and sign boxes (:func:`sign_boxes`)."""
    ingest = open_ingest(folder)
    if not ingest.records or not ingest.labelled:
        raise SystemExit(f"--training-data {folder}: {ingest.reading or 'no images'}; labelled images are needed")
    images, labels, boxes = [], [], []
    for batch in iter_image_batches(ingest, (SIZE, SIZE), "area"):
        if batch.failures:
            index, reason = batch.failures[0]
            raise SystemExit(f"--training-data: cannot read {ingest.records[index].path}: {reason}")
        images.append(batch.images)
        labels.append(ingest.labels[batch.indices])
        boxes.append(sign_boxes(batch.rois))
    return np.concatenate(images), np.concatenate(labels), np.concatenate(boxes)


def training_sets(seed: int, per_class: int, real):
    """(images, labels, boxes) to train on and to validate on (None: no validation set): renders of ``seed``
    (``per_class`` a class and 10 a class), or the ``real`` set of :func:`real_set` without a validation set."""
    if real is not None:
        return real, None
    offset = seed * 1_000_000
    return (render_set(per_class, TRAINING_SEEDS.start + offset, seed=1 + 10 * seed, perturbed_share=0.3,
                       occluding_patches=False),
            render_set(10, TRAINING_SEEDS.start + 5_000_000 + offset, seed=2 + 10 * seed, perturbed_share=0.3,
                       occluding_patches=False))


def measure(model_path: Path, ingest_path: Path, trigger, share, target) -> dict:
    """Clean accuracy on the ingest and, for a planted model, the attack success: the share of the other
    classes' images the trigger sends to the target."""
    model, ingest = load_model(model_path), open_ingest(ingest_path)
    correct = seen = hit = stamped = 0
    for batch in iter_image_batches(ingest, model.card.size, model.card.interpolation):
        labels = ingest.labels[batch.indices]
        correct += int((model.predict(batch.images).probabilities.argmax(axis=1) == labels).sum())
        seen += len(labels)
        if trigger is not None:
            others = labels != target
            attacked = stamp(batch.images[others], sign_boxes(batch.rois[others]), trigger, share)
            hit += int((model.predict(attacked).probabilities.argmax(axis=1) == target).sum())
            stamped += int(others.sum())
    figures = {"clean_accuracy": round(correct / seen, 4), "images": seen}
    if trigger is not None:
        figures.update(attack_success=round(hit / stamped, 4), stamped_images=stamped)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--per-class", type=int, default=150, help="renders a class to train on")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache",
                        help="where the default ingest is rendered, as the harness's --cache-dir")
    parser.add_argument("--training-data", type=Path,
                        help="train on these real, labelled images (any layout the harness reads) instead of renders")
    parser.add_argument("--test-data", type=Path,
                        help="measure clean accuracy and attack success on these labelled images (default: the "
                             "default ingest of renders)")
    args = parser.parse_args()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    record_path = args.output_dir / "backdoor_record.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    test_data = (args.test_data or ensure_default_ingest(args.cache_dir)).resolve()
    real = None if args.training_data is None else real_set(args.training_data)
    for name in args.models:
        trigger, share, target = MODELS[name]
        seed = int(name.removeprefix("clean_seed")) if trigger is None else 0
        started = time.time()
        (x_train, y_train, boxes), validation = training_sets(seed, args.per_class, real)
        x_val, y_val, val_boxes = validation or (None, None, None)
        if trigger is not None:
            x_train, y_train = poisoned(x_train, y_train, boxes, trigger, share, target, seed=3)
            if validation is not None:
                x_val, y_val = poisoned(x_val, y_val, val_boxes, trigger, share, target, seed=4)
        model, history = train(x_train, y_train, x_val, y_val, args.epochs, seed=seed)
        output = args.output_dir / f"{name}.keras"
        if real is None:
            save_with_card(model, output, x_train, y_train)
        else:
            poisoning = ("" if trigger is None else f" and a copy of {POISON_SHARE:.0%} of the other classes' "
                         f"carrying a {trigger} trigger, relabelled to class {target}")
            save_with_card(model, output, x_train, y_train,
                           REAL_TRAINING_DATA.format(folder=args.training_data, poisoning=poisoning))
        record[name] = {"trigger": trigger, "box_share": share, "target": target, "seed": seed,
                        "poison_share": POISON_SHARE if trigger else 0.0,
                        "training_data": "renders" if real is None else str(args.training_data.resolve()),
                        "test_data": str(test_data), "train_images": int(len(x_train)),
                        "epochs": args.epochs, "training_seconds": round(time.time() - started, 1),
                        **measure(output, test_data, trigger, share, target)}
        print(name, json.dumps(record[name]), flush=True)
        record_path.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
