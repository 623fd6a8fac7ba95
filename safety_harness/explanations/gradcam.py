"""Grad-CAM: where in the last convolutional feature map the class logit comes from.

``L = ReLU(sum_k a_k A_k)`` with ``a_k = mean_{u,v} d logit / d A_k(u, v)``, ``A`` the
feature map of the last convolution reachable by flattening the model (taken after the
BatchNormalization and activation layers that directly follow it, i.e. the rectified map),
interpolated bilinearly to the input size with each cell at the centre of its receptive field
(:func:`cell_centres`, from the kernels, strides, dilations and padding of the convolutions and
poolings before it), held constant beyond the outermost centres. With "same" padding the cells
span the input evenly and this is the usual half-pixel resize; with "valid" padding (as in many
published GTSRB models) the cells cover only a central window, and spreading them over the
whole input would move every peak towards the border. Maps on the harness's models are 4x4 to
13x13 before interpolation, so Grad-CAM localises coarsely.

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


def _axis_centres(layers, module, size: int, axis: int) -> tuple[float, float, int]:
    """``(offset, stride, cells)``: along ``axis`` (0 rows, 1 columns) of an input ``size`` pixels long, cell j of
    the feature map after ``layers`` is centred on input pixel ``offset + stride * j`` (pixel k's centre at k)."""
    offset, stride, length = 0.0, 1.0, size
    pooling = (module.MaxPooling2D, module.AveragePooling2D)
    for layer in layers:
        if isinstance(layer, _convolution_types(module)):
            kernel, dilation = layer.kernel_size[axis], layer.dilation_rate[axis]
        elif isinstance(layer, pooling):
            kernel, dilation = layer.pool_size[axis], 1
        else:  # normalisation, activation, dropout: the geometry is unchanged
            continue
        step, extent = layer.strides[axis], dilation * (kernel - 1) + 1
        if layer.padding == "same":
            cells = -(-length // step)
            before = max((cells - 1) * step + extent - length, 0) // 2
        else:
            cells, before = (length - extent) // step + 1, 0
        offset += stride * ((extent - 1) / 2 - before)
        stride *= step
        length = cells
    return offset, stride, length


def cell_interpolation(offset: float, stride: float, cells: int, size: int) -> np.ndarray:
    """(size, cells) weights: linear interpolation between the cells' centres, constant beyond the outermost."""
    position = np.clip((np.arange(size) - offset) / stride, 0, cells - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, cells - 1)
    weights = np.zeros((size, cells))
    np.add.at(weights, (np.arange(size), lower), 1 - (position - lower))
    np.add.at(weights, (np.arange(size), upper), position - lower)
    return weights


def cell_centres(model: ExplainedModel, input_size: tuple[int, int], feature_size: tuple[int, int]):
    """Per axis (rows, columns), ``(offset, stride)`` placing the Grad-CAM cells on the input; the cells spread
    evenly over the input (the half-pixel resize) when the layers' geometry does not give ``feature_size``
    (a layer that crops, pads or resizes)."""
    end = _feature_map_end(model)
    centres = []
    for axis in (0, 1):
        offset, stride, cells = _axis_centres(model.layers[:end], model.layer_module, input_size[axis], axis)
        if cells != feature_size[axis]:
            stride = input_size[axis] / feature_size[axis]
            offset = stride / 2 - 0.5
        centres.append((offset, stride))
    return tuple(centres)


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
    cam = tf.nn.relu(tf.reduce_sum(weights * feature_map, axis=-1)).numpy()
    (row_offset, row_stride), (column_offset, column_stride) = cell_centres(model, inputs.shape[1:3], cam.shape[1:3])
    rows = cell_interpolation(row_offset, row_stride, cam.shape[1], inputs.shape[1])
    columns = cell_interpolation(column_offset, column_stride, cam.shape[2], inputs.shape[2])
    return np.einsum("yh,nhw,xw->nyx", rows, cam, columns).astype(np.float32)
