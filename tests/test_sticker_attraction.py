"""Sticker attraction (safety_harness/metrics/attraction.py) against known answers."""

import numpy as np
import pytest

from safety_harness.metrics.attraction import sticker_attraction
from safety_harness.metrics.bounds import clopper_pearson_lower, clopper_pearson_upper
from safety_harness.metrics.verdicts import Verdict


def stickered(attracted_into: dict, n_per_class: int, num_classes: int, group: str = "sticker:2"):
    """``n_per_class`` stickered signs of every class, all predicted right except ``attracted_into[c]`` signs of
    other classes predicted as ``c``."""
    labels = np.repeat(np.arange(num_classes), n_per_class)
    predictions = labels.copy()
    for class_id, count in attracted_into.items():
        predictions[np.flatnonzero((labels != class_id) & (predictions == labels))[:count]] = class_id
    return labels, predictions, np.full(labels.size, group)


def test_no_attraction_passes_with_every_bonferroni_bound_below_the_limit():
    labels, predictions, groups = stickered({}, 200, 4)
    result = sticker_attraction(labels, predictions, groups, 4, limit=0.15)
    assert result.verdict is Verdict.PASS and result.comparisons == 4
    assert result.bonferroni_confidence == pytest.approx(1 - 0.05 / 4)
    assert result.largest_upper_bound == pytest.approx(clopper_pearson_upper(0, 600, 1 - 0.05 / 4))
    assert result.images_needed() is None


def test_a_class_that_attracts_a_third_fails_naming_the_class_and_its_bound():
    labels, predictions, groups = stickered({2: 200}, 200, 4)  # 200 of the 600 signs of classes 0, 1, 3
    result = sticker_attraction(labels, predictions, groups, 4, limit=0.15)
    assert result.verdict is Verdict.FAIL
    cell = result.attracting
    assert (cell.class_id, cell.group, cell.attracted, cell.n) == (2, "sticker:2", 200, 600)
    assert cell.rate == pytest.approx(1 / 3)
    assert cell.lower == pytest.approx(clopper_pearson_lower(200, 600, 1 - 0.05 / 4)) and cell.lower > 0.15


def test_too_few_stickered_signs_are_insufficient_evidence_with_the_images_that_would_decide():
    labels, predictions, groups = stickered({1: 2}, 10, 3)  # 2 of 20: 10 %, under the limit, bound far above it
    result = sticker_attraction(labels, predictions, groups, 3, limit=0.15)
    assert result.verdict is Verdict.INSUFFICIENT_EVIDENCE
    assert result.attracting.class_id == 1 and result.attracting.rate == pytest.approx(0.1)
    needed = result.images_needed()  # the 2 attracted and class 1's own 10 signs held fixed
    for size, verdict in ((needed - 1, Verdict.INSUFFICIENT_EVIDENCE), (needed, Verdict.PASS)):
        labels = np.r_[np.ones(10, int), np.arange(size - 10) % 2 * 2]  # the rest: classes 0 and 2
        predictions = np.where(np.arange(size) < 12, 1, labels)  # two signs of class 0 taken for 1
        assert sticker_attraction(labels, predictions, np.zeros(size), 3, limit=0.15).verdict is verdict


def test_a_rate_above_the_limit_with_a_lower_bound_below_it_is_insufficient_not_fail():
    labels, predictions, groups = stickered({0: 4}, 10, 3)  # 4 of 20: 20 %, but the lower bound is far below
    result = sticker_attraction(labels, predictions, groups, 3, limit=0.15)
    assert result.attracting.rate > 0.15 and result.verdict is Verdict.INSUFFICIENT_EVIDENCE


def test_bonferroni_over_classes_and_sets_turns_a_lone_fail_into_insufficient_evidence():
    # 26 of 100 signs of class 0 taken for class 1: the 97.5 % lower bound over 2 classes exceeds 0.15,
    # the bounds over 43 classes in 3 sets (1 - 0.05 / 129) do not
    labels = np.r_[np.zeros(100, int), np.ones(100, int)]
    predictions = np.where(np.arange(200) < 26, 1, labels)
    alone = sticker_attraction(labels, predictions, np.zeros(200), 2, limit=0.15)
    assert alone.bonferroni_confidence == pytest.approx(0.975) and alone.verdict is Verdict.FAIL
    sets = np.repeat(["sticker:2", "sticker_white:2", "sticker_colour:2"], 200)
    corrected = sticker_attraction(np.tile(labels, 3), np.r_[predictions, labels, labels], sets, 43, limit=0.15)
    assert corrected.comparisons == 129 and corrected.bonferroni_confidence == pytest.approx(1 - 0.05 / 129)
    assert corrected.attracting.class_id == 1 and corrected.attracting.lower < 0.15 < corrected.attracting.rate
    assert corrected.verdict is Verdict.INSUFFICIENT_EVIDENCE


def test_each_set_is_counted_on_its_own_and_the_strongest_set_attracts():
    black = stickered({3: 120}, 100, 4, "sticker:2")
    white = stickered({}, 100, 4, "sticker_white:2")
    labels, predictions, groups = (np.concatenate(parts) for parts in zip(black, white))
    result = sticker_attraction(labels, predictions, groups, 4, limit=0.15)
    assert result.verdict is Verdict.FAIL and result.comparisons == 8
    assert result.attracting.group == "sticker:2" and result.attracting.class_id == 3
    assert result.attracting.n == 300  # the white set's signs do not count in the black set's cell
    assert list(result.by_group) == ["sticker:2", "sticker_white:2"]
    assert result.by_group["sticker_white:2"].attracted == 0


def test_a_class_without_signs_of_its_own_still_attracts():
    labels = np.zeros(50, int)
    predictions = np.r_[np.full(40, 1), np.zeros(10, int)]
    result = sticker_attraction(labels, predictions, np.zeros(50), 2, limit=0.15)
    assert result.verdict is Verdict.FAIL and result.attracting.class_id == 1 and result.attracting.n == 50


@pytest.mark.parametrize(("arguments", "named"), [
    (([0, 1], [0], [0, 0], 2, 0.15), "predictions"),
    (([0, 1], [0, 1], [0], 2, 0.15), "groups"),
    (([], [], [], 2, 0.15), "labels"),
    (([0, 1], [0, 1], [0, 0], 1, 0.15), "num_classes"),
    (([0, 5], [0, 1], [0, 0], 2, 0.15), "labels"),
    (([0, 1], [0, 1], [0, 0], 2, 1.5), "limit"),
])
def test_bad_arguments_are_named(arguments, named):
    with pytest.raises(ValueError, match=named):
        sticker_attraction(*arguments)


def test_confidence_out_of_range_is_named():
    with pytest.raises(ValueError, match="confidence"):
        sticker_attraction([0, 1], [0, 1], [0, 0], 2, 0.15, confidence=0.3)


def test_a_set_of_one_class_never_names_its_own_empty_cell_and_cannot_pass():
    result = sticker_attraction(np.zeros(30, int), np.zeros(30, int), np.zeros(30), 3, limit=0.15)
    assert result.attracting.class_id == 1 and result.attracting.n == 30
    # nothing shows that class 0 attracts no other class's signs: its bounds are 0 and 1
    empty = next(cell for cell in result.cells if cell.class_id == 0)
    assert (empty.n, empty.lower, empty.upper) == (0, 0.0, 1.0)
    assert result.verdict is Verdict.INSUFFICIENT_EVIDENCE
