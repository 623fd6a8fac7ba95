"""Where an explanation puts its relevance: whether its peak lies on the sign, and the share of it inside the sign's box.

The pointing game of Zhang et al., "Top-down neural attention by excitation backprop", ECCV 2016
(IJCV 126, 2018): image i is a hit when its map's maximum lies inside its box,
``hit_i = [argmax_p R_i(p) in box_i]``. It asks where the explanation points, not how much of the
image the box covers, so a model that reads the sign scores a hit on small and large signs alike,
and one that reads something off the sign (a corner, a border, a watermark) misses whatever the
sign's size (chance level is the box's share of the image: a peak placed at random hits a large
sign more often, so the pointing game is the weaker test on large signs).

The share of positive relevance inside the box,
``share_i = sum_{p in box_i} max(R_i(p), 0) / sum_p max(R_i(p), 0)``, the "relevance mass
accuracy" of Arras, Osman and Samek, "CLEVR-XAI: A benchmark dataset for the ground truth
evaluation of neural network explanations", Information Fusion 81 (2022), follows the box's size
(a sign that fills the image holds most of any map), so a fixed floor on it fails small signs of a
model that reads the sign: it is reported, not judged. Only positive relevance counts: it is what
speaks for the class.

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


def _box_masks(maps: np.ndarray, boxes) -> np.ndarray:
    """(n, H, W) bool: the pixels of each map inside its box (validated, clipped to the map)."""
    boxes = np.asarray(boxes)
    if boxes.shape != (len(maps), 4) or not np.issubdtype(boxes.dtype, np.integer):
        raise ValueError(f"boxes must be {len(maps)} integer boxes (x1, y1, x2, y2), got {boxes.dtype} {boxes.shape}")
    height, width = maps.shape[1:]
    x1, y1, x2, y2 = np.clip(boxes, 0, [width, height, width, height]).T
    if (x2 <= x1).any() or (y2 <= y1).any():
        raise ValueError("boxes must be non-empty inside the map (x1 < x2, y1 < y2 after clipping)")
    rows, columns = np.arange(height), np.arange(width)
    return (((rows[None, :] >= y1[:, None]) & (rows[None, :] < y2[:, None]))[:, :, None]
            & ((columns[None, :] >= x1[:, None]) & (columns[None, :] < x2[:, None]))[:, None, :])


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
    return relevance_mass_in_mask(maps, _box_masks(maps, boxes))


def relevance_peak_in_box(maps, boxes) -> np.ndarray:
    """Per image, whether its relevance peak lies inside its box: a hit of the pointing game.

    ``hit_i = [max_p R_i(p) > 0 and some p with R_i(p) = max_q R_i(q) lies in box_i]``. Ties count as a
    hit when one of the tied pixels is in the box: a map interpolated from a coarse grid (Grad-CAM)
    is constant from its outermost cells' centres out to the image's border, so a peak on an edge
    cell is a plateau of which only the cell's centre is where the explainer located it; at 32x32
    this is within the 15 px at 224 px that Zhang et al. allow around the peak.

    Parameters
    ----------
    maps : array of shape (n, H, W)
        Relevance maps (finite).
    boxes : int array of shape (n, 4)
        ``(x1, y1, x2, y2)`` in map pixels, x2 and y2 exclusive, clipped to the map.

    Returns
    -------
    (n,) bool; False for a map without positive relevance (it points nowhere).
    """
    maps = _checked_maps(maps)
    inside = _box_masks(maps, boxes)
    peaks = maps == maps.max(axis=(1, 2), keepdims=True)
    return (maps.max(axis=(1, 2)) > 0) & (peaks & inside).any(axis=(1, 2))


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
