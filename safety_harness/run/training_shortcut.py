"""Clever-Hans discovery in the training data (``--training-data``): SpRAy over each class's relevance maps.

For every class of the training data, a seeded sample of at most :data:`SAMPLE_PER_CLASS` of its images
is explained for that class and the maps are clustered by spectral relevance analysis
(:func:`safety_harness.metrics.spray.most_concentrating_cluster`). A cluster whose maps hold markedly
more of their relevance on a compact patch than the rest of the class (concentration excess at least
the requirement's ``min_concentration_excess``) is a shortcut candidate: the report shows its mean map
over its mean image, examples and its share of the class.

The maps come from LRP when it passed its self-checks on this model (SpRAy's own explainer, per pixel),
else from the run's chosen explainer (safety_harness/run/explanations.py). Grad-CAM's maps are too
coarse for it: on the bundled shortcut model's class-1 training renders, the 4 % of Grad-CAM's cells
with most relevance hold 0.179 of it on the stickered copies and 0.185 on their clean originals (LRP:
0.284 against 0.192). The maps are computed in batches and kept in the run's cache under the model,
its card, the explainer, the training data's content, the seed and the sample.
"""

import functools
import time
from dataclasses import dataclass

import numpy as np

from safety_harness.explanations import EXPLAINERS, ExplainedModel
from safety_harness.ingest import iter_image_batches
from safety_harness.metrics.spray import ConcentratingCluster, most_concentrating_cluster
from safety_harness.model_under_test.inference import preprocess
from safety_harness.run.context import StageContext
from safety_harness.run.explanations import AveragedMaps, ExplanationStage
from safety_harness.run.stage_code import MODEL_CODE

#: training images of a class explained and clustered (a seeded sample when there are more)
SAMPLE_PER_CLASS = 128
#: fewer sampled images than this leave a class unexamined (the similarity graph joins each to 10 others)
MIN_IMAGES = 20
#: the explainer SpRAy prefers when it passed its self-checks: relevance per pixel
PREFERRED_EXPLAINER = "lrp"
#: images of a cluster shown beside its mean
EXAMPLES = 4
STAGE = "training-data relevance maps"


@dataclass(frozen=True)
class ClassClusters:
    """One class's SpRAy result: the images sampled and the most concentrating cluster (None: one cluster);
    for the cluster, its averaged maps with its first :data:`EXAMPLES` images as examples."""

    class_id: int
    sampled: int
    cluster: ConcentratingCluster | None
    maps: AveragedMaps | None = None

    def to_dict(self) -> dict:
        cluster = self.cluster
        return {"class": self.class_id, "sampled": self.sampled, "clusters_found": cluster is not None,
                **({} if cluster is None else {
                    "cluster_size": int(cluster.members.size), "share": round(cluster.share, 6),
                    "concentration_excess": round(cluster.excess, 6),
                    "cluster_median_top_mass": round(cluster.median_top_mass, 6),
                    "rest_median_top_mass": round(cluster.rest_median_top_mass, 6),
                    "examples": list(self.maps.example_names)})}


@dataclass(frozen=True)
class TrainingShortcuts:
    """SpRAy over every class of the training data by ``explainer`` (None: none applies, ``reason`` says why)."""

    explainer: str | None
    sanity_passed: bool
    classes: tuple[ClassClusters, ...]
    unexamined: dict
    images: int
    seconds: float
    reason: str | None = None


class TrainingShortcutStage:
    """SpRAy over the run's ``--training-data``, computed on first use (its maps read from the cache)."""

    def __init__(self, context: StageContext, explanations: ExplanationStage):
        self._context = context
        #: the explanation stage whose self-checks choose the explainer
        self._explanations = explanations

    @property
    def applicable(self) -> bool:
        return self._context.training_data_ingest is not None

    @property
    def _passed(self) -> set[str]:
        return {figures.name for figures in self._explanations.figures if figures.passed}

    @property
    def explainer(self) -> str | None:
        """LRP when it passed its self-checks, else the run's heatmap explainer (None when none applies)."""
        return PREFERRED_EXPLAINER if PREFERRED_EXPLAINER in self._passed else self._explanations.heatmap_explainer

    def _sample(self, ingest) -> dict[int, np.ndarray]:
        """Per class, the positions in the training data of its seeded sample, in record order."""
        seed, labels = self._context.options.seed, ingest.labels
        sample = {}
        for class_id in np.unique(labels[labels >= 0]):
            members = np.flatnonzero(labels == class_id)
            rng = np.random.default_rng([seed, int(class_id)])
            sample[int(class_id)] = np.sort(rng.choice(members, min(SAMPLE_PER_CLASS, members.size), replace=False))
        return sample

    @functools.cached_property
    def result(self) -> TrainingShortcuts:
        run = self._context
        ingest, card, name = run.training_data_ingest, run.model.card, self.explainer
        started = time.perf_counter()
        if name is None:
            reason = self._explanations.model_wide_reason or "no explainer applies to this model"
            return TrainingShortcuts(None, False, (), {}, 0, 0.0, reason)
        sample = self._sample(ingest)
        positions = np.concatenate(list(sample.values())) if sample else np.zeros(0, np.int64)
        stored = run.cache.cached(
            STAGE, functools.partial(self._maps, ingest, positions, name), code=MODEL_CODE, model=run.model.sha256,
            card=card.to_dict(), explainer=name, training_data=run.content_sha256(ingest),
            records=ingest.order_sha256, seed=run.options.seed, positions=positions,
            max_image_pixels=run.options.max_image_pixels)
        decoded, maps, images = stored["positions"], stored["maps"], stored["images"]
        classes, unexamined = [], {}
        for class_id, chosen in sample.items():
            rows = np.flatnonzero(np.isin(decoded, chosen))
            if rows.size < MIN_IMAGES:
                unexamined[class_id] = f"{rows.size} decodable images sampled, fewer than {MIN_IMAGES}"
                continue
            cluster = most_concentrating_cluster(maps[rows], seed=run.options.seed)
            classes.append(self._class_clusters(ingest, class_id, decoded[rows], images[rows], maps[rows], cluster))
        return TrainingShortcuts(name, name in self._passed, tuple(classes), unexamined, int(decoded.size),
                                 round(time.perf_counter() - started, 1))

    def _maps(self, ingest, positions, name) -> dict:
        """The sampled training images that decode (at the model's input size), their maps, explained for their
        class, and their positions; batch by batch."""
        run, card = self._context, self._context.model.card
        model = ExplainedModel(run.model.network, run.model.loader, card.output)
        decoded, images, maps = [], [], []
        for batch in iter_image_batches(ingest, card.size, card.interpolation, run.options.batch_size, positions,
                                        run.options.max_image_pixels):
            if not batch.indices.size:
                continue
            decoded.append(batch.indices)
            images.append(batch.images)
            maps.append(EXPLAINERS[name][0](model, preprocess(batch.images, card), ingest.labels[batch.indices],
                                            tuple(card.pixel_range)))
        if not decoded:
            return {"positions": np.zeros(0, np.int64), "images": np.zeros((0, *card.size, 3), np.uint8),
                    "maps": np.zeros((0, *card.size), np.float32)}
        return {"positions": np.concatenate(decoded), "images": np.concatenate(images), "maps": np.concatenate(maps)}

    @staticmethod
    def _class_clusters(ingest, class_id, positions, images, maps, cluster) -> ClassClusters:
        if cluster is None:
            return ClassClusters(class_id, int(positions.size), None)
        members = cluster.members
        shown = members[:EXAMPLES]
        paths = [ingest.records[int(p)].path for p in positions[shown]]
        names = tuple(str(path.relative_to(ingest.root)) if path.is_relative_to(ingest.root) else str(path)
                      for path in paths)
        return ClassClusters(class_id, int(positions.size), cluster,
                             AveragedMaps.of(images[members], maps[members], names))
