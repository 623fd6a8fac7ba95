"""Grad-CAM: where in the last convolutional feature map the class logit comes from.

``L = ReLU(sum_k a_k A_k)`` with ``a_k = mean_{u,v} d logit / d A_k(u, v)``, ``A`` the
feature map of the last convolution reachable by flattening the model (taken after the
BatchNormalization and activation layers that directly follow it, i.e. the rectified map),
upsampled bilinearly to the input size. Maps on the harness's models are 4x4 to 13x13
before upsampling, so Grad-CAM localises coarsely.

Reference: R. R. Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", ICCV 2017.
"""

import numpy as np

from safety_harness.core import tf_runtime
from safety_harness.explanations.model_access import (
    Applicability,
    ExplainedModel,
    ExplainerNotApplicable,
    check_batch,
    run_layers,
    selected_logits,
)


def _convolution_types(layer_module):
    return (layer_module.Conv2D, layer_module.DepthwiseConv2D, layer_module.SeparableConv2D)


def _feature_map_end(model: ExplainedModel) -> int | None:
    """Index one past the last convolution and the BatchNormalization/activation layers directly after it."""
    layers, module = model.layers, model.layer_module
    convolutions = [i for i, layer in enumerate(layers[:model.logit_head.body_end])
                    if isinstance(layer, _convolution_types(module))
                    and not isinstance(layer, getattr(module, "Conv2DTranspose", ()))]
    if not convolutions:
        return None
    end = convolutions[-1] + 1
    following = (module.BatchNormalization, module.Activation, module.ReLU)
    while end < model.logit_head.body_end and isinstance(layers[end], following):
        end += 1
    return end


def gradcam_applicability(model: ExplainedModel) -> Applicability:
    """Grad-CAM needs the layers (to reach the feature map) and a convolution among them."""
    if model.is_saved_model:
        return Applicability(False, "SavedModel: no layers, Grad-CAM unavailable (Integrated Gradients applies)")
    if model.layers is None:
        return Applicability(False, f"Grad-CAM unavailable: {model.layers_unavailable_reason}")
    if _feature_map_end(model) is None:
        return Applicability(False, "Grad-CAM unavailable: the model has no convolution before its logit")
    return Applicability(True)


def gradcam(model: ExplainedModel, inputs: np.ndarray, class_ids, input_range=None) -> np.ndarray:
    """Grad-CAM maps (n, H, W) float32 of ``class_ids`` for a preprocessed batch; ``input_range`` is unused.

    Raises ExplainerNotApplicable with the reason for a model it does not apply to.
    """
    applicability = gradcam_applicability(model)
    if not applicability.applies:
        raise ExplainerNotApplicable(applicability.reason)
    inputs, class_ids = check_batch(model, inputs, class_ids)
    tf = tf_runtime.tensorflow()
    end = _feature_map_end(model)
    feature_map = run_layers(model.layers[:end], tf.constant(inputs))
    with tf.GradientTape() as tape:
        tape.watch(feature_map)
        # Images do not interact in inference mode, so one gradient of the sum is every image's own gradient.
        total = tf.reduce_sum(selected_logits(model.logits_from(end, feature_map), class_ids))
    gradients = tape.gradient(total, feature_map)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * feature_map, axis=-1, keepdims=True))
    upsampled = tf.image.resize(cam, inputs.shape[1:3], method="bilinear")
    return upsampled.numpy()[..., 0].astype(np.float32)
