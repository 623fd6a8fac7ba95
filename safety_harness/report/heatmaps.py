"""Relevance maps as images for the report's bundle: the raw map in a colour scale, and laid over the image.

Each map is scaled by its own largest positive value (negative relevance shows as 0), so the
colours compare places within one image, not images. Maps of an explainer that failed its
self-checks are drawn in grey, so they cannot be mistaken for evidence.
"""

import numpy as np

from safety_harness.evidence.document import Gallery

OVERLAY_WEIGHT = 0.5


def _normalised(relevance_map: np.ndarray) -> np.ndarray:
    positive = np.maximum(np.asarray(relevance_map, np.float64), 0)
    top = positive.max()
    return positive / top if top > 0 else positive


def heat_colours(relevance_map: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3): black -> red -> yellow -> white as relevance rises (a "hot" scale)."""
    m = _normalised(relevance_map)[..., None]
    rgb = np.clip(3 * m - np.array([0.0, 1.0, 2.0]), 0, 1)
    return np.round(rgb * 255).astype(np.uint8)


def overlay(image: np.ndarray, relevance_map: np.ndarray) -> np.ndarray:
    """The map's colours blended over a uint8 RGB image, in proportion to the relevance."""
    weight = OVERLAY_WEIGHT * _normalised(relevance_map)[..., None]
    blended = (1 - weight) * image.astype(np.float64) + weight * heat_colours(relevance_map)
    return np.round(blended).astype(np.uint8)


def greyed(image: np.ndarray) -> np.ndarray:
    """A uint8 RGB image in grey, washed out towards white."""
    grey = image.astype(np.float64).mean(axis=-1, keepdims=True)
    return np.round(np.repeat(128 + grey / 2, 3, axis=-1)).astype(np.uint8)


def explained_gallery(store, images, maps, captions, title: str, note: str, sanity_passed: bool,
                      figure_class: str = "evidence-heatmap") -> Gallery:
    """Per sample: the image, the map over it and the raw map, captioned; ``note`` says which explainer.

    With ``sanity_passed`` False the maps are greyed and the gallery marked as failed (the report labels every
    figure "failed sanity check"); ``figure_class`` tells the figures of one kind of gallery apart.
    """
    figures = []
    for image, relevance_map, caption in zip(images, maps, captions):
        drawn = [image, overlay(image, relevance_map), heat_colours(relevance_map)]
        if not sanity_passed:
            drawn[1:] = [greyed(d) for d in drawn[1:]]
        alts = (caption, f"{caption}: relevance over the image", f"{caption}: relevance")
        figures.append({"pictures": [store.picture(d, alt) for d, alt in zip(drawn, alts)], "caption": caption})
    return Gallery(kind="gallery", title=title, note=note, figure_class=figure_class,
                   failed_sanity_check=not sanity_passed, figures=figures)


def averaged_maps_gallery(store, maps, mean_caption: str, title: str, note: str, sanity_passed: bool,
                          figure_class: str) -> Gallery:
    """A group's averaged maps (safety_harness/run/explanations.py ``AveragedMaps``): its mean image with the mean
    map first, captioned ``mean_caption``, then its examples, each as image, map over it and raw map."""
    return explained_gallery(store, [maps.mean_image, *maps.example_images], [maps.mean_map, *maps.example_maps],
                             [mean_caption, *maps.example_names], title, note, sanity_passed, figure_class)


def class_view_gallery(view, store) -> Gallery:
    """A class's view (safety_harness/run/explanations.py ``ClassView`` with maps)."""
    note = (f"{view.explainer} relevance of class {view.class_id}: image, over the image, raw"
            if view.sanity_passed else
            f"{view.explainer} relevance of class {view.class_id}; no explainer passed its self-checks on this "
            "model: not evidence")
    return averaged_maps_gallery(store, view.maps, f"mean over {view.averaged} recognised signs",
                                 f"{view.class_name} ({view.class_id})", note, view.sanity_passed, "class-heatmap")
