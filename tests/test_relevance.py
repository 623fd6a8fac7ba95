"""The relevance mass inside a box (safety_harness/metrics/relevance.py)."""

import numpy as np
import pytest

from safety_harness.metrics.relevance import mean_relevance_map, relevance_mass_in_box


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
def test_bad_arguments_are_named(maps, boxes, named):
    with pytest.raises(ValueError, match=named):
        relevance_mass_in_box(maps, boxes)


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
