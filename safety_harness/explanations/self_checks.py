"""Self-checks of explanation maps: do they depend on the model, and do they point at what the model uses?

* Model-parameter randomisation (Adebayo et al. 2018): re-draw the weights of the top
  layers (on a clone) and explain again; maps that barely change explain the image, not the
  model. Passes when the median over images of the Spearman correlation between the
  absolute original and randomised maps is below ``MAX_MEDIAN_CORRELATION`` (0.5).
* Deletion (Petsiuk et al. 2018): replace pixels by the blurred baseline in the order of
  the map, most relevant first, and follow the class probability; it should fall faster
  than when the same pixels go in random order. Per image, ``d = AUC_map - AUC_random``
  (areas under the probability-versus-fraction-removed curves); passes when the one-sided
  paired-bootstrap upper bound of the mean ``d`` is below 0.

References: J. Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018;
V. Petsiuk, A. Das and K. Saenko, "RISE: Randomized Input Sampling for Explanation of
Black-box Models", BMVC 2018; B. Efron and R. Tibshirani, "An Introduction to the
Bootstrap" (1993), ch. 13 (percentile intervals).
"""

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from safety_harness.core import tf_runtime
from safety_harness.explanations.baselines import blurred_baseline
from safety_harness.explanations.model_access import ExplainedModel, check_batch
from safety_harness.metrics.bootstrap import DEFAULT_RESAMPLES, bootstrap_bound

MAX_MEDIAN_CORRELATION = 0.5
DELETION_STEPS = 16
_IMAGES_PER_PASS = 512


@dataclass(frozen=True)
class RandomisationCheck:
    """Adebayo et al.'s model-parameter randomisation check of one explainer."""

    median_correlation: float
    n_images: int
    constant_maps: int
    randomised_layers: tuple[str, ...]
    threshold: float
    passed: bool


@dataclass(frozen=True)
class DeletionCheck:
    """Petsiuk et al.'s deletion check: mean paired AUC difference (map order minus random order) and its bound."""

    mean_auc_map: float
    mean_auc_random: float
    mean_difference: float
    difference_upper_bound: float
    confidence: float
    n_images: int
    passed: bool


def _check_maps(name, maps, n_images=None):
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3 or len(maps) == 0 or (n_images is not None and len(maps) != n_images):
        expected = "(n, H, W)" if n_images is None else f"({n_images}, H, W)"
        raise ValueError(f"{name} must be maps of shape {expected}, got {maps.shape}")
    if not np.isfinite(maps).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    return maps


def rank_correlations(first_maps, second_maps) -> np.ndarray:
    """Per-image Spearman correlation of two map batches (average ranks for ties).

    A constant map carries no ordering: its correlation is counted as 0.
    """
    first = _check_maps("first_maps", first_maps)
    second = _check_maps("second_maps", second_maps, len(first))
    if first.shape != second.shape:
        raise ValueError(f"first_maps and second_maps differ in shape: {first.shape} and {second.shape}")
    ranks = [rankdata(maps.reshape(len(maps), -1), axis=1) for maps in (first, second)]
    centred = [r - r.mean(axis=1, keepdims=True) for r in ranks]
    norms = np.sqrt((centred[0] ** 2).sum(axis=1) * (centred[1] ** 2).sum(axis=1))
    products = (centred[0] * centred[1]).sum(axis=1)
    return np.divide(products, norms, out=np.zeros(len(first)), where=norms > 0)


def randomisation_check(original_maps, randomised_maps, randomised_layers=(),
                        threshold: float = MAX_MEDIAN_CORRELATION) -> RandomisationCheck:
    """Median Spearman correlation of ``|original|`` and ``|randomised|`` maps; passes below ``threshold``.

    ``constant_maps`` counts the images where either map is constant (often all zero after
    randomisation, e.g. Grad-CAM's ReLU): they count as correlation 0, and the report
    should say how many there were.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    original, randomised = np.abs(original_maps), np.abs(randomised_maps)
    correlations = rank_correlations(original, randomised)
    constant = sum(np.ptp(maps.reshape(len(maps), -1), axis=1) == 0 for maps in (original, randomised)) > 0
    median = float(np.median(correlations))
    return RandomisationCheck(median_correlation=median, n_images=len(correlations), constant_maps=int(constant.sum()),
                              randomised_layers=tuple(randomised_layers), threshold=threshold,
                              passed=median < threshold)


def randomised_clone(model: ExplainedModel, seed: int = 0) -> tuple[ExplainedModel, tuple[str, ...]]:
    """A clone of ``model`` with its top layers re-drawn, and their names; the original is left untouched.

    The top layers are every layer with weights from the logit down to the last convolution
    (included). Each of their kernels and biases is re-drawn from a normal distribution with
    mean 0 and that tensor's own standard deviation (0.05 for a constant tensor), so the
    scale of the activations stays comparable. Needs the model's layers (not a SavedModel).
    """
    if model.layers is None:
        raise ValueError(f"model has no accessible layers to randomise ({model.layers_unavailable_reason})")
    keras = tf_runtime.keras() if model.loader == "keras" else tf_runtime.tf_keras()
    clone = keras.models.clone_model(model.network)
    clone.set_weights(model.network.get_weights())
    twin = ExplainedModel(clone, model.loader, model.output)
    module = model.layer_module
    convolutions = [i for i, layer in enumerate(twin.layers) if isinstance(layer, module.Conv2D)]
    bottom = convolutions[-1] if convolutions else 0
    rng = np.random.default_rng(seed)
    names = []
    for layer in twin.layers[bottom:]:
        if not isinstance(layer, (module.Conv2D, module.Dense)):
            continue
        fresh = []
        for weights in layer.get_weights():
            scale = float(weights.std()) or 0.05
            fresh.append(rng.normal(0.0, scale, weights.shape).astype(weights.dtype))
        layer.set_weights(fresh)
        names.append(layer.name)
    return twin, tuple(names)


def deletion_curves(model: ExplainedModel, inputs, maps, class_ids, seed: int = 0,
                    steps: int = DELETION_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """Class probability after removing 0, 1/steps, ..., all pixels, in map order and in random order.

    Returns two (n, steps + 1) arrays. Pixels are removed by replacing all their channels
    with the blurred baseline's; ties in a map keep pixel order (a stable sort), and the
    random order is one permutation per image from ``seed``.
    """
    inputs, class_ids = check_batch(model, inputs, class_ids)
    maps = _check_maps("maps", maps, len(inputs))
    if maps.shape[1:] != inputs.shape[1:3]:
        raise ValueError(f"maps are {maps.shape[1:]} per image, the inputs {inputs.shape[1:3]}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    n, height, width = maps.shape
    pixels = height * width
    baseline = blurred_baseline(inputs)
    map_order = np.argsort(-maps.reshape(n, -1), axis=1, kind="stable")
    rng = np.random.default_rng(seed)
    random_order = np.argsort(rng.random((n, pixels)), axis=1)
    counts = np.round(np.linspace(0, pixels, steps + 1)).astype(int)
    curves = []
    for order in (map_order, random_order):
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(pixels)[None].repeat(n, axis=0), axis=1)
        removed = ranks[None, :, :] < counts[:, None, None]  # (steps + 1, n, pixels)
        removed = removed.reshape(steps + 1, n, height, width, 1)
        perturbed = np.where(removed, baseline[None], inputs[None]).reshape(-1, *inputs.shape[1:])
        probabilities = _class_probabilities(model, perturbed, np.tile(class_ids, steps + 1))
        curves.append(probabilities.reshape(steps + 1, n).T)
    return curves[0], curves[1]


def _class_probabilities(model: ExplainedModel, inputs, class_ids) -> np.ndarray:
    tf = tf_runtime.tensorflow()
    chunks = []
    for start in range(0, len(inputs), _IMAGES_PER_PASS):
        probabilities = model.probabilities(tf.constant(inputs[start:start + _IMAGES_PER_PASS])).numpy()
        chunks.append(probabilities[np.arange(len(probabilities)), class_ids[start:start + _IMAGES_PER_PASS]])
    return np.concatenate(chunks)


def deletion_check(map_curves, random_curves, confidence: float = 0.95, seed: int = 0,
                   resamples: int = DEFAULT_RESAMPLES) -> DeletionCheck:
    """Paired deletion AUCs (trapezoid over the fraction removed, 0 to 1) and a bootstrap upper bound.

    ``d_i = AUC_map,i - AUC_random,i``; the bound is the ``confidence`` quantile of the
    means of ``resamples`` resamples of the images with replacement (percentile bootstrap).
    Passes when the bound is below 0: the map order lowers the probability faster.
    """
    map_curves, random_curves = np.asarray(map_curves, float), np.asarray(random_curves, float)
    if map_curves.ndim != 2 or map_curves.shape != random_curves.shape or map_curves.shape[1] < 2:
        raise ValueError(f"map_curves and random_curves must be two (n, points >= 2) arrays of one shape, got "
                         f"{map_curves.shape} and {random_curves.shape}")
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence!r}")
    fractions = np.linspace(0, 1, map_curves.shape[1])
    auc_map = np.trapezoid(map_curves, fractions, axis=1)
    auc_random = np.trapezoid(random_curves, fractions, axis=1)
    differences = auc_map - auc_random
    bound = bootstrap_bound(np.mean, [(differences,)], "<=", confidence, n_resamples=resamples, seed=seed)
    return DeletionCheck(mean_auc_map=float(auc_map.mean()), mean_auc_random=float(auc_random.mean()),
                         mean_difference=float(differences.mean()), difference_upper_bound=bound,
                         confidence=confidence, n_images=len(differences), passed=bound < 0)
