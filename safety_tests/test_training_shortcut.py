"""Clever-Hans discovery in the training data: no class is explained by a compact patch on a share of its images.

With ``--training-data``, each class's relevance maps of a seeded sample of its training images are clustered
by spectral relevance analysis (safety_harness/run/training_shortcut.py); a cluster that concentrates its
relevance on a compact patch and holds a share of the class is a learned shortcut.

PYTEST_DONT_REWRITE: a failed verdict prints its own one-line explanation, not pytest's introspection.
"""

import pytest

from safety_harness.metrics.verdicts import Verdict


@pytest.mark.requirement_metric("shortcut_cluster")
def test_no_training_class_splits_off_a_cluster_that_looks_at_a_compact_patch(requirement_case, safety_run, evidence):
    stage = safety_run.training_shortcut
    if not stage.applicable:
        evidence.not_applicable("no --training-data given: there are no training images to explain")
    shortcuts = stage.result
    if shortcuts.explainer is None:
        evidence.not_applicable(f"no relevance maps to cluster: {shortcuts.reason}")
    result = evidence.judge(shortcuts)
    assert result.verdict is Verdict.PASS, result.message
