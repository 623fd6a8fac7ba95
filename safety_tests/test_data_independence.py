"""Data independence: the ingest shares no images, nor other frames of the same signs, with the data
the model or its monitor was developed on.

PYTEST_DONT_REWRITE: a failed verdict prints its own one-line explanation, not pytest's introspection.
"""

import pytest

from safety_harness.metrics.verdicts import Verdict


@pytest.mark.requirement_metric("leakage_rate")
def test_ingest_leakage_ceiling(requirement_case, safety_run, evidence):
    stage = safety_run.data_independence
    if not stage.applicable:
        evidence.not_applicable("no --reference or --training-data given: nothing to compare the ingest with "
                                "(the OOD alarm's reference is then a seeded part of the ingest itself)")
    leakage = stage.leakage
    result = evidence.judge_rate(leakage.rate, groups=leakage.groups, details={
        "compared_with": leakage.compared_with,
        "leaking_pairs": leakage.pairs,
        "leaking_pair_count": leakage.pair_count,
    })
    assert result.verdict is Verdict.PASS, result.message
