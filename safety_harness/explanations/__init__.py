"""Explanations of a classifier's decisions, written on ``tf.GradientTape`` for Keras 3, tf_keras and SavedModels.

``gradcam``, ``lrp`` and ``integrated_gradients`` take an :class:`ExplainedModel`, a
preprocessed float32 batch, one class index per image and the card's input range, and
return (n, H, W) float32 relevance maps; each has an ``*_applicability`` function giving
the reason when it does not apply. ``self_checks`` tests the maps (model-parameter
randomisation, deletion faithfulness).
"""

from safety_harness.explanations.gradcam import gradcam, gradcam_applicability
from safety_harness.explanations.integrated_gradients import integrated_gradients, integrated_gradients_applicability
from safety_harness.explanations.lrp import lrp, lrp_applicability
from safety_harness.explanations.model_access import Applicability, ExplainedModel, ExplainerNotApplicable

# name -> (explainer, applicability): explainer(model, inputs, class_ids, input_range) -> (n, H, W) maps
EXPLAINERS = {
    "gradcam": (gradcam, gradcam_applicability),
    "lrp": (lrp, lrp_applicability),
    "integrated_gradients": (integrated_gradients, integrated_gradients_applicability),
}


def availability(model: ExplainedModel) -> dict[str, Applicability]:
    """Which explainers apply to ``model``, each with the reason when it does not."""
    return {name: applicability(model) for name, (_, applicability) in EXPLAINERS.items()}


__all__ = ["EXPLAINERS", "Applicability", "ExplainedModel", "ExplainerNotApplicable", "availability",
           "gradcam", "integrated_gradients", "lrp"]
