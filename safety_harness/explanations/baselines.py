"""The blurred baseline: an image with its detail removed but its colours and brightness kept.

A black baseline gives zero attribution to black pixels (``x - baseline = 0`` there), and
removing pixels by blacking them out creates edges the model never saw. Blurring removes
the information a classifier reads (edges, pictogram) while staying near the image's own
distribution (Sturmfels, Lundberg and Lee, "Visualizing the Impact of Feature Attribution
Baselines", Distill 2020; Fong and Vedaldi, "Interpretable Explanations of Black Boxes by
Meaningful Perturbation", ICCV 2017).
"""

import numpy as np
from scipy.ndimage import gaussian_filter

BLUR_SIGMA_FRACTION = 0.125


def blurred_baseline(inputs: np.ndarray, sigma_fraction: float = BLUR_SIGMA_FRACTION) -> np.ndarray:
    """Each image of a (n, H, W, C) batch blurred by a Gaussian of sigma ``sigma_fraction * max(H, W)`` pixels.

    Edges are extended (``mode="nearest"``) so the border does not darken; channels and
    images are blurred separately.
    """
    inputs = np.asarray(inputs)
    if inputs.ndim != 4:
        raise ValueError(f"inputs must be a batch (n, H, W, C), got shape {inputs.shape}")
    if not sigma_fraction > 0:
        raise ValueError(f"sigma_fraction must be > 0, got {sigma_fraction!r}")
    sigma = sigma_fraction * max(inputs.shape[1:3])
    return gaussian_filter(inputs.astype(np.float32), sigma=(0, sigma, sigma, 0), mode="nearest")
