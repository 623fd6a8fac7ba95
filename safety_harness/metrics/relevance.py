"""Where an explanation puts its relevance: the share of positive relevance inside the sign's box.

``share_i = sum_{p in box_i} max(R_i(p), 0) / sum_p max(R_i(p), 0)``, the "relevance mass
accuracy" of Arras, Osman and Samek, "CLEVR-XAI: A benchmark dataset for the ground truth
evaluation of neural network explanations", Information Fusion 81 (2022). Only positive
relevance counts: it is what speaks for the class.

Where a class's relevance lies on average (the report's per-class view) is the mean of the
maps' positive parts, each scaled to unit mass so every image weighs the same:
``mean(p) = (1/n) sum_i max(R_i(p), 0) / sum_q max(R_i(q), 0)`` over the n maps with positive
relevance.
"""

import numpy as np


def _checked_maps(maps) -> np.ndarray:
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3 or not np.isfinite(maps).all():
        raise ValueError(f"maps must be finite relevance maps of shape (n, H, W), got {maps.shape}")
    return maps


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
    maps = _checked_maps(maps)
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


def mean_relevance_map(maps) -> np.ndarray:
    """The mean of the maps' positive parts, each scaled to unit mass first.

    Parameters
    ----------
    maps : array of shape (n, H, W)
        Relevance maps (finite).

    Returns
    -------
    (H, W) float64 summing to 1; all zeros when no map has positive relevance (none points anywhere).
    """
    positive = np.maximum(_checked_maps(maps), 0)
    totals = positive.sum(axis=(1, 2))
    pointing = totals > 0
    if not pointing.any():
        return np.zeros(positive.shape[1:])
    return (positive[pointing] / totals[pointing, None, None]).mean(axis=0)


def relevance_mass_in_mask(maps, masks) -> np.ndarray:
    """Per image, the share of its positive relevance that lies on its mask's pixels.

    ``share_i = sum_{p in mask_i} max(R_i(p), 0) / sum_p max(R_i(p), 0)``, the relevance mass accuracy
    above with an arbitrary region for the box: e.g. the pixels a sticker covers, where a model that
    learned the sticker instead of the sign puts its relevance.

    Parameters
    ----------
    maps : array of shape (n, H, W)
        Relevance maps (finite).
    masks : bool array of shape (n, H, W)
        The region of each image.

    Returns
    -------
    (n,) float64 in [0, 1]; 0 for a map without positive relevance (it points nowhere).
    """
    maps = _checked_maps(maps)
    masks = np.asarray(masks)
    if masks.shape != maps.shape or masks.dtype != bool:
        raise ValueError(f"masks must be boolean of the maps' shape {maps.shape}, got {masks.dtype} {masks.shape}")
    positive = np.maximum(maps, 0)
    total = positive.sum(axis=(1, 2))
    return np.divide((positive * masks).sum(axis=(1, 2)), total, out=np.zeros(len(maps)), where=total > 0)
