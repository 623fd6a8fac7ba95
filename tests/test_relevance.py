"""The relevance peak and mass inside a box or a mask (safety_harness/metrics/relevance.py)."""

import numpy as np
import pytest

from safety_harness.metrics.relevance import (
    mean_relevance_map,
    relevance_mass_in_box,
    relevance_mass_in_mask,
    relevance_peak_in_box,
)


def test_share_counts_positive_relevance_inside_the_box_only():
    maps = np.zeros((2, 4, 4))
    maps[0, 1, 1], maps[0, 3, 3], maps[0, 0, 0] = 3.0, 1.0, -5.0  # the negative value does not count
    maps[1, 2:, 2:] = 1.0
    boxes = np.array([[0, 0, 2, 2], [2, 2, 4, 4]])
    np.testing.assert_allclose(relevance_mass_in_box(maps, boxes), [0.75, 1.0])


def test_a_map_without_positive_relevance_has_share_zero():
    assert relevance_mass_in_box(-np.ones((1, 3, 3)), np.array([[0, 0, 3, 3]])).tolist() == [0.0]


@pytest.mark.parametrize(("maps", "boxes", "named"), [
    (np.zeros((2, 3)), np.zeros((2, 4), int), "maps"),
    (np.full((1, 3, 3), np.nan), np.array([[0, 0, 1, 1]]), "maps"),
    (np.zeros((1, 3, 3)), np.array([[0.0, 0, 1, 1]]), "boxes"),
    (np.zeros((1, 3, 3)), np.array([[2, 0, 2, 1]]), "boxes"),
])
@pytest.mark.parametrize("metric", [relevance_mass_in_box, relevance_peak_in_box])
def test_bad_arguments_are_named(maps, boxes, named, metric):
    with pytest.raises(ValueError, match=named):
        metric(maps, boxes)


def test_the_peak_counts_where_the_maximum_lies_whatever_the_boxs_size():
    maps = np.zeros((4, 8, 8))
    maps[0, 3, 3] = 1.0  # a small box around the peak: a hit although most of the mass is outside
    maps[0, 6:, :] = 0.9
    maps[1, 0, 0], maps[1, 2:7, 2:7] = 2.0, 1.0  # a large box, the peak in the corner outside it: a miss
    maps[2, :3, :3] = 1.0  # a plateau reaching the box (an edge cell held out to the border): a hit
    maps[3] = -1.0  # no positive relevance: points nowhere
    boxes = np.array([[3, 3, 4, 4], [1, 1, 8, 8], [2, 2, 6, 6], [0, 0, 8, 8]])
    assert relevance_peak_in_box(maps, boxes).tolist() == [True, False, True, False]


def test_mean_map_weighs_every_image_the_same_and_ignores_negative_relevance():
    maps = np.zeros((3, 2, 2))
    maps[0, 0, 0] = 100.0  # a confident image does not outweigh a hesitant one
    maps[1, 1, 1], maps[1, 0, 0] = 0.5, -3.0
    maps[2] = -1.0  # points nowhere: left out
    np.testing.assert_allclose(mean_relevance_map(maps), [[0.5, 0.0], [0.0, 0.5]])


def test_mean_map_of_maps_without_positive_relevance_is_zero():
    assert not mean_relevance_map(-np.ones((2, 3, 3))).any()


def test_mean_map_names_bad_maps():
    with pytest.raises(ValueError, match="maps"):
        mean_relevance_map(np.zeros((3, 3)))


def test_mask_share_counts_positive_relevance_on_the_mask_only():
    maps = np.zeros((2, 3, 3))
    maps[0, 0, 0], maps[0, 2, 2], maps[0, 1, 1] = 1.0, 3.0, -4.0  # the negative value does not count
    maps[1] = -1.0  # no positive relevance: points nowhere
    masks = np.zeros((2, 3, 3), bool)
    masks[:, 0, 0] = masks[:, 1, 1] = True
    np.testing.assert_allclose(relevance_mass_in_mask(maps, masks), [0.25, 0.0])


def test_mask_share_agrees_with_the_box_share_on_a_box():
    maps = np.random.default_rng(0).normal(size=(3, 6, 6))
    masks = np.zeros((3, 6, 6), bool)
    masks[:, 1:4, 2:5] = True
    np.testing.assert_allclose(relevance_mass_in_mask(maps, masks),
                               relevance_mass_in_box(maps, np.tile([2, 1, 5, 4], (3, 1))))


@pytest.mark.parametrize(("maps", "masks", "named"), [
    (np.zeros((2, 3)), np.zeros((2, 3), bool), "maps"),
    (np.zeros((1, 3, 3)), np.zeros((1, 3, 3), int), "masks"),
    (np.zeros((1, 3, 3)), np.zeros((1, 3, 4), bool), "masks"),
])
def test_bad_mask_arguments_are_named(maps, masks, named):
    with pytest.raises(ValueError, match=named):
        relevance_mass_in_mask(maps, masks)
