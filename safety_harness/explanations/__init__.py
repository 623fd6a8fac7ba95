"""Explanations of a classifier's decisions, written on ``tf.GradientTape`` for Keras 3, tf_keras and SavedModels.

``gradcam``, ``lrp`` and ``integrated_gradients`` take an :class:`ExplainedModel`, a
preprocessed float32 batch, one class index per image and the card's input range, and
return (n, H, W) float32 relevance maps; each has an ``*_applicability`` function giving
the reason when it does not apply. ``self_checks`` tests the maps (model-parameter
randomisation, deletion faithfulness).
"""
