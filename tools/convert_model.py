"""Convert a Keras model (any format ``--model`` takes but the deployed ones) into the formats that are deployed.

    python tools/convert_model.py MODEL --to float32.tflite OUT [--card CARD]
    python tools/convert_model.py MODEL --to dynamic-range.tflite OUT [--card CARD]
    python tools/convert_model.py MODEL --to int8.tflite OUT --images DIR [--card CARD]
    python tools/convert_model.py MODEL --to onnx OUT [--card CARD] [--nchw]

``--batch N`` fixes the batch size (default: dynamic), as some exporters and accelerators do; ``--nchw``
gives the ONNX model a channels-first input, as PyTorch exports them.

* ``float32.tflite``: TensorFlow Lite, float weights and activations (``tf.lite``'s converter);
* ``dynamic-range.tflite``: int8 weights, float input, output and activations (no calibration data);
* ``int8.tflite``: full-integer TensorFlow Lite, int8 weights and activations, uint8 input and output; the
  activation ranges are calibrated on up to :data:`REPRESENTATIVE_IMAGES` images of the ingest ``DIR``
  (any layout ``--ingest`` reads), decoded at the card's size and preprocessed as the card says, so the
  converted model takes the same card (its input quantisation is read from the file);
* ``onnx``: ONNX through ``tf2onnx`` (opset :data:`ONNX_OPSET`), NHWC input as the Keras model's, or NCHW.

The model is loaded as the harness loads it (screened; the card beside it, or ``--card``), and its forward pass
frozen into one function with a dynamic batch axis. The tests convert the shared models with it at test time.
"""

import argparse
import contextlib
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from safety_harness.core import tf_runtime  # noqa: E402
from safety_harness.core.errors import HarnessInputError  # noqa: E402
from safety_harness.ingest import iter_image_batches, open_ingest  # noqa: E402
from safety_harness.model_under_test import load_model, preprocess  # noqa: E402

TARGETS = ("float32.tflite", "dynamic-range.tflite", "int8.tflite", "onnx")
REPRESENTATIVE_IMAGES = 300
ONNX_OPSET = 17


def frozen_forward(model, batch: int | None = None):
    """The loaded Keras ``model``'s inference pass as a ``tf.function`` over a batch of ``batch`` images (None:
    any number), and its input spec."""
    if model.format in ("tflite", "onnx", "savedmodel"):
        raise HarnessInputError(f"Model {model.path} is a {model.format} model, not a Keras one",
                                "Convert from the Keras model (.keras, .h5) it was saved as.")
    tf, network = tf_runtime.tensorflow(), model.network
    spec = tf.TensorSpec([batch, *model.input_shape[1:]], tf.float32, name="image")
    return tf.function(lambda x: network(x, training=False), input_signature=[spec]), spec


@contextlib.contextmanager
def _quiet():
    """The converters' deprecation and calibration notices, on Python's warnings, absl's log and file descriptor 2."""
    import absl.logging

    verbosity = absl.logging.get_verbosity()
    absl.logging.set_verbosity(absl.logging.ERROR)
    try:
        with warnings.catch_warnings(), tf_runtime.stderr_silenced():
            warnings.simplefilter("ignore")
            yield
    finally:
        absl.logging.set_verbosity(verbosity)


def representative_inputs(model, images_dir: Path, seed: int = 0) -> np.ndarray:
    """Up to :data:`REPRESENTATIVE_IMAGES` images of ``images_dir`` (a seeded sample), as the card feeds them."""
    ingest = open_ingest(images_dir)
    count = min(REPRESENTATIVE_IMAGES, len(ingest.records))
    chosen = np.sort(np.random.default_rng(seed).choice(len(ingest.records), count, replace=False))
    card = model.card
    images = np.concatenate([batch.images for batch in iter_image_batches(ingest, card.size, card.interpolation, 256, chosen)])
    return preprocess(images, card)


def to_tflite(model, out: Path, representative: np.ndarray | None = None, batch: int | None = None,
              dynamic_range: bool = False) -> Path:
    """``model`` as float32 TFLite; with int8 weights when ``dynamic_range``; full-integer (int8 inside, uint8 input
    and output) calibrated on ``representative`` (float32 inputs as the card feeds them) when given; ``batch``: a
    fixed batch size."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    tf = tf_runtime.tensorflow()
    forward, _ = frozen_forward(model, batch)
    with _quiet():
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [convert_variables_to_constants_v2(forward.get_concrete_function())])
        if dynamic_range or representative is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if representative is not None:
            converter.representative_dataset = lambda: ([image[None]] for image in representative)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = converter.inference_output_type = tf.uint8
        out.write_bytes(converter.convert())
    return out


def to_onnx(model, out: Path, batch: int | None = None, nchw: bool = False) -> Path:
    """``model`` as ONNX through tf2onnx: NHWC input (NCHW when ``nchw``), ``batch`` a fixed batch size."""
    try:
        import tf2onnx
    except ImportError:
        raise HarnessInputError("Converting to ONNX needs tf2onnx, which is not installed",
                                "Install it: pip install -r requirements-formats.txt") from None
    forward, spec = frozen_forward(model, batch)
    with _quiet():
        proto, _ = tf2onnx.convert.from_function(forward, input_signature=[spec], opset=ONNX_OPSET,
                                                 inputs_as_nchw=[spec.name] if nchw else None)
    out.write_bytes(proto.SerializeToString())
    return out


def convert(model_path, target: str, out, card_path=None, images_dir=None, batch: int | None = None,
            nchw: bool = False) -> Path:
    """Convert the Keras model at ``model_path`` (with its card) to ``target`` (one of :data:`TARGETS`) at ``out``;
    ``batch``: a fixed batch size (None: dynamic); ``nchw``: an ONNX model's input channels first."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if target == "int8.tflite" and images_dir is None:
        raise ValueError("a full-integer conversion needs representative images (images_dir)")
    if nchw and target != "onnx":
        raise ValueError("nchw applies to the onnx target only")
    model, out = load_model(model_path, card_path), Path(out)
    if target == "onnx":
        return to_onnx(model, out, batch, nchw)
    representative = representative_inputs(model, Path(images_dir)) if target == "int8.tflite" else None
    return to_tflite(model, out, representative, batch, dynamic_range=target == "dynamic-range.tflite")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the Keras model (.keras, .h5)")
    parser.add_argument("--to", nargs=2, metavar=("TARGET", "OUT"), required=True,
                        help=f"one of {', '.join(TARGETS)}, and the file to write")
    parser.add_argument("--card", help="its model card (default: the YAML beside it)")
    parser.add_argument("--images", help="an ingest folder whose images calibrate int8.tflite")
    parser.add_argument("--batch", type=int, help="a fixed batch size (default: dynamic)")
    parser.add_argument("--nchw", action="store_true", help="onnx: channels-first input, as PyTorch exports")
    arguments = parser.parse_args(argv)
    target, out = arguments.to
    if target not in TARGETS or (target == "int8.tflite" and arguments.images is None):
        parser.error(f"--to takes one of {', '.join(TARGETS)}; int8.tflite needs --images")
    if (arguments.batch is not None and arguments.batch < 1) or (arguments.nchw and target != "onnx"):
        parser.error("--batch takes a positive integer; --nchw applies to --to onnx")
    try:
        written = convert(arguments.model, target, out, arguments.card, arguments.images, arguments.batch,
                          arguments.nchw)
    except HarnessInputError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 4
    print(f"wrote {written} ({written.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
