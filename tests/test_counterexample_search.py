"""The sticker counterexample search, on deterministic numpy models with and without a weakness."""

import numpy as np
import pytest

from safety_harness.perturbations.search import search_counterexample
from safety_harness.perturbations.stickers import covered_fraction
from safety_harness.synthetic.renderer import render_sign

SIGNS = [render_sign(14, seed, 32) for seed in range(12)]
IMAGES = np.stack([s.image for s in SIGNS])
ROIS = np.array([s.bbox for s in SIGNS])
LABELS = np.full(len(SIGNS), 14)


def predicts(classes):
    probabilities = np.full((len(classes), 43), 0.001)
    probabilities[np.arange(len(classes)), classes] = 1
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def sticker_sensitive(batch):
    """Reads a stop sign unless a quarter of its centre is covered by (near) black: the study's failure."""
    black_share = (batch[:, 12:20, 12:20].max(axis=3) < 25).mean(axis=(1, 2))
    return predicts(np.where(black_share > 0.25, 1, 14))


def test_finds_and_shrinks_a_sticker_that_flips_the_sign():
    result = search_counterexample(IMAGES, ROIS, LABELS, sticker_sensitive, budget=0.2, max_examples=300)
    assert result.found and result.original_class == 14 and result.predicted_class == 1
    assert len(result.stickers) == 1 and result.stickers[0].colour == (15, 15, 15)
    assert covered_fraction(result.stickers) <= 0.2
    assert sticker_sensitive(result.perturbed[None]).argmax() == 1
    assert "turn class 14 into 1" in result.describe()


def test_is_reproducible():
    first = search_counterexample(IMAGES, ROIS, LABELS, sticker_sensitive, budget=0.2, max_examples=100)
    second = search_counterexample(IMAGES, ROIS, LABELS, sticker_sensitive, budget=0.2, max_examples=100)
    assert first.stickers == second.stickers and first.candidates_tried == second.candidates_tried


def test_reports_its_budget_when_nothing_is_found():
    calls = []

    def robust(batch):
        calls.append(len(batch))
        return predicts(np.full(len(batch), 14))

    result = search_counterexample(IMAGES, ROIS, LABELS, robust, budget=0.1, max_examples=50)
    assert not result.found and result.candidates_tried == 50
    assert "50 candidates tried" in result.describe()
    # one batched call for the clean check, then one per candidate over all images at once
    assert calls == [len(IMAGES)] * (1 + 50)


def test_needs_a_correct_image_to_start_from():
    with pytest.raises(ValueError, match="correctly classified"):
        search_counterexample(IMAGES, ROIS, LABELS, lambda b: predicts(np.zeros(len(b), int)), budget=0.1)
