"""Layer-wise Relevance Propagation with a composite of rules, batched on ``tf.GradientTape``.

The class logit ``f(x)`` is the relevance at the top and flows down layer by layer:

* first linear layer (the one reading the pixels): z^B (box) rule with the card's input
  range ``[l, h]`` as bounds,
  ``R_i = sum_j (x_i w_ij - l w_ij^+ - h w_ij^-) / sum_i' (x_i' w_i'j - l w_i'j^+ - h w_i'j^-) R_j``;
  unlike LRP-epsilon at the input, it gives black pixels (``x_i = 0``) relevance;
* an input LayerNormalization (per-image standardisation, the model's first step, directly
  followed by the first linear layer): the image's mean and standard deviation are held
  constant (Ali et al. 2022), so the layer is the elementwise affine map
  ``a_i = s_i x_i + t_i`` of that image with ``s_i = gamma_i / sqrt(var(x) + epsilon)`` and
  ``t_i = beta_i - mean(x) s_i``; relevance passes through it unchanged (``R_x = R_a``), and
  the z^B rule above it takes the card's bounds mapped through the same map,
  ``l_i = min(s_i l + t_i, s_i h + t_i)`` and ``h_i = max(...)`` (the min and max for ``gamma < 0``);
  RMS scaling (``rms_scaling=True``) is refused;
* other convolutions: z+ rule (alpha=1, beta=0) on the positive contributions,
  ``R_i = sum_j (x_i w_ij)^+ / sum_i' (x_i' w_i'j)^+ R_j``;
* other Dense layers (the logit layer included): epsilon rule,
  ``R_i = sum_j x_i w_ij / (z_j + eps sign(z_j)) R_j`` with ``z_j = sum_i x_i w_ij`` and
  ``eps = epsilon * (RMS of z over the layer's units)``, per image (``epsilon`` = 1e-3 by default);
* BatchNormalization is folded into the Conv2D or Dense layer before it (its scale
  multiplies the kernel); ReLU and linear activations pass relevance unchanged;
* max pooling: winner-take-all (the relevance of a pooled unit goes to the input that won
  the max); average pooling (local and global): the z rule ``R_i = x_i / sum_i' x_i' R_j``;
* Flatten and Reshape reshape the relevance; Dropout is skipped (inference mode).

Any other layer is refused by name, never silently skipped.

Biases receive no relevance: every rule's denominator leaves the bias out (the variant
Zennit calls ``zero_params='bias'``), so each layer passes all of its relevance down and the
maps sum to the logit, up to the epsilon stabiliser of Dense layers (which absorbs
``R_j eps / (|z_j| + eps)`` at each unit). A unit whose rule has nothing to divide by (its
positive contributions all zero: activated by its bias alone) passes its relevance by the
w^2 rule (Montavon et al. 2017) instead, so none is lost there. With ``epsilon=0`` the
sum equals the logit (the tests check 1 % on the shared models); with the default epsilon,
the typical image stays within 1 % but an image whose logit is small against the
relevance absorbed at individual units can deviate by a few per cent.

References: S. Bach et al., "On Pixel-Wise Explanations for Non-Linear Classifier Decisions
by Layer-Wise Relevance Propagation", PLoS ONE 10 (2015); G. Montavon et al., "Explaining
nonlinear classification decisions with deep Taylor decomposition", Pattern Recognition 65
(2017); G. Montavon et al., "Layer-Wise Relevance Propagation: An Overview", in Explainable
AI, LNCS 11700 (2019); A. Ali et al., "XAI for Transformers: Better Explanations through
Conservative Propagation", ICML 2022 (PMLR 162); C. J. Anders et al., "Software for Dataset-wide XAI: From Local
Explanations to Global Insights with Zennit, CoRelAy, and ViRelAy", arXiv:2106.13200 (2021).
"""

from dataclasses import dataclass

import numpy as np

from safety_harness.core import tf_runtime
from safety_harness.explanations.model_access import (
    Applicability,
    ExplainedModel,
    ExplainerNotApplicable,
    activation_name,
    check_batch,
    run_layers,
    selected_logits,
)

EPSILON = 1e-3
MAX_POOLING_RULE = "winner-take-all"
_PASSING_ACTIVATIONS = ("relu", "linear")
SUPPORTED_LAYERS = ("Conv2D, Dense, BatchNormalization after a Conv2D or Dense without activation, "
                    "Activation or ReLU (relu, linear), MaxPooling2D, AveragePooling2D, GlobalMaxPooling2D, "
                    "GlobalAveragePooling2D, Flatten, Reshape, Dropout, a final softmax, and a LayerNormalization "
                    "as the first step directly before the first Conv2D or Dense")


@dataclass
class _Step:
    """Consecutive layers treated as one LRP step: ``layers`` run forward, ``kind`` picks the rule.

    ``kind``: "linear" (Conv2D or Dense, with an optional folded BatchNormalization),
    "input_normalisation" (a LayerNormalization reading the pixels), "max_pool", "average_pool",
    "reshape" or "identity".
    """

    kind: str
    layers: list
    scale: object = None  # the folded BatchNormalization's per-channel factor
    rule: str = ""


def _refuse(layer, why: str):
    raise ExplainerNotApplicable(
        f"LRP unavailable: layer {layer.name!r} ({type(layer).__name__}) {why}; LRP supports {SUPPORTED_LAYERS}")


def _is_linear(layer, module) -> bool:
    return (isinstance(layer, (module.Conv2D, module.Dense))
            and not isinstance(layer, getattr(module, "Conv2DTranspose", ())))


def _plan(model: ExplainedModel) -> list[_Step]:
    """The LRP steps of the model's chain up to its logit; raises ExplainerNotApplicable naming a refused layer."""
    if model.is_saved_model:
        raise ExplainerNotApplicable("SavedModel: no layers, LRP unavailable (Integrated Gradients applies)")
    if model.layers is None:
        raise ExplainerNotApplicable(f"LRP unavailable: {model.layers_unavailable_reason}")
    head = model.logit_head
    if head.kind == "log":
        raise ExplainerNotApplicable(
            f"LRP unavailable: it starts from the logit, and this model's is not accessible ({head.description})")
    module = model.layer_module
    layers = model.layers[:head.body_end + (1 if head.kind == "pre_activation" else 0)]
    steps: list[_Step] = []
    for index, layer in enumerate(layers):
        activation = activation_name(layer)
        if isinstance(layer, (module.Dropout, module.SpatialDropout2D)):
            continue
        if _is_linear(layer, module):
            is_logit_layer = head.kind == "pre_activation" and index == len(layers) - 1
            if activation not in _PASSING_ACTIVATIONS and not is_logit_layer:
                _refuse(layer, f"has activation {activation!r}")
            if isinstance(layer, module.Conv2D) and (layer.data_format != "channels_last" or layer.groups != 1):
                _refuse(layer, "is not a channels-last convolution with one group")
            first = not any(step.kind == "linear" for step in steps)
            if first and steps and steps[0].kind == "input_normalisation" and len(steps) > 1:
                _refuse(steps[0].layers[0], "is not directly followed by a Conv2D or Dense, so its bounds "
                                            "cannot be mapped to the first linear layer")
            rule = "zB" if first else ("z+" if isinstance(layer, module.Conv2D) else "epsilon")
            steps.append(_Step("linear", [layer], rule=rule))
        elif isinstance(layer, module.BatchNormalization):
            previous = steps[-1] if steps else None
            if (previous is None or previous.kind != "linear" or len(previous.layers) != 1
                    or activation_name(previous.layers[0]) != "linear"):
                _refuse(layer, "does not directly follow a Conv2D or Dense without activation, so it cannot be folded")
            axes, rank = np.atleast_1d(layer.axis), len(previous.layers[0].kernel.shape)  # kernel rank = output rank
            if len(axes) != 1 or axes[0] not in (-1, rank - 1):
                _refuse(layer, "normalises an axis other than the channels")
            previous.layers.append(layer)
            previous.scale = _batch_norm_scale(layer)
        elif isinstance(layer, module.LayerNormalization):
            if steps:
                _refuse(layer, "is not the model's first step (only an input LayerNormalization has a rule)")
            if getattr(layer, "rms_scaling", False):
                _refuse(layer, "uses rms_scaling=True")
            steps.append(_Step("input_normalisation", [layer]))
        elif isinstance(layer, (module.Activation, module.ReLU)):
            if isinstance(layer, module.ReLU) and not _is_plain_relu(layer):
                _refuse(layer, "is a leaky, capped or thresholded ReLU")
            if isinstance(layer, module.Activation) and activation not in _PASSING_ACTIVATIONS:
                _refuse(layer, f"has activation {activation!r}")
            steps.append(_Step("identity", [layer]))
        elif isinstance(layer, (module.MaxPooling2D, module.GlobalMaxPooling2D)):
            steps.append(_Step("max_pool", [layer]))
        elif isinstance(layer, (module.AveragePooling2D, module.GlobalAveragePooling2D)):
            steps.append(_Step("average_pool", [layer]))
        elif isinstance(layer, (module.Flatten, module.Reshape)):
            steps.append(_Step("reshape", [layer]))
        else:
            _refuse(layer, "has no LRP rule here")
    if not any(step.kind == "linear" for step in steps):
        raise ExplainerNotApplicable("LRP unavailable: the model has no Conv2D or Dense layer")
    return steps


def _is_plain_relu(layer) -> bool:
    config = layer.get_config()
    return (config.get("max_value") is None and not config.get("negative_slope")
            and not config.get("threshold"))


def _batch_norm_scale(layer):
    tf = tf_runtime.tensorflow()
    variance = tf.convert_to_tensor(layer.moving_variance)
    scale = 1.0 / tf.sqrt(variance + layer.epsilon)
    return scale * tf.convert_to_tensor(layer.gamma) if layer.scale else scale


def input_normalisation_map(layer, inputs):
    """``(s, t)``: a LayerNormalization as the elementwise affine map ``layer(x) = s * x + t`` of each image.

    The image's mean and variance over ``layer.axis`` are held constant (Ali et al. 2022);
    ``s`` and ``t`` have the shape of ``inputs``.
    """
    tf = tf_runtime.tensorflow()
    inputs = tf.convert_to_tensor(inputs, tf.float32)
    rank = len(inputs.shape)
    axes = sorted(int(axis) % rank for axis in np.atleast_1d(layer.axis))
    parameter_shape = [inputs.shape[axis] if axis in axes else 1 for axis in range(rank)]
    mean, variance = tf.nn.moments(inputs, axes=axes, keepdims=True)
    scale = tf.math.rsqrt(variance + layer.epsilon)
    if layer.scale:
        scale = scale * tf.reshape(tf.cast(layer.gamma, tf.float32), parameter_shape)
    shift = -mean * scale
    if layer.center:
        shift = shift + tf.reshape(tf.cast(layer.beta, tf.float32), parameter_shape)
    return tf.broadcast_to(scale, tf.shape(inputs)), tf.broadcast_to(shift, tf.shape(inputs))


def input_normalisation_bounds(layer, inputs, bounds):
    """The z^B bounds ``(lower, upper)`` after the LayerNormalization: ``[l, h]`` through each image's map."""
    tf = tf_runtime.tensorflow()
    scale, shift = input_normalisation_map(layer, inputs)
    at_low, at_high = scale * bounds[0] + shift, scale * bounds[1] + shift
    return tf.minimum(at_low, at_high), tf.maximum(at_low, at_high)


def lrp_applicability(model: ExplainedModel) -> Applicability:
    """LRP needs the layers, an accessible logit, and a rule for every layer on the way."""
    try:
        _plan(model)
    except ExplainerNotApplicable as refusal:
        return Applicability(False, str(refusal))
    return Applicability(True)


def _check_range(input_range):
    try:
        low, high = (float(v) for v in input_range)
    except (TypeError, ValueError):
        raise ValueError(f"input_range must be the card's [lo, hi], got {input_range!r}") from None
    if not low < high:
        raise ValueError(f"input_range must be [lo, hi] with lo < hi, got {input_range!r}")
    return low, high


def lrp(model: ExplainedModel, inputs: np.ndarray, class_ids, input_range, epsilon: float = EPSILON) -> np.ndarray:
    """LRP relevance maps (n, H, W) float32 of ``class_ids`` for a preprocessed batch.

    ``input_range`` is the card's ``[lo, hi]`` (the bounds of the z^B rule); ``epsilon`` the
    Dense layers' stabiliser relative to the RMS of their pre-activations. Raises
    ExplainerNotApplicable naming the layer (or the reason) for a model it does not apply to.
    """
    steps = _plan(model)
    inputs, class_ids = check_batch(model, inputs, class_ids)
    bounds = _check_range(input_range)
    if not (isinstance(epsilon, (int, float)) and epsilon >= 0):
        raise ValueError(f"epsilon must be a number >= 0, got {epsilon!r}")
    tf = tf_runtime.tensorflow()
    activations = [tf.constant(inputs)]
    head = model.logit_head
    logit_layer = model.layers[head.body_end] if head.kind == "pre_activation" else None
    for step in steps:
        if step.layers[0] is logit_layer:
            activations.append(head.apply(activations[-1], logit_layer))
        else:
            activations.append(run_layers(step.layers, activations[-1]))
    if steps[0].kind == "input_normalisation":
        bounds = input_normalisation_bounds(steps[0].layers[0], activations[0], bounds)
    logits = activations[-1]
    one_hot = tf.one_hot(class_ids, logits.shape[-1], dtype=logits.dtype)
    relevance = one_hot * tf.reshape(selected_logits(logits, class_ids), (-1, 1))
    for step, below in zip(reversed(steps), reversed(activations[:-1])):
        relevance = _propagate(step, below, relevance, bounds, epsilon)
    return tf.reduce_sum(relevance, axis=-1).numpy().astype(np.float32)


def _propagate(step: _Step, below, relevance, bounds, epsilon):
    """The relevance of the step's input ``below`` given the relevance of its output."""
    tf = tf_runtime.tensorflow()
    if step.kind in ("identity", "input_normalisation"):
        return relevance
    if step.kind == "reshape":
        return tf.reshape(relevance, tf.shape(below))
    if step.kind == "max_pool":
        with tf.GradientTape() as tape:
            tape.watch(below)
            pooled = step.layers[0](below)
        return tape.gradient(pooled, below, output_gradients=relevance)  # routes each R_j to its argmax
    if step.kind == "average_pool":
        pool = step.layers[0]
        return _redistribute([(below, pool)], relevance, fallback=pool)
    layer = step.layers[0]
    kernel = tf.convert_to_tensor(layer.kernel)
    if step.scale is not None:
        kernel = kernel * step.scale
    linear = _linear_function(layer)
    squared = lambda a: linear(a, tf.square(kernel))  # noqa: E731 — the w^2 rule, where the step's own rule cannot apply
    if step.rule == "zB":
        low, high = (-tf.broadcast_to(tf.cast(bound, below.dtype), tf.shape(below)) for bound in bounds)
        positive, negative = tf.nn.relu(kernel), -tf.nn.relu(-kernel)
        return _redistribute([(below, lambda a: linear(a, kernel)),
                              (low, lambda a: linear(a, positive)),
                              (high, lambda a: linear(a, negative))], relevance,
                             fallback=squared)
    if step.rule == "z+":
        positive, negative = tf.nn.relu(kernel), -tf.nn.relu(-kernel)
        terms = [(tf.nn.relu(below), lambda a: linear(a, positive))]
        if tf.reduce_any(below < 0):  # after a ReLU (the usual case) there is no negative part
            terms.append((-tf.nn.relu(-below), lambda a: linear(a, negative)))
        return _redistribute(terms, relevance, fallback=squared)
    return _redistribute([(below, lambda a: linear(a, kernel))], relevance, epsilon=epsilon, fallback=squared)


def _linear_function(layer):
    """``(a, kernel) -> z``: the layer's convolution or matrix product without bias or activation."""
    tf = tf_runtime.tensorflow()
    if len(layer.kernel.shape) == 2:
        return lambda a, kernel: tf.tensordot(a, kernel, axes=1)
    return lambda a, kernel: tf.nn.convolution(a, kernel, strides=layer.strides, padding=layer.padding.upper(),
                                               dilations=layer.dilation_rate)


def _redistribute(terms, relevance, epsilon=0.0, fallback=None):
    """``R_in = sum_t a_t * d(sum_j f_t(a_t)_j s_j)/d a_t`` with ``s = R / z`` and ``z = sum_t f_t(a_t)``.

    Each term is ``(a_t, f_t)`` with ``f_t`` linear; the returned relevance belongs to the
    input the first term's ``a_t`` is derived from (the others are bounds or sign parts of
    it). With ``epsilon``, ``z`` is pushed away from zero by ``epsilon`` times the per-image
    RMS of ``z``. Where ``z`` is exactly 0 (a unit activated by its bias alone), the rule has
    nothing to divide by: that relevance goes down by ``fallback`` applied to an input of
    ones (the w^2 rule for Conv2D and Dense, a uniform split for pooling), so none is lost.
    """
    tf = tf_runtime.tensorflow()
    with tf.GradientTape(persistent=True) as tape:
        for a, _ in terms:
            tape.watch(a)
        z = tf.add_n([f(a) for a, f in terms])
    denominator = z
    if epsilon:
        rms = tf.sqrt(tf.reduce_mean(tf.square(z), axis=list(range(1, len(z.shape))), keepdims=True))
        denominator = z + epsilon * rms * tf.where(z >= 0, tf.ones_like(z), -tf.ones_like(z))
    share = tf.math.divide_no_nan(relevance, denominator)
    result = tf.add_n([a * tape.gradient(z, a, output_gradients=share) for a, _ in terms])
    del tape
    leftover = tf.where(denominator == 0, relevance, tf.zeros_like(relevance))
    if fallback is None or not tf.reduce_any(leftover != 0):
        return result
    ones = tf.ones_like(terms[0][0])
    with tf.GradientTape() as tape:
        tape.watch(ones)
        spread = fallback(ones)
    return result + tape.gradient(spread, ones, output_gradients=tf.math.divide_no_nan(leftover, spread))
