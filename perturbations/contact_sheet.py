"""A contact sheet: a few signs under one perturbation at every severity, so a reader sees what "fog 3" means."""

import numpy as np

from safety_harness.perturbations.base import SEVERITIES, Perturbation

GAP = 2


def contact_sheet(perturbation: Perturbation, images: np.ndarray, rois, seed: int) -> np.ndarray:
    """uint8 grid: one row per severity (0 = clean, then 1..5), one column per image, grey gaps."""
    rows = []
    for severity in (0, *SEVERITIES):
        tiles = [perturbation.apply(image, severity, seed, roi) for image, roi in zip(images, rois)]
        rows.append(np.concatenate([np.pad(t, ((0, GAP), (0, GAP), (0, 0)), constant_values=200) for t in tiles], 1))
    return np.concatenate(rows, 0)
