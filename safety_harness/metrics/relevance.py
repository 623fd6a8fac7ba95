"""Where an explanation puts its relevance: the share of positive relevance inside the sign's box.

``share_i = sum_{p in box_i} max(R_i(p), 0) / sum_p max(R_i(p), 0)``, the "relevance mass
accuracy" of Arras, Osman and Samek, "CLEVR-XAI: A benchmark dataset for the ground truth
evaluation of neural network explanations", Information Fusion 81 (2022). Only positive
relevance counts: it is what speaks for the class.
"""

import numpy as np


def relevance_mass_in_box(maps, boxes) -> np.ndarray:
    """Per image, the share of its positive relevance that lies inside its box.

    Parameters
    ----------
    maps : array of shape (n, H, W)
        Relevance maps (finite).
    boxes : int array of shape (n, 4)
        ``(x1, y1, x2, y2)`` in map pixels, x2 and y2 exclusive, clipped to the map.

    Returns
    -------
    (n,) float64 in [0, 1]; 0 for a map without positive relevance (it points nowhere).
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3 or not np.isfinite(maps).all():
        raise ValueError(f"maps must be finite relevance maps of shape (n, H, W), got {maps.shape}")
    boxes = np.asarray(boxes)
    if boxes.shape != (len(maps), 4) or not np.issubdtype(boxes.dtype, np.integer):
        raise ValueError(f"boxes must be {len(maps)} integer boxes (x1, y1, x2, y2), got {boxes.dtype} {boxes.shape}")
    height, width = maps.shape[1:]
    x1, y1, x2, y2 = np.clip(boxes, 0, [width, height, width, height]).T
    if (x2 <= x1).any() or (y2 <= y1).any():
        raise ValueError("boxes must be non-empty inside the map (x1 < x2, y1 < y2 after clipping)")
    positive = np.maximum(maps, 0)
    rows, columns = np.arange(height), np.arange(width)
    inside = (((rows[None, :] >= y1[:, None]) & (rows[None, :] < y2[:, None]))[:, :, None]
              & ((columns[None, :] >= x1[:, None]) & (columns[None, :] < x2[:, None]))[:, None, :])
    total = positive.sum(axis=(1, 2))
    return np.divide((positive * inside).sum(axis=(1, 2)), total, out=np.zeros(len(maps)), where=total > 0)
