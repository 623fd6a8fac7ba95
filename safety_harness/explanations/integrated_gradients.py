"""Integrated Gradients from a blurred baseline, for any differentiable model (SavedModel included).

``IG_i(x) = (x_i - x'_i) * (1/m) sum_{k=1..m} d logit / d x_i (x' + (k - 1/2)/m (x - x'))``
(the midpoint rule, m = 32 steps), summed over channels. Completeness: the attributions sum
to ``logit(x) - logit(x')`` up to the quadrature error, exactly for a linear model.
The baseline ``x'`` is the image blurred (see ``baselines``): a black baseline would give
black pixels zero attribution whatever the model does with them.

Reference: M. Sundararajan, A. Taly and Q. Yan, "Axiomatic Attribution for Deep Networks",
ICML 2017.
"""

import numpy as np

from safety_harness.core import tf_runtime
from safety_harness.explanations.baselines import blurred_baseline
from safety_harness.explanations.model_access import Applicability, ExplainedModel, check_batch, selected_logits

STEPS = 32
_IMAGES_PER_PASS = 512


def integrated_gradients_applicability(model: ExplainedModel) -> Applicability:
    """Integrated Gradients needs only a differentiable forward pass: every loadable model has one."""
    return Applicability(True)


def integrated_gradients(model: ExplainedModel, inputs: np.ndarray, class_ids, input_range=None,
                         steps: int = STEPS) -> np.ndarray:
    """Integrated Gradients maps (n, H, W) float32 of ``class_ids`` for a preprocessed batch; ``input_range`` is unused."""
    inputs, class_ids = check_batch(model, inputs, class_ids)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    tf = tf_runtime.tensorflow()
    baseline = blurred_baseline(inputs)
    difference = inputs - baseline
    alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps
    per_pass = max(1, _IMAGES_PER_PASS // len(inputs))
    gradient_sum = np.zeros_like(inputs)
    for start in range(0, steps, per_pass):  # a loop over path steps, each pass batched over all images
        chunk = alphas[start:start + per_pass]
        path = baseline[None] + chunk[:, None, None, None, None] * difference[None]
        path = tf.constant(path.reshape(-1, *inputs.shape[1:]))
        with tf.GradientTape() as tape:
            tape.watch(path)
            total = tf.reduce_sum(selected_logits(model.logits(path), np.tile(class_ids, len(chunk))))
        gradients = tape.gradient(total, path).numpy().reshape(len(chunk), *inputs.shape)
        gradient_sum += gradients.sum(axis=0)
    return (difference * gradient_sum / steps).sum(axis=-1).astype(np.float32)
