"""Spectral relevance analysis (SpRAy): clusters of one class's relevance maps, and the clusters that concentrate.

A model that learned a shortcut (a sticker, a watermark, a tag) on part of a class's training images
explains those images by a small patch of pixels; its other images by the sign. SpRAy (Lapuschkin et
al., "Unmasking Clever Hans predictors and assessing what machines really learn", Nature
Communications 10, 2019) finds such a group without knowing what to look for: the class's maps are
downsampled, a k-nearest-neighbour similarity graph is built over them, and its normalised
Laplacian's eigengap chooses the number of clusters of a spectral clustering.

Each map is described here by its *relevance profile*: the positive part scaled to unit mass,
summed over a ``grid`` x ``grid`` grid of cells and sorted in decreasing order,

    ``profile_i = sort_desc( pool_grid( max(R_i, 0) / sum_p max(R_i(p), 0) ) )``.

Sorting drops where the relevance lies and keeps how it is spread, so images whose relevance sits on a
compact patch cluster together wherever the patch is (a sticker is pasted at a new place on every
image; a watermark in one place is found as well). Measured on the bundled shortcut model's training
renders, SpRAy over the pooled maps themselves split class 1 by sign appearance, with the stickered
images spread evenly over the clusters; over the profiles, a cluster of stickered images only.

The graph: ``A_ij = 1`` when j is among the ``n_neighbors`` nearest profiles of i (Euclidean) or i
among j's, ``L = I - D^-1/2 A D^-1/2`` with ``D`` the degrees. With eigenvalues ``0 = l_1 <= l_2 <= ...``
the number of clusters is ``k = argmax_{1 <= j <= max_clusters} (l_{j+1} - l_j)`` (the eigengap), and
the rows of the first ``k`` eigenvectors, scaled to unit length, are clustered by k-means (Ng, Jordan
and Weiss, NIPS 2001), best of ``restarts`` seeded k-means++ starts.

A cluster's concentration excess is how much more of its relevance the top ``top_share`` of cells
hold than in the rest of the class, median against median:

    ``excess(C) = median_{i in C} top_i - median_{i not in C} top_i``,  ``top_i`` = sum of the largest
    ``ceil(top_share * grid^2)`` entries of ``profile_i``.

A cluster with a large excess is flagged, and judged on the share of the class it holds
(:func:`judge_shortcut_clusters`).
"""

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.spatial.distance import cdist

from safety_harness.metrics.bounds import clopper_pearson_lower
from safety_harness.metrics.verdicts import Verdict

#: cells per side the maps are pooled to (16: a 32x32 input's 2x2 pixel blocks)
GRID = 16
#: share of the cells whose relevance measures how concentrated a map is (4 %: 10 of 256 cells, about the
#: size of the smallest sticker the harness pastes)
TOP_SHARE = 0.04
NEIGHBOURS = 10
MAX_CLUSTERS = 10
RESTARTS = 10


def _checked_maps(maps) -> np.ndarray:
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3 or not np.isfinite(maps).all():
        raise ValueError(f"maps must be finite relevance maps of shape (n, H, W), got {maps.shape}")
    return maps


def pooled_maps(maps, grid: int = GRID) -> np.ndarray:
    """Each map's positive part scaled to unit mass and pooled to ``grid`` x ``grid`` cells (area-weighted, so
    a map whose side ``grid`` does not divide is pooled too), each cell holding the mass it covers.

    Parameters
    ----------
    maps : array of shape (n, H, W)
        Relevance maps (finite), H and W at least ``grid``.
    grid : int
        Cells per side.

    Returns
    -------
    (n, grid, grid) float64, each summing to 1 (all zeros for a map without positive relevance).
    """
    maps = _checked_maps(maps)
    if not 1 <= grid <= min(maps.shape[1:]):
        raise ValueError(f"grid must lie in 1..{min(maps.shape[1:])} (the maps' smaller side), got {grid}")
    positive = np.maximum(maps, 0)
    pooled = np.stack([cv2.resize(m, (grid, grid), interpolation=cv2.INTER_AREA) for m in positive]) \
        if len(maps) else np.zeros((0, grid, grid))
    totals = pooled.sum(axis=(1, 2), keepdims=True)
    return np.divide(pooled, totals, out=np.zeros_like(pooled), where=totals > 0)


def relevance_profiles(maps, grid: int = GRID) -> np.ndarray:
    """The maps' relevance profiles: :func:`pooled_maps` flattened and sorted in decreasing order, (n, grid²)."""
    pooled = pooled_maps(maps, grid).reshape(len(maps), -1)
    return -np.sort(-pooled, axis=1)


def top_mass(profiles, top_share: float = TOP_SHARE) -> np.ndarray:
    """Per profile, the mass of its largest ``ceil(top_share * cells)`` cells, (n,) in [0, 1]."""
    profiles = np.asarray(profiles, dtype=np.float64)
    if profiles.ndim != 2 or not 0 < top_share <= 1:
        raise ValueError(f"profiles must be (n, cells) and top_share in (0, 1], got {profiles.shape}, {top_share}")
    return profiles[:, :math.ceil(top_share * profiles.shape[1])].sum(axis=1)


@dataclass(frozen=True)
class SpectralClusters:
    """``labels`` (n,) cluster of each row in ``0..k-1``; ``eigenvalues`` the smallest of the graph's normalised
    Laplacian (ascending) the eigengap was read from."""

    labels: np.ndarray
    k: int
    eigenvalues: np.ndarray


def spectral_clusters(features, n_neighbors: int = NEIGHBOURS, max_clusters: int = MAX_CLUSTERS, seed: int = 0,
                      restarts: int = RESTARTS) -> SpectralClusters:
    """Spectral clustering of the rows of ``features`` over their symmetric k-nearest-neighbour graph, the
    number of clusters chosen by the eigengap (see the module's docstring for the formulas).

    Parameters
    ----------
    features : array of shape (n, d)
        One row per image (finite), n > ``n_neighbors``.
    n_neighbors : int
        Neighbours each row is joined to.
    max_clusters : int
        Largest number of clusters the eigengap may choose (fewer when n is small).
    seed : int
        Seeds k-means++; the same features and seed give the same clusters.
    restarts : int
        k-means starts; the one with the smallest within-cluster sum of squares is kept.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or not np.isfinite(features).all():
        raise ValueError(f"features must be a finite (n, d) array, got {features.shape}")
    n = len(features)
    if not 1 <= n_neighbors < n or max_clusters < 1 or restarts < 1:
        raise ValueError(f"need 1 <= n_neighbors < n, max_clusters >= 1 and restarts >= 1, got n_neighbors="
                         f"{n_neighbors}, n={n}, max_clusters={max_clusters}, restarts={restarts}")
    distances = cdist(features, features)
    np.fill_diagonal(distances, np.inf)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :n_neighbors]
    adjacency = np.zeros((n, n))
    adjacency[np.repeat(np.arange(n), n_neighbors), nearest.ravel()] = 1
    adjacency = np.maximum(adjacency, adjacency.T)
    scale = 1 / np.sqrt(adjacency.sum(axis=1))
    laplacian = np.eye(n) - scale[:, None] * adjacency * scale[None, :]
    eigenvalues, eigenvectors = np.linalg.eigh(laplacian)
    considered = eigenvalues[:min(max_clusters, n - 1) + 1]
    k = int(np.argmax(np.diff(considered))) + 1
    if k == 1:
        return SpectralClusters(np.zeros(n, dtype=np.int64), 1, considered)
    embedding = eigenvectors[:, :k] / np.linalg.norm(eigenvectors[:, :k], axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    best, best_labels = np.inf, None
    for _ in range(restarts):
        centres, labels = kmeans2(embedding, k, minit="++", seed=rng)
        spread = float(((embedding - centres[labels]) ** 2).sum())
        if spread < best:
            best, best_labels = spread, labels
    # clusters numbered in the order of their first member, so the numbering does not depend on k-means' own
    _, first = np.unique(best_labels, return_index=True)
    renumbered = np.zeros(best_labels.max() + 1, dtype=np.int64)
    renumbered[best_labels[np.sort(first)]] = np.arange(first.size)
    return SpectralClusters(renumbered[best_labels], int(first.size), considered)


@dataclass(frozen=True)
class ConcentratingCluster:
    """The cluster of a class's maps whose relevance is most concentrated against the rest of the class:
    its members (positions in the maps given), their share of the maps, the excess and both medians."""

    members: np.ndarray
    share: float
    excess: float
    median_top_mass: float
    rest_median_top_mass: float


def most_concentrating_cluster(maps, seed: int = 0, grid: int = GRID, top_share: float = TOP_SHARE,
                               n_neighbors: int = NEIGHBOURS, max_clusters: int = MAX_CLUSTERS,
                               restarts: int = RESTARTS) -> ConcentratingCluster | None:
    """SpRAy over one class's ``maps``: their :func:`relevance_profiles` clustered by :func:`spectral_clusters`,
    and of the clusters the one with the largest concentration excess (module docstring); None when the
    eigengap finds one cluster only (nothing to set apart).

    Parameters
    ----------
    maps : array of shape (n, H, W)
        Relevance maps of one class's images, each explained for that class.
    seed, grid, top_share, n_neighbors, max_clusters, restarts
        As :func:`relevance_profiles`, :func:`top_mass` and :func:`spectral_clusters`.
    """
    profiles = relevance_profiles(maps, grid)
    clusters = spectral_clusters(profiles, n_neighbors, max_clusters, seed, restarts)
    if clusters.k == 1:
        return None
    tops = top_mass(profiles, top_share)
    found = None
    for cluster in range(clusters.k):
        inside = clusters.labels == cluster
        median_in, median_rest = float(np.median(tops[inside])), float(np.median(tops[~inside]))
        if found is None or median_in - median_rest > found.excess:
            found = ConcentratingCluster(np.flatnonzero(inside), float(inside.mean()), median_in - median_rest,
                                         median_in, median_rest)
    return found


@dataclass(frozen=True)
class ShortcutJudgement:
    """The verdict on a training set's classes, and per class the flag and its share's lower bound (0 when not
    flagged: only flagged clusters are bounded)."""

    verdict: Verdict
    flagged: np.ndarray
    lower_bounds: np.ndarray
    bound_confidence: float | None


def judge_shortcut_clusters(cluster_sizes, sampled, excesses, min_excess: float, threshold: float,
                            confidence: float = 0.95) -> ShortcutJudgement:
    """Judge each class's most concentrating SpRAy cluster (:func:`most_concentrating_cluster`).

    A class is flagged when its cluster's concentration excess is at least ``min_excess``. A flagged class
    fails the requirement when the exact one-sided lower bound of its cluster's share of the sample,
    ``L = clopper_pearson_lower(size, sampled, 1 - (1 - confidence) / m)`` with ``m`` the number of flagged
    classes (Bonferroni: the bound holds for every flagged class at once), exceeds ``threshold``:

    - ``fail`` when some flagged class's ``L > threshold``;
    - ``insufficient_evidence`` when no class was examined, or a flagged share ``size / sampled`` exceeds
      ``threshold`` while its bound does not;
    - ``pass`` otherwise.

    Parameters
    ----------
    cluster_sizes, sampled : int arrays of shape (c,)
        Per examined class, its cluster's images (0 when the eigengap found one cluster) and the images sampled.
    excesses : float array of shape (c,)
        Per class, its cluster's concentration excess (NaN or anything below ``min_excess`` when none).
    min_excess, threshold : float in (0, 1]
        The excess that flags a cluster, and the share of the class a flagged cluster may hold.
    confidence : float in [0.5, 1)
        Of the bounds, jointly over the flagged classes.
    """
    sizes, sampled = np.asarray(cluster_sizes, dtype=np.int64), np.asarray(sampled, dtype=np.int64)
    excesses = np.asarray(excesses, dtype=np.float64)
    if not (sizes.shape == sampled.shape == excesses.shape and sizes.ndim == 1):
        raise ValueError(f"cluster_sizes, sampled and excesses must be 1-d of one length, got {sizes.shape}, "
                         f"{sampled.shape}, {excesses.shape}")
    if (sizes < 0).any() or (sizes > sampled).any():
        raise ValueError("every cluster size must lie in 0..sampled")
    if not (0 < min_excess <= 1 and 0 < threshold <= 1 and 0.5 <= confidence < 1):
        raise ValueError(f"need min_excess and threshold in (0, 1] and confidence in [0.5, 1), got {min_excess}, "
                         f"{threshold}, {confidence}")
    flagged = (sizes > 0) & (np.nan_to_num(excesses, nan=-np.inf) >= min_excess)
    count = int(flagged.sum())
    bound_confidence = None if not count else 1 - (1 - confidence) / count
    lower = np.array([clopper_pearson_lower(int(k), int(n), bound_confidence) if flag else 0.0
                      for k, n, flag in zip(sizes, sampled, flagged, strict=True)])
    if (lower > threshold).any():
        verdict = Verdict.FAIL
    elif not sizes.size or (flagged & (sizes > threshold * sampled)).any():
        verdict = Verdict.INSUFFICIENT_EVIDENCE
    else:
        verdict = Verdict.PASS
    return ShortcutJudgement(verdict, flagged, lower, bound_confidence)
