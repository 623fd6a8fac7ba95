"""Requirements against a learned shortcut: a sticker must not pull signs into one class.

A model that learned a sticker instead of a sign keeps its clean accuracy; stickered signs of other
classes then read as the class that carried the stickers. The run stickers a seeded sample of the
ingest with every sticker family (safety_harness/run/sticker_attraction.py).

PYTEST_DONT_REWRITE: a failed verdict prints its own one-line explanation, not pytest's introspection.
"""

import pytest

from safety_harness.metrics.verdicts import Verdict


@pytest.mark.requirement_metric("sticker_attraction")
def test_no_class_attracts_stickered_signs_of_other_classes(requirement_case, predictions, safety_run, evidence):
    requirement, stickered = requirement_case.requirement, safety_run.sticker_attraction
    attraction = stickered.attraction(requirement.threshold, requirement.confidence)
    result = evidence.judge(attraction, stickered.corroboration(attraction.attracting.class_id))
    assert result.verdict is Verdict.PASS, result.message
