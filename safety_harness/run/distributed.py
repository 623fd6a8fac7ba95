"""The prediction stage on a Ray cluster, for ingests that outgrow one machine (``--ray-address``).

Decoding, perturbing and the forward pass of the run's ingest go to a pool of Ray actors, each
holding the model and the opened ingest; everything else in the harness runs as before. The
images a condition needs are cut into *shards* of :data:`SHARD_BATCHES` whole batches, in index
order: a worker predicts a shard exactly as the single-process stage predicts those batches (the
same images in the same batches give the same numbers), and writes it as one entry of a shared
store (a :class:`~safety_harness.run.prediction_cache.PredictionCache` folder: atomic writes,
a SHA-256 digest, a key naming what determines the shard; ``docs/scaling.md``). The driver reads
the entries back in shard order and concatenates them, so the predictions, the counts and every
verdict are those of the single-process run (``tests/test_distributed.py``). A shard whose entry
is already in the store is not sent again: a run that stopped half way resumes.

The store must be reachable under the same path from the driver and from every worker (a shared
file system on a cluster; any folder with ``--ray-address=local``), and so must the model, its
card and the ingest. Ray is an optional dependency (``requirements-ray.txt``).
"""

import dataclasses
import os
from pathlib import Path

import numpy as np

from safety_harness.core.progress import SILENT, Progress
from safety_harness.ingest.reader import MAX_IMAGE_PIXELS
from safety_harness.plan.conditions import Condition
from safety_harness.run.prediction_cache import PredictionCache, cache_key, code_fingerprint

#: batches per shard: the unit of work a worker takes and of what the store holds
SHARD_BATCHES = 4
#: how often a worker whose process ended (killed, or its node lost) is started again, and its shard sent
#: again: a shard's entry appears whole or not at all, and a retry writes the same bytes
WORKER_RESTARTS = 3
#: the harness's folder: local workers import it from there, a remote cluster receives it as the job's working dir
_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_QUIET = {"NO_ALBUMENTATIONS_UPDATE": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "RAY_DEDUP_LOGS": "0"}


def shards(indices: np.ndarray, batch_size: int, shard_batches: int = SHARD_BATCHES) -> list[np.ndarray]:
    """``indices`` cut, in order, into runs of ``shard_batches`` whole batches of ``batch_size``
    (the last run may be shorter), so that every shard's batches are the single-process stage's."""
    if batch_size < 1 or shard_batches < 1:
        raise ValueError(f"batch_size and shard_batches must be >= 1, got {batch_size} and {shard_batches}")
    size = batch_size * shard_batches
    indices = np.asarray(indices, dtype=np.int64)
    return [indices[start:start + size] for start in range(0, indices.size, size)]


def merge_shards(entries: list[tuple[dict, list]]) -> tuple[dict, list]:
    """The ``(arrays, failures)`` of consecutive shards as one entry: every array concatenated in shard
    order (absent where any shard lacks it), failures listed in order."""
    names = set.intersection(*(set(arrays) for arrays, _ in entries)) if entries else set()
    arrays = {name: np.concatenate([shard[name] for shard, _ in entries]) for name in sorted(names)}
    return arrays, [failure for _, failures in entries for failure in failures]


@dataclasses.dataclass(frozen=True)
class WorkerSetup:
    """What a worker needs to predict shards as the driver would: the model with the card the run
    settled on (after the preprocessing check), the ingest, and the run's settings."""

    model_path: Path
    card_path: Path | None
    card: object
    allow_unsafe_model: bool
    ingest_path: Path
    batch_size: int
    seed: int
    store: Path
    #: what the driver matched class folders named by class name to (card names or --class-map), None: nothing
    folder_classes: object = None
    #: the driver's ingest record order (``Ingest.order_sha256``): a worker reading another order is refused
    records_sha256: str = ""
    #: the driver's harness code and library versions (``code_fingerprint``), which the shard keys name: a
    #: worker with others is refused
    code_fingerprint: str = ""
    #: ``--max-image-pixels``: an image declaring more is a failure of that image
    max_image_pixels: int = MAX_IMAGE_PIXELS


def worker_ingest(setup: WorkerSetup):
    """The run's ingest opened as the driver opened it (same class folders), refused when its records
    are not in the driver's order: an index would stand for another image."""
    from safety_harness.ingest import open_ingest

    ingest = open_ingest(setup.ingest_path, setup.folder_classes)
    if ingest.order_sha256 != setup.records_sha256:
        raise RuntimeError(f"the Ray worker reads {setup.ingest_path} in another order than the driver "
                           f"({ingest.layout} layout): is the ingest the same on every node?")
    return ingest


class ShardPredictor:
    """A Ray actor's state: the loaded model and the opened ingest; :meth:`predict` one shard into the store."""

    def __init__(self, setup: WorkerSetup):
        from safety_harness.model_under_test import load_model

        if code_fingerprint() != setup.code_fingerprint:
            raise RuntimeError("the Ray worker runs other library versions (or harness code) than the driver, so its "
                               "predictions would not be those its shard keys name: install requirements.txt on every "
                               "node as on the driver's machine")
        loaded = load_model(setup.model_path, setup.card_path, allow_unsafe=setup.allow_unsafe_model)
        self._model = dataclasses.replace(loaded, card=setup.card)
        self._ingest = worker_ingest(setup)
        self._setup = setup
        self._store = PredictionCache(setup.store)

    def predict(self, condition: str, indices: np.ndarray, key: str) -> str:
        from safety_harness.ingest import iter_image_batches
        from safety_harness.run.predictions import model_inputs, predict_batches

        condition = Condition.parse(condition)
        card, setup = self._model.card, self._setup
        batches = iter_image_batches(self._ingest, card.size, card.interpolation, setup.batch_size, indices,
                                     setup.max_image_pixels)
        predictions, failures = predict_batches(self._model, self._ingest, condition, batches,
                                                model_inputs(condition, setup.seed), indices.size, SILENT)
        self._store.store(key, predictions.arrays(), failures)
        return key


class RayPredictionStage:
    """The run's ingest predicted on Ray: ``address`` ``local`` (a Ray instance started here, with
    ``workers`` CPUs), ``auto`` or ``host:port`` (the cluster this machine is a node of: its head's address)
    or ``ray://host:port`` (a Ray client server)."""

    def __init__(self, address: str, workers: int, setup: WorkerSetup, progress: Progress = SILENT):
        self.address, self.workers, self.setup, self.progress = address, workers, setup, progress
        self.store = PredictionCache(setup.store)
        self._pool = None
        self._started_ray = False

    def describe(self) -> str:
        return f"Ray at {self.address}, {self.workers} worker(s)"

    def predict(self, jobs: list[tuple[Condition, np.ndarray, dict]]) -> list[tuple[dict, list]]:
        """For each ``(condition, indices, key parts)``, the merged ``(arrays, failures)`` of its shards.

        Shards already in the store are read back; the others are predicted by the pool (started on
        first need) and then read back, so what the driver uses is always what the store holds."""
        planned = []
        for condition, indices, parts in jobs:
            planned.append([(condition, shard, cache_key(**parts, shard=shard))
                            for shard in shards(indices, self.setup.batch_size)])
        missing = [shard for job in planned for shard in job if not self._stored(*shard)]
        if missing:
            self._compute(missing)
        merged = []
        for job in planned:
            entries = [self._read(*shard) for shard in job]
            merged.append(merge_shards(entries))
        return merged

    def _stored(self, condition, indices, key) -> bool:
        return self.store.load(key, "shard", expected_indices=indices) is not None

    def _read(self, condition, indices, key) -> tuple[dict, list]:
        stored = self.store.load(key, "shard", expected_indices=indices)
        if stored is None:
            raise RuntimeError(f"shard {key} of {condition} is missing from {self.setup.store} after the Ray workers "
                               f"wrote it ({self.store.outcomes['shard']}): is the store shared with every worker?")
        return stored

    def _compute(self, missing) -> None:
        pool = self._actor_pool()
        total = sum(indices.size for _, indices, _ in missing)
        with self.progress.stage(f"predicting on {self.describe()}", total) as advance:
            work = pool.map(lambda actor, shard: actor.predict.remote(str(shard[0]), shard[1], shard[2]), missing)
            for (_, indices, _), _ in zip(missing, work):
                advance(indices.size)

    def _actor_pool(self):
        if self._pool is None:
            import ray  # an optional dependency, checked with the options (plan/options.py)
            import ray.util

            if not ray.is_initialized():
                self._started_ray = True
                ray.init(**self._init_arguments(), include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            actor = ray.remote(num_cpus=1, max_restarts=WORKER_RESTARTS,
                               max_task_retries=WORKER_RESTARTS)(ShardPredictor)
            self._pool = ray.util.ActorPool([actor.remote(self.setup) for _ in range(self.workers)])
        return self._pool

    def close(self) -> None:
        """Release the workers (each holds a model) and stop Ray if this stage started it."""
        if self._pool is None:
            return
        import ray

        self._pool = None
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    def _init_arguments(self) -> dict:
        if self.address == "local":
            path = os.pathsep.join([str(_PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
            return {"num_cpus": self.workers, "runtime_env": {"env_vars": {**_QUIET, "PYTHONPATH": path}}}
        return {"address": self.address,
                "runtime_env": {"working_dir": str(_PROJECT_ROOT), "env_vars": _QUIET,
                                "excludes": [".cache/", "reports/", ".git/", "__pycache__/"]}}

