"""Classification rates as counts, against hand-computed confusion matrices."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from safety_harness.metrics import classification

LABELS = np.array([14, 14, 14, 14, 1, 1, 2, 2, 2, 0])
PREDICTED = np.array([14, 14, 1, 12, 1, 14, 2, 2, 0, 0])


def test_hand_computed_rates():
    assert classification.recall(LABELS, PREDICTED, 14) == classification.Proportion(2, 4)
    assert classification.precision(LABELS, PREDICTED, 14) == classification.Proportion(2, 3)
    assert classification.accuracy(LABELS, PREDICTED) == classification.Proportion(6, 10)
    assert classification.confusion_rate(LABELS, PREDICTED, 14, [1, 12]) == classification.Proportion(2, 4)
    assert classification.recall(LABELS, PREDICTED, 30) == classification.Proportion(0, 0)
    assert np.isnan(classification.recall(LABELS, PREDICTED, 30).value)


def test_adverse_positions_are_the_samples_counting_against_the_requirement():
    assert classification.recall(LABELS, PREDICTED, 14).adverse_positions(">=").tolist() == [2, 3]
    assert classification.precision(LABELS, PREDICTED, 14).adverse_positions(">=").tolist() == [5]
    assert classification.confusion_rate(LABELS, PREDICTED, 14, [12]).adverse_positions("<=").tolist() == [3]


def test_flip_rate_counts_changes_among_correct_clean_predictions():
    perturbed = np.array([14, 1, 1, 12, 1, 14, 0, 2, 0, 0])
    # correct on clean: positions 0, 1, 4, 6, 7, 9; flipped among them: 1 and 6
    assert classification.flip_rate(LABELS, PREDICTED, perturbed) == classification.Proportion(2, 6)
    assert classification.flip_rate(LABELS, PREDICTED, perturbed, class_id=14) == classification.Proportion(1, 2)


@given(arrays(np.int64, st.integers(1, 200), elements=st.integers(0, 4)),
       st.integers(0, 2**32 - 1))
def test_counts_agree_with_a_confusion_matrix(labels, seed):
    predicted = np.random.default_rng(seed).integers(0, 5, size=labels.shape)
    matrix = np.zeros((5, 5), dtype=int)
    np.add.at(matrix, (labels, predicted), 1)
    for c in range(5):
        assert classification.recall(labels, predicted, c) == classification.Proportion(matrix[c, c], matrix[c].sum())
        assert classification.precision(labels, predicted, c) == classification.Proportion(matrix[c, c],
                                                                                           matrix[:, c].sum())
    assert classification.accuracy(labels, predicted) == classification.Proportion(np.trace(matrix), labels.size)


@pytest.mark.parametrize(
    "labels, predicted, message",
    [
        (np.zeros((2, 2), int), np.zeros((2, 2), int), "labels must be 1-D"),
        (np.zeros(3, int), np.zeros(4, int), "predictions must have the shape"),
        (np.zeros(3, float), np.zeros(3, int), "labels must hold integer"),
    ],
)
def test_invalid_inputs_name_the_argument(labels, predicted, message):
    with pytest.raises(ValueError, match=message):
        classification.accuracy(labels, predicted)


def test_confusion_with_own_class_is_refused():
    with pytest.raises(ValueError, match="confused_with"):
        classification.confusion_rate(LABELS, PREDICTED, 14, [14, 1])
