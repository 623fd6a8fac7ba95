"""Batched inference: the card's preprocessing, one compiled forward pass, and output validation."""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from safety_harness.core import tf_runtime
from safety_harness.core.errors import HarnessInputError
from safety_harness.model_under_test.card import Equalisation, ModelCard

PROBABILITY_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ModelOutputs:
    """What one forward pass gives for a batch.

    ``logits`` are present only when the card says the model outputs logits (then
    ``probabilities`` is their softmax); ``features`` is the penultimate representation
    (the input of the last Dense layer), None when the model's layers are not accessible;
    ``member_probabilities`` (n, members, classes) each member's probabilities when the model is
    an ensemble (:mod:`model_under_test.ensemble`), else None.
    """

    probabilities: np.ndarray
    logits: np.ndarray | None
    features: np.ndarray | None
    member_probabilities: np.ndarray | None = None


class Forward:
    """One compiled ``tf.function`` over a batch dimension of any size: outputs and, where
    accessible, penultimate features in the same pass. (A deployed model's runtime has the same interface:
    :class:`~safety_harness.model_under_test.deployed.DeployedForward`.)"""

    #: why the model cannot be differentiated nor its layers run one by one (None: it can)
    gradients_unavailable_reason = None
    #: how a deployed model is run (None: in TensorFlow, as loaded)
    runtime = None
    #: the step of a quantised output (None: a float output)
    output_step = None

    def __init__(self, network, loader: str):
        tf = tf_runtime.tensorflow()
        self.features_unavailable_reason = None
        if loader == "tf.saved_model":
            signature = network.signatures["serving_default"]
            (input_name, input_spec), = signature.structured_input_signature[1].items()
            (output_name, output_spec), = signature.structured_outputs.items()
            self.input_shape = tuple(input_spec.shape.as_list())
            self.output_shape = tuple(output_spec.shape.as_list())
            # a plain tf.Module restores without a ``variables`` attribute: count what the signature captures
            variables = getattr(network, "variables", None) or signature.variables
            self.num_parameters = int(sum(np.prod(v.shape) for v in variables))
            self.features_unavailable_reason = "a SavedModel exposes only its serving signature, not its layers"

            def call(x):
                return signature(**{input_name: x})[output_name], None
        else:
            self.input_shape = tuple(network.inputs[0].shape)
            self.output_shape = tuple(network.outputs[0].shape)
            self.num_parameters = int(network.count_params())
            two_outputs = self._with_features(network, loader)

            def call(x):
                if two_outputs is None:
                    return network(x, training=False), None
                features, outputs = two_outputs(x, training=False)
                return outputs, features

        self._network = network  # keeps the variables of the traced function alive
        spec = tf.TensorSpec([None, *self.input_shape[1:]], tf.float32)
        self._compiled = tf.function(call, input_signature=[spec], reduce_retracing=True)

    def _with_features(self, network, loader):
        keras = tf_runtime.keras() if loader == "keras" else tf_runtime.tf_keras()
        dense_layers = [layer for layer in network.layers if isinstance(layer, keras.layers.Dense)]
        if not dense_layers:
            self.features_unavailable_reason = "the model has no Dense layer whose input could serve as features"
            return None
        try:
            return keras.Model(network.inputs, [dense_layers[-1].input, network.outputs[0]])
        except Exception as error:  # noqa: BLE001 — a model we cannot split still predicts
            self.features_unavailable_reason = f"the penultimate layer is not reachable ({type(error).__name__})"
            return None

    @property
    def network(self):
        """The loaded network itself (a Keras or tf_keras model, or a SavedModel object)."""
        return self._network

    def facts(self) -> dict:
        """What a run needs to know about the forward pass before calling it (JSON-able): shapes, parameter
        count, why features or gradients are unavailable (None: available), and a deployed model's runtime."""
        return {"input_shape": list(self.input_shape), "output_shape": list(self.output_shape),
                "num_parameters": self.num_parameters,
                "features_unavailable_reason": self.features_unavailable_reason,
                "gradients_unavailable_reason": self.gradients_unavailable_reason, "runtime": self.runtime,
                "output_step": self.output_step}

    def __call__(self, batch: np.ndarray):
        outputs, features = self._compiled(batch)
        return outputs.numpy(), None if features is None else features.numpy().reshape(len(batch), -1)


class DeferredForward:
    """A :class:`Forward` whose network is loaded on first call: its :meth:`Forward.facts` come from an earlier
    run's load of the same file, so a run served entirely from the cache never imports TensorFlow.

    ``load`` returns the :class:`Forward` of the model file whose facts these are."""

    def __init__(self, facts: dict, load):
        self.input_shape = tuple(facts["input_shape"])
        self.output_shape = tuple(facts["output_shape"])
        self.num_parameters = int(facts["num_parameters"])
        self.features_unavailable_reason = facts["features_unavailable_reason"]
        self.gradients_unavailable_reason = facts["gradients_unavailable_reason"]
        self.runtime, self.output_step = facts["runtime"], facts["output_step"]
        self._load, self._loaded = load, None

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def _forward(self) -> Forward:
        if self._loaded is None:
            self._loaded = self._load()
        return self._loaded

    @property
    def network(self):
        return self._forward().network

    def __call__(self, batch: np.ndarray):
        return self._forward()(batch)


def preprocess(images: np.ndarray, card: ModelCard) -> np.ndarray:
    """uint8 RGB (n, H, W, 3) -> float32 as the card says: channel order (or gray: mean, or OpenCV's luma), the
    histogram steps in the card's order on 8-bit channels (a mean gray rounded first), then
    ``lo + v * (hi - lo) / 255``, then ``(x - mean) / std`` per channel."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 of shape (n, H, W, 3), got {images.dtype} {images.shape}")
    if card.channels == "BGR":
        x = images[..., ::-1]
    elif card.channels == "GRAY" and card.gray == "luma":
        x = luma(images)
    elif card.channels == "GRAY":
        x = images.mean(axis=-1, keepdims=True, dtype=np.float32)
        if card.steps:
            x = np.rint(x).astype(np.uint8)
    else:
        x = images
    for step in card.steps:
        x = equalised(x, step)
    lo, hi = card.pixel_range
    x = lo + x.astype(np.float32) * np.float32((hi - lo) / 255.0)
    if card.normalize is not None:
        mean, std = (np.asarray(values, dtype=np.float32) for values in card.normalize)
        x = (x - mean) / std
    return np.ascontiguousarray(x, dtype=np.float32)


def luma(images: np.ndarray) -> np.ndarray:
    """uint8 (n, H, W, 1): 0.299 R + 0.587 G + 0.114 B of uint8 RGB (n, H, W, 3), rounded as OpenCV's
    ``cvtColor(COLOR_RGB2GRAY)`` rounds it (Pillow's ``convert("L")`` differs by at most 1), in one call."""
    n, height, width, _ = images.shape
    if not n:
        return np.zeros((0, height, width, 1), np.uint8)
    rows = cv2.cvtColor(np.ascontiguousarray(images).reshape(n * height, width, 3), cv2.COLOR_RGB2GRAY)
    return rows.reshape(n, height, width, 1)


def equalised(channels: np.ndarray, step: Equalisation) -> np.ndarray:
    """uint8 (n, H, W, C) with each image's every channel equalised by ``step``: OpenCV's ``equalizeHist``, or
    its CLAHE (one image and channel per call: the histogram is the image's own)."""
    apply = cv2.equalizeHist if step.clip_limit is None else cv2.createCLAHE(step.clip_limit, step.tile_grid).apply
    out = np.empty_like(channels)
    for image, channel in np.ndindex(channels.shape[0], channels.shape[-1]):
        out[image, ..., channel] = apply(np.ascontiguousarray(channels[image, ..., channel]))
    return out


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to evaluate, with the identity the report shows."""

    path: Path
    format: str
    loader: str
    sha256: str
    card: ModelCard
    card_path: Path | None
    card_assumed: bool
    load_warnings: tuple[str, ...]
    forward: "Forward | DeferredForward"
    #: what screening checked before the model was deserialised
    safety_checks: tuple[str, ...] = ()
    #: what screening found and --allow-unsafe-model let through (empty for a model that only computes)
    unsafe_allowed: tuple[str, ...] = ()

    @property
    def screening(self) -> dict:
        """What screening checked, and what --allow-unsafe-model let through, as the evidence records it."""
        return {"checked": list(self.safety_checks), "allowed_by_allow_unsafe_model": list(self.unsafe_allowed)}

    @property
    def input_shape(self):
        return self.forward.input_shape

    @property
    def output_shape(self):
        return self.forward.output_shape

    @property
    def num_parameters(self) -> int:
        return self.forward.num_parameters

    @property
    def features_unavailable_reason(self) -> str | None:
        return self.forward.features_unavailable_reason

    @property
    def gradients_unavailable_reason(self) -> str | None:
        """Why the explainers, the trigger scan and MC dropout cannot reach into the model (None: they can)."""
        if self.forward.gradients_unavailable_reason is None and self.card.output_order is not None:
            return ("its card's output_order reorders the model's outputs into class id order, which the explainers, "
                    "the trigger scan and MC dropout, run on the network itself, do not follow")
        return self.forward.gradients_unavailable_reason

    @property
    def runtime(self) -> str | None:
        """How a deployed model (TFLite, ONNX) is run: runtime, input layout and quantisation, batching."""
        return self.forward.runtime

    @property
    def network(self):
        """The loaded network itself (a Keras or tf_keras model, or a SavedModel object), for the explainers."""
        return self.forward.network

    @property
    def network_loaded(self) -> bool:
        """False while the model is taken as an earlier run admitted it and nothing has called it."""
        return not isinstance(self.forward, DeferredForward) or self.forward.loaded

    def predict(self, images: np.ndarray) -> ModelOutputs:
        """One batched forward pass on uint8 RGB images already at the card's size, its outputs in class id order
        (the card's ``output_order``). The rows of a quantised softmax (a TFLite model's integer output) are
        renormalised to sum to 1 after dequantisation."""
        raw, features = self.forward(preprocess(images, self.card))
        raw = raw.astype(np.float32, copy=False)
        if self.card.output_order is not None:
            raw = raw[:, np.argsort(self.card.output_order)]  # column c: the output whose class id is c
        bad_rows = ~np.isfinite(raw).all(axis=1)
        if bad_rows.any():
            raise HarnessInputError(
                f"Model {self.path} gives NaN or infinite outputs for {int(bad_rows.sum())} of {len(raw)} images "
                "in a batch",
                "Check the model's weights and the card's input range: a model fed values far outside its "
                "training range can overflow.",
            )
        if self.card.output == "logits":
            return ModelOutputs(_softmax(raw), raw, features)
        sums = raw.sum(axis=1)
        # a quantised softmax rounds each of its K values to the output step: its rows sum to 1 within K steps / 2
        step = self.forward.output_step
        tolerance = PROBABILITY_TOLERANCE + (0 if step is None else raw.shape[1] * step / 2)
        if (raw < -PROBABILITY_TOLERANCE).any() or np.abs(sums - 1).max() > tolerance:
            raise HarnessInputError(
                f"Model {self.path} outputs rows that are not probabilities (row sums from {sums.min():.3g} "
                f"to {sums.max():.3g}, minimum value {raw.min():.3g}) but its card says output: probabilities",
                "If the model's last layer has no softmax, set 'output: logits' in its card.",
            )
        return ModelOutputs(raw if step is None else raw / sums[:, None], None, features)
