"""The model as the explainers see it: a chain of layers to call one by one, and its logit.

The keras.io GradCAM recipe ``keras.Model(model.inputs, [conv.output, model.output])``
fails on loaded Sequential models ("has never been called"), so the explainers call the
layers one by one instead, after flattening nested models. That works for Keras 3 and for
tf_keras models alike, as long as each model is handled with its own framework's layer
classes. A TensorFlow SavedModel exposes only its serving signature: it has no layers, but
it is differentiable, so gradient methods on the whole model still apply.

Explanations differentiate the class *logit*, not its probability: a saturated softmax has
near-zero gradients and gives all-zero maps. The logit is, in order of preference, the
pre-activation of a final Dense layer with softmax activation, the input of a final
Softmax (or softmax Activation) layer, the output itself when the card says ``logits``,
and otherwise the log of the output probability.
"""

import functools
from dataclasses import dataclass

import numpy as np

from safety_harness.core import tf_runtime

LOADERS = ("keras", "tf_keras", "tf.saved_model")
OUTPUTS = ("probabilities", "logits")
_CHAIN_TOLERANCE = 1e-4
_PROBE_SIDE = 32
_PROBE_SEED = 0


class ExplainerNotApplicable(ValueError):
    """An explainer was asked for a model it does not apply to; the message says why."""


@dataclass(frozen=True)
class Applicability:
    """Whether an explainer applies to a model; ``reason`` says why not (None when it applies)."""

    applies: bool
    reason: str | None = None


def activation_name(layer) -> str:
    """The name of a layer's activation function ('' for a layer without one)."""
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") if activation is not None else ""


@dataclass(frozen=True)
class ExplainedModel:
    """A loaded classifier with what the explainers need to know about it.

    Parameters
    ----------
    network : keras.Model, tf_keras.Model or the object of ``tf.saved_model.load``
        The model as the harness loaded it.
    loader : str
        ``"keras"``, ``"tf_keras"`` or ``"tf.saved_model"`` (``LoadedModel.loader``).
    output : str
        The card's ``output``: ``"probabilities"`` or ``"logits"``.
    """

    network: object
    loader: str
    output: str = "probabilities"

    def __post_init__(self):
        if self.loader not in LOADERS:
            raise ValueError(f"loader must be one of {LOADERS}, got {self.loader!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")

    @property
    def is_saved_model(self) -> bool:
        return self.loader == "tf.saved_model"

    @functools.cached_property
    def layer_module(self):
        """``keras.layers`` or ``tf_keras.layers``: a model's layers are instances of its own framework's classes."""
        if self.is_saved_model:
            return None
        return (tf_runtime.keras() if self.loader == "keras" else tf_runtime.tf_keras()).layers

    @functools.cached_property
    def _serving(self):
        signature = self.network.signatures["serving_default"]
        (input_name, input_spec), = signature.structured_input_signature[1].items()
        (output_name, _), = signature.structured_outputs.items()
        return signature, input_name, output_name, tuple(input_spec.shape.as_list())

    @property
    def input_shape(self) -> tuple:
        if self.is_saved_model:
            return self._serving[3]
        return tuple(self.network.inputs[0].shape)

    @property
    def num_classes(self) -> int:
        if self.is_saved_model:
            (output_spec,) = self._serving[0].structured_outputs.values()
            return int(output_spec.shape[-1])
        return int(self.network.outputs[0].shape[-1])

    def outputs(self, x):
        """The model's own output (probabilities or logits, as the card says) for a float32 tensor batch."""
        if self.is_saved_model:
            signature, input_name, output_name, _ = self._serving
            return signature(**{input_name: x})[output_name]
        return self.network(x, training=False)

    def probabilities(self, x):
        """Class probabilities for a float32 tensor batch."""
        tf = tf_runtime.tensorflow()
        raw = self.outputs(x)
        return tf.nn.softmax(raw) if self.output == "logits" else raw

    @functools.cached_property
    def _chain_or_reason(self):
        if self.is_saved_model:
            return None, "SavedModel: no layers"
        layers = tuple(_flatten(self.network, self.layer_module))
        tf = tf_runtime.tensorflow()
        shape = [1] + [_PROBE_SIDE if side is None else int(side) for side in self.input_shape[1:]]
        probe = tf.constant(np.random.default_rng(_PROBE_SEED).uniform(0, 1, shape).astype(np.float32))
        try:
            chained = run_layers(layers, probe).numpy()
        except Exception as error:  # noqa: BLE001 — a graph that is not a chain fails in many ways
            return None, f"its layers do not form a single chain ({type(error).__name__} calling them in order)"
        expected = self.outputs(probe).numpy()
        if chained.shape != expected.shape or not np.allclose(
                chained, expected, rtol=_CHAIN_TOLERANCE, atol=_CHAIN_TOLERANCE * float(np.abs(expected).max())):
            return None, "its layers do not form a single chain (calling them in order does not reproduce its output)"
        return layers, None

    @property
    def layers(self) -> tuple | None:
        """The flattened chain of layers (nested models expanded, input layers left out), or None."""
        return self._chain_or_reason[0]

    @property
    def layers_unavailable_reason(self) -> str | None:
        return self._chain_or_reason[1]

    @functools.cached_property
    def logit_head(self) -> "LogitHead":
        """How the logit is obtained from the model (see the module docstring)."""
        layers = self.layers
        if layers:
            last = layers[-1]
            if isinstance(last, self.layer_module.Dense) and activation_name(last) == "softmax":
                return LogitHead(len(layers) - 1, "pre_activation", f"pre-softmax value of Dense layer {last.name!r}")
            if _is_softmax_layer(last, self.layer_module):
                return LogitHead(len(layers) - 1, "identity", f"input of softmax layer {last.name!r}")
        if self.output == "logits":
            return LogitHead(None if layers is None else len(layers), "identity", "model output (card: logits)")
        return LogitHead(None if layers is None else len(layers), "log",
                         "log of the output probability (no pre-softmax value accessible)")

    def logits_from(self, start: int, activations):
        """The logits, running the chain from layer ``start`` (whose input is ``activations``) to the logit."""
        head = self.logit_head
        hidden = run_layers(self.layers[start:head.body_end], activations)
        return head.apply(hidden, self.layers[head.body_end] if head.kind == "pre_activation" else None)

    def logits(self, x):
        """The logits of a float32 tensor batch: differentiable for every model, layered or not."""
        if self.layers is not None:
            return self.logits_from(0, x)
        return self.logit_head.apply(self.outputs(x), None)


@dataclass(frozen=True)
class LogitHead:
    """Where the logit is: layers ``[:body_end]`` run as they are, then ``kind`` applies.

    ``kind``: ``"pre_activation"`` (the Dense layer at ``body_end`` without its softmax),
    ``"identity"`` (the value itself) or ``"log"`` (log of a probability).
    ``body_end`` is None for a model without accessible layers.
    """

    body_end: int | None
    kind: str
    description: str

    def apply(self, hidden, dense_layer):
        tf = tf_runtime.tensorflow()
        if self.kind == "pre_activation":
            value = tf.tensordot(hidden, tf.convert_to_tensor(dense_layer.kernel), axes=1)
            return value + tf.convert_to_tensor(dense_layer.bias) if dense_layer.use_bias else value
        if self.kind == "log":
            return tf.math.log(tf.maximum(hidden, np.finfo(np.float32).tiny))
        return hidden


def _is_softmax_layer(layer, layer_module) -> bool:
    return isinstance(layer, layer_module.Softmax) or (
        isinstance(layer, layer_module.Activation) and activation_name(layer) == "softmax")


def _flatten(model, layer_module):
    for layer in model.layers:
        if isinstance(layer, layer_module.InputLayer):
            continue
        if hasattr(layer, "layers"):  # a nested Sequential or functional model
            yield from _flatten(layer, layer_module)
        else:
            yield layer


def run_layers(layers, x):
    """Call ``layers`` in order on ``x`` in inference mode (Dropout off, BatchNormalization on its moving statistics)."""
    for layer in layers:
        x = layer(x, training=False)
    return x


def check_batch(model: ExplainedModel, inputs, class_ids):
    """Validated ``(inputs, class_ids)``: float32 (n, H, W, C) matching the model, and n class indices."""
    inputs = np.asarray(inputs)
    if inputs.dtype != np.float32 or inputs.ndim != 4 or len(inputs) == 0:
        raise ValueError(f"inputs must be a non-empty float32 batch (n, H, W, C), got {inputs.dtype} {inputs.shape}")
    expected = model.input_shape[1:]
    if any(want is not None and want != got for want, got in zip(expected, inputs.shape[1:])):
        raise ValueError(f"inputs have shape {inputs.shape[1:]} per image, the model takes {expected}")
    class_ids = np.asarray(class_ids)
    if class_ids.shape != (len(inputs),) or not np.issubdtype(class_ids.dtype, np.integer):
        raise ValueError(f"class_ids must be {len(inputs)} integers (one per image), got {class_ids.dtype} "
                         f"{class_ids.shape}")
    if class_ids.min() < 0 or class_ids.max() >= model.num_classes:
        raise ValueError(f"class_ids must be in [0, {model.num_classes}), got values from {class_ids.min()} "
                         f"to {class_ids.max()}")
    return np.ascontiguousarray(inputs), class_ids.astype(np.int64)


def selected_logits(logits, class_ids):
    """``logits[i, class_ids[i]]`` for each image i."""
    tf = tf_runtime.tensorflow()
    return tf.gather(logits, tf.constant(class_ids), axis=1, batch_dims=1)
