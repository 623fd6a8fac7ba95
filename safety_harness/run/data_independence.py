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
        leaking, positions = None, None
        pairs, compared_with = [], []
        for role, other in (("reference", run.reference_ingest), ("training data", run.training_data_ingest)):
            if other is None:
                continue
            found = self._near_duplicates(other)
            positions = found["ingest_positions"]
            leaking = np.isin(positions, found["ingest_matches"]) if leaking is None else \
                leaking | np.isin(positions, found["ingest_matches"])
            compared_with.append(f"{role} {other.root} ({int(found['other_decoded'])} images)")
            pairs += [{"ingest_file": _file_name(run.ingest, int(a)), "data": role,
                       "matching_file": _file_name(other, int(b)), "similarity": round(float(s), 4)}
                      for a, b, s in zip(found["ingest_matches"], found["other_matches"], found["similarity"])]
        pairs.sort(key=lambda pair: -pair["similarity"])
        groups = run.groups(run.ingest)
        present, group_of_image = np.unique(groups.ids[positions], return_inverse=True)
        leaking_groups = np.zeros(len(present), dtype=bool)
        leaking_groups[group_of_image[leaking]] = True
        trials = Groups(np.arange(len(present)), groups.source,
                        f"one trial per group of the ingest's dependent images ({groups.description})")
        rate = Proportion(int(leaking_groups.sum()), len(present), np.ones(len(present), dtype=bool), leaking_groups)
        return Leakage(rate, trials, pairs[:LISTED_PAIRS], len(pairs), compared_with)

    def _near_duplicates(self, other) -> dict:
        """The ingest's positions that decode, how many images of ``other`` decode, and each near-duplicate pair's
        ingest and ``other`` positions and similarity; cached under both data sets' contents, orders and labels."""
        run = self._context

        def compute():
            positions, images = self._decoded_ingest
            other_positions, other_images = _decoded(other)
            found = near_duplicate_pairs(images, other_images, labels_a=run.ingest.labels[positions],
                                         labels_b=other.labels[other_positions])
            return {"ingest_positions": positions, "other_decoded": np.array(len(other_positions)),
                    "ingest_matches": positions[found["index_a"]], "other_matches": other_positions[found["index_b"]],
                    "similarity": found["similarity"]}
        return run.cache.cached(f"near-duplicates of the ingest in {other.root}", compute,
                                ingest=run.content_sha256(run.ingest), records=run.ingest.order_sha256,
                                labels=run.ingest.labels, other=run.content_sha256(other),
                                other_records=other.order_sha256, other_labels=other.labels)

    @functools.cached_property
    def _decoded_ingest(self) -> tuple[np.ndarray, np.ndarray]:
        """The ingest's images at 32x32, decoded once for the data sets it is compared with."""
        return _decoded(self._context.ingest)
