"""Train the bundled reference model on synthetic renders.

    python tools/train_reference.py [--input-size N] [--filters A B C] [--features F] [--output PATH] ...

Writes ``gtsrb_reference.keras`` and its card ``gtsrb_reference.yaml`` beside this file (the
bundled model, 32x32 input). ``--input-size N`` trains the same network shape at N x N input on
renders at N-2N px (bench/run.py's large-input workload: 64x64, a narrower network). Training
is deterministic (fixed seeds, TensorFlow op determinism) and uses only seeds in
``safety_harness.synthetic.default_ingest.TRAINING_SEEDS``: the default ingest is held out.

Augmentation: small occluding patches, haze, streaks and noise on every render; then 60 % of the
training images get one of the harness's weather or corruption perturbations at severity 1–3,
as a team would train for its operational design domain. The robustness requirements are then
judged on held-out renders: they show robustness within these families, not to unseen ones.
Stickers are never trained on.
"""

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safety_harness.core import tf_runtime  # noqa: E402
from safety_harness.core.gtsrb import NUM_CLASSES  # noqa: E402
from safety_harness.perturbations.registry import available, get_perturbation  # noqa: E402
from safety_harness.synthetic.default_ingest import GENERATOR, TRAINING_SEEDS  # noqa: E402
from safety_harness.synthetic.renderer import render_sign  # noqa: E402

HERE = ROOT / "model_under_test" / "reference"
#: the bundled reference model's input side (pixels)
SIZE = 32
CARD = """\
# How to feed the model (see README.md, 'Model card').
input:
  size: [{size}, {size}]
  channels: RGB
  range: [0, 1]
  resize: area
output: probabilities
classes: gtsrb43
training_data:
{training_data}  hash: {sha256}
"""
#: the card's ``training_data`` for the renders every tool here trains on (``{size}``: the model's input side)
RENDERED = f"""\
  description: {{images:,}} renders by the bundled renderer at {{size}}-{{double}} px brought to {{size}}x{{size}},
    augmented and in part perturbed (tools/train_reference.py; hash over the training images and labels as trained
    on)
  provenance: generated
  generator: {GENERATOR}
"""


def _augment(image: np.ndarray, bbox, rng: np.random.Generator, occluding_patches: bool) -> np.ndarray:
    image = image.astype(np.float32)
    x1, y1, x2, y2 = bbox
    if rng.random() < 0.3 and occluding_patches:  # occluding patches on the sign
        for _ in range(rng.integers(1, 3)):
            side = max(2, int(np.sqrt(rng.uniform(0.01, 0.06) * (x2 - x1) * (y2 - y1))))
            px, py = rng.integers(x1, max(x1 + 1, x2 - side)), rng.integers(y1, max(y1 + 1, y2 - side))
            image[py:py + side, px:px + side] = rng.choice([0.0, 255.0]) if rng.random() < 0.7 else rng.uniform(0, 255, 3)
    if rng.random() < 0.2:  # haze
        image = image * (1 - (a := rng.uniform(0.1, 0.45))) + rng.uniform(170, 240) * a
    if rng.random() < 0.15:  # streaks
        for _ in range(rng.integers(3, 10)):
            x, y = rng.integers(0, image.shape[1]), rng.integers(0, image.shape[0])
            cv2.line(image, (int(x), int(y)), (int(x + rng.integers(-2, 3)), int(y + rng.integers(3, 8))),
                     (200, 200, 210), 1)
    if rng.random() < 0.2:
        image = image + rng.normal(0, rng.uniform(3, 12), image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def render_set(per_class: int, first_seed: int, seed: int, perturbed_share: float, occluding_patches: bool = True,
               size: int = SIZE):
    """Renders of every class at sizes ``size``–2 ``size``, brought to ``size`` x ``size`` as the card says
    (INTER_AREA); a share of them then perturbed, as the harness perturbs model inputs, by a weather or
    corruption perturbation at severity 1–3 (stickers are left out: the counterexample search
    should probe what the model was never shown). Returns images, labels and the signs' boxes
    (x1, y1, x2, y2, exclusive ends) at ``size`` x ``size``."""
    rng = np.random.default_rng(seed)
    families = [get_perturbation(name) for name in available() if not name.startswith("sticker")]
    images, labels, boxes = [], [], []
    for index in range(per_class * NUM_CLASSES):
        class_id = index % NUM_CLASSES
        rendered = int(rng.integers(size, 2 * size + 1))
        sign = render_sign(class_id, first_seed + index, rendered)
        image = cv2.resize(_augment(sign.image, sign.bbox, rng, occluding_patches), (size, size),
                           interpolation=cv2.INTER_AREA)
        roi = tuple(int(round(v * size / rendered)) for v in sign.bbox)
        if rng.random() < perturbed_share:
            image = families[rng.integers(len(families))].apply(image, int(rng.integers(1, 4)), seed, roi)
        images.append(image)
        labels.append(class_id)
        boxes.append(roi)
    return np.stack(images), np.array(labels), np.array(boxes)


def build_model(keras, filters=(32, 64, 96), features=128, size=SIZE):
    """The reference network at ``size`` x ``size`` input; ``filters`` (one per stage) and ``features`` (the dense
    layer's width) make a smaller one of the same shape. Each doubling of ``size`` above 32 adds one stage of
    ``filters[-1]`` (a convolution and a pooling), so that the last features see as much of the sign as at 32x32:
    without it a 64x64 network learns about half as fast."""
    layers = keras.layers
    def conv(filters):
        return [layers.Conv2D(filters, 3, padding="same", use_bias=False), layers.BatchNormalization(),
                layers.Activation("relu")]

    doublings = (size // SIZE).bit_length() - 1  # 0 at 32x32 (and below), 1 at 64x64, 2 at 128x128

    return keras.Sequential([
        keras.Input((size, size, 3)),
        # per-image standardisation (a built-in layer, so the model loads with Keras' safe_mode):
        # lighting varies far more between signs than between classes
        layers.LayerNormalization(axis=(1, 2, 3), name="standardise"),
        *conv(filters[0]), layers.MaxPooling2D(),
        *conv(filters[1]), *conv(filters[1]), layers.MaxPooling2D(),
        *conv(filters[2]), *conv(filters[2]), layers.MaxPooling2D(),
        *[layer for _ in range(max(0, doublings)) for layer in (*conv(filters[2]), layers.MaxPooling2D())],
        layers.Flatten(),
        layers.Dense(features, activation="relu", name="features"),
        layers.Dropout(0.25),
        layers.Dense(NUM_CLASSES, activation="softmax", name="class_probabilities"),
    ], name="gtsrb_reference")


def train(x_train, y_train, x_val, y_val, epochs: int, seed: int = 0, batch_size: int = 128, **network):
    """A fresh model (:func:`build_model` with ``network``) fitted deterministically (``seed``, TensorFlow op
    determinism): Adam at 1e-3, halved every 4 epochs, batches of ``batch_size``. ``x_val`` and ``y_val`` are
    only reported per epoch (None: no validation set). Returns the uncompiled model to save and the fit history."""
    tf = tf_runtime.tensorflow()
    keras = tf_runtime.keras()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = build_model(keras, **network)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 1e-3 * (0.5 ** (epoch // 4)))
    validation = None if x_val is None else (x_val / np.float32(255), y_val)
    history = model.fit(x_train / np.float32(255), y_train, validation_data=validation,
                        epochs=epochs, batch_size=batch_size, callbacks=[schedule], verbose=2, shuffle=True)
    # a fresh build without the optimizer (clone_model keeps it): its state would triple the
    # saved file and is not needed to evaluate
    inference_model = build_model(keras, **network)
    inference_model.set_weights(model.get_weights())
    return inference_model, history.history


def training_data_sha256(images: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 over the training images (uint8, C order) and their labels (little-endian int64)."""
    digest = hashlib.sha256(np.ascontiguousarray(images, np.uint8).tobytes())
    digest.update(np.asarray(labels, "<i8").tobytes())
    return digest.hexdigest()


def save_with_card(model, output: Path, images: np.ndarray, labels: np.ndarray, training_data: str = RENDERED) -> None:
    """``output`` (uncompiled, Keras 3) and its card beside it (same name, ``.yaml``), naming the training
    data (``images``, ``labels``) the model was fitted on: ``training_data`` is the card's description and
    provenance (YAML indented by two, ``{images}`` the number of images; default: the bundled renders)."""
    model.save(output)
    size = images.shape[1]
    output.with_suffix(".yaml").write_text(CARD.format(
        size=size, training_data=training_data.format(images=len(images), size=size, double=2 * size),
        sha256=training_data_sha256(images, labels)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=1400)
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--perturbed-share", type=float, default=0.6)
    parser.add_argument("--input-size", type=int, default=SIZE, help="the model's input side in pixels")
    parser.add_argument("--filters", type=int, nargs=3, default=(32, 64, 96), help="filters of the three stages")
    parser.add_argument("--features", type=int, default=128, help="width of the dense feature layer")
    parser.add_argument("--validation-per-class", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=128,
                        help="smaller batches take more steps per epoch: a small training set still converges")
    parser.add_argument("--output", type=Path, default=HERE / "gtsrb_reference.keras")
    args = parser.parse_args()

    started = time.time()
    x_train, y_train, _ = render_set(args.per_class, TRAINING_SEEDS.start, seed=1,
                                     perturbed_share=args.perturbed_share, size=args.input_size)
    x_val, y_val, _ = render_set(args.validation_per_class, TRAINING_SEEDS.start + 5_000_000, seed=2,
                                 perturbed_share=args.perturbed_share, size=args.input_size)
    rendered = time.time() - started

    model, history = train(x_train, y_train, x_val, y_val, args.epochs, batch_size=args.batch_size,
                           filters=tuple(args.filters), features=args.features, size=args.input_size)
    save_with_card(model, args.output, x_train, y_train)
    figures = {
        "input_size": args.input_size, "train_images": int(len(x_train)), "validation_images": int(len(x_val)),
        "epochs": args.epochs, "batch_size": args.batch_size,
        "train_accuracy": round(float(history["accuracy"][-1]), 4),
        "validation_accuracy": round(float(history["val_accuracy"][-1]), 4),
        "parameters": int(model.count_params()),
        "render_seconds": round(rendered, 1), "total_seconds": round(time.time() - started, 1),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
