"""Requirements on why the model decides: its explanations must point at the sign.

Judged with the explainer the run chose because it passed its self-checks (safety_harness/run/
explanations.py); maps that failed them are never evidence.

PYTEST_DONT_REWRITE: a failed verdict prints its own one-line explanation, not pytest's introspection.
"""

import numpy as np
import pytest

from safety_harness.metrics.classification import Proportion
from safety_harness.metrics.relevance import relevance_mass_in_box, relevance_peak_in_box
from safety_harness.metrics.verdicts import Verdict


@pytest.mark.requirement_metric("relevance_on_sign")
def test_recognised_signs_are_recognised_by_the_sign(requirement_case, predictions, safety_run, evidence):
    explanations, sign = safety_run.explanations, requirement_case.class_id
    if explanations.chosen is None:
        evidence.not_applicable(explanations.model_wide_reason
                                or "no explainer passed its self-checks on this model (see the evidence's explanations)")
    recognised = np.flatnonzero((predictions.labels == sign) & (predictions.predicted == sign))
    images, boxes = safety_run.images(predictions, recognised)
    boxed = (boxes >= 0).all(axis=1)
    if recognised.size and not boxed.any():
        evidence.not_applicable("the ingest gives no sign boxes (Roi.X1..Roi.Y2) for the recognised signs")
    shares, on_sign = np.zeros(0), np.zeros(0, bool)
    if boxed.any():
        maps = explanations.heatmaps(images[boxed], np.full(int(boxed.sum()), sign)).maps
        # judged: where the map peaks (the pointing game), which does not depend on the sign's size;
        # the share of relevance in the box grows with the box and is only reported
        on_sign = relevance_peak_in_box(maps, boxes[boxed])
        shares = relevance_mass_in_box(maps, boxes[boxed])
    population = np.zeros(predictions.indices.size, bool)
    population[recognised[boxed]] = True
    hits = np.zeros(predictions.indices.size, bool)
    hits[recognised[boxed][on_sign]] = True
    rate = Proportion(int(on_sign.sum()), int(boxed.sum()), population, hits)
    result = evidence.judge_rate(rate, predictions, "Recognised signs whose explanation peaks off the sign",
                                 details={"explainer": explanations.chosen,
                                          "median_mass_in_box": float(np.median(shares)) if shares.size else None,
                                          "recognised_without_box": int((~boxed).sum())})
    assert result.verdict is Verdict.PASS, result.message
