"""Is the ingest independent of the data the model and its monitor were developed on?

An ingest that shares images, or other frames of the same physical signs, with ``--reference`` (the
data the OOD alarm is fitted on) or ``--training-data`` (the data the model was trained on) measures
memory, not generalisation (ISO/PAS 8800 clause 11; AMLAS asks for verification data independent of
development). Every image is compared at 32x32 with the near-duplicate test of
:func:`safety_harness.ingest.similarity_groups.near_duplicate_pairs`; an ingest group (the estimated
groups of dependent images, :meth:`SafetyRun.groups`) leaks when any of its images has a near-duplicate.
"""

import functools
from dataclasses import dataclass

import numpy as np

from safety_harness.ingest import iter_image_batches
from safety_harness.ingest.groups import Groups
from safety_harness.ingest.similarity_groups import THUMBNAIL_SIZE, near_duplicate_pairs
from safety_harness.metrics.classification import Proportion
from safety_harness.run.context import StageContext

#: leaking pairs listed in the evidence, most similar first (the count says how many there are in all)
LISTED_PAIRS = 200


@dataclass(frozen=True)
class Leakage:
    """The ingest's groups with a near-duplicate (``rate``: one trial per group, the leaking ones its hits;
    ``groups``: one id per trial, each its own, saying how the ingest's groups were formed), the leaking
    pairs (most similar first, at most :data:`LISTED_PAIRS`) and their count, and what was compared."""

    rate: Proportion
    groups: Groups
    pairs: list
    pair_count: int
    compared_with: list


def _decoded(ingest) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the images of ``ingest`` that decode, and those images at 32x32."""
    size = (THUMBNAIL_SIZE, THUMBNAIL_SIZE)
    positions, images = [], []
    for batch in iter_image_batches(ingest, size, "area"):
        positions.append(batch.indices)
        images.append(batch.images)
    if not positions:
        return np.zeros(0, dtype=np.int64), np.zeros((0, *size, 3), dtype=np.uint8)
    return np.concatenate(positions), np.concatenate(images)


def _file_name(ingest, position: int) -> str:
    path = ingest.records[position].path
    return str(path.relative_to(ingest.root)) if path.is_relative_to(ingest.root) else str(path)


class DataIndependenceStage:
    """Near-duplicates of the run's ingest in its reference and training data, found on first use."""

    def __init__(self, context: StageContext):
        self._context = context

    @property
    def applicable(self) -> bool:
        return self._context.reference_ingest is not None or self._context.training_data_ingest is not None

    @functools.cached_property
    def leakage(self) -> Leakage:
        run = self._context
        positions, images = _decoded(run.ingest)
        labels = run.ingest.labels[positions]
        groups = run.groups(run.ingest)
        leaking = np.zeros(len(positions), dtype=bool)
        pairs, compared_with = [], []
        for role, other in (("reference", run.reference_ingest), ("training data", run.training_data_ingest)):
            if other is None:
                continue
            other_positions, other_images = _decoded(other)
            compared_with.append(f"{role} {other.root} ({len(other_positions)} images)")
            found = near_duplicate_pairs(images, other_images, labels_a=labels,
                                         labels_b=other.labels[other_positions])
            leaking[found["index_a"]] = True
            pairs += [{"ingest_file": _file_name(run.ingest, int(positions[a])), "data": role,
                       "matching_file": _file_name(other, int(other_positions[b])), "similarity": round(float(s), 4)}
                      for a, b, s in found]
        pairs.sort(key=lambda pair: -pair["similarity"])
        present, group_of_image = np.unique(groups.ids[positions], return_inverse=True)
        leaking_groups = np.zeros(len(present), dtype=bool)
        leaking_groups[group_of_image[leaking]] = True
        trials = Groups(np.arange(len(present)), groups.source,
                        f"one trial per group of the ingest's dependent images ({groups.description})")
        rate = Proportion(int(leaking_groups.sum()), len(present), np.ones(len(present), dtype=bool), leaking_groups)
        return Leakage(rate, trials, pairs[:LISTED_PAIRS], len(pairs), compared_with)
