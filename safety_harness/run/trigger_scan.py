"""The run's trigger scan: Neural Cleanse (safety_harness/backdoor/neural_cleanse.py) once per run, cached.

The scan reverse-engineers every class's smallest trigger on a seeded sample of
:data:`SAMPLE_SIZE` evaluated clean ingest images (labels are not needed), within
``--trigger-scan-steps`` steps (default :data:`~safety_harness.backdoor.neural_cleanse.DEFAULT_STEPS`; a step budget, not a time budget, so the
result does not depend on the machine). The result is kept in the prediction cache under the
model's digest and card, the ingest's content, the seed and the step budget (and, through the
cache's code fingerprint, the scan's code), so a warm run, or another run on the same model and
ingest, reads it back instead of paying for it again; the time it took is stored with it.
"""

import functools
import time
from dataclasses import dataclass

import numpy as np

from safety_harness.backdoor.neural_cleanse import TriggerSearch, reverse_engineer_triggers
from safety_harness.explanations.model_access import ExplainedModel
from safety_harness.model_under_test.inference import preprocess
from safety_harness.run.context import StageContext
from safety_harness.run.prediction_cache import cache_key
from safety_harness.run.stage_code import MODEL_CODE

SAMPLE_SIZE = 128
STAGE = "trigger scan"


@dataclass(frozen=True)
class TriggerScan:
    """The scan's triggers and what it cost: wall and CPU seconds when it was computed (a cached scan
    reports the time it took then)."""

    search: TriggerSearch
    max_steps: int
    sample_size: int
    #: the mean area (pixels, at the model's input size) of the sampled images' sign boxes
    sign_area: float
    seconds: float
    cpu_seconds: float


class TriggerScanStage:
    """The trigger scan of one run, computed (or read from the cache) on first use."""

    def __init__(self, context: StageContext):
        self._context = context

    @functools.cached_property
    def result(self) -> TriggerScan:
        run = self._context
        clean, max_steps, seed = run.clean, run.options.trigger_scan_steps, run.options.seed
        rng = np.random.default_rng(seed)
        positions = np.sort(rng.choice(clean.indices.size, min(SAMPLE_SIZE, clean.indices.size), replace=False))
        key = cache_key(code=(__name__, MODEL_CODE), stage=STAGE, model=run.model.sha256,
                        card=run.model.card.to_dict(),
                        ingest=run.content_sha256(run.ingest), records=run.ingest.order_sha256, seed=seed,
                        max_steps=max_steps, sample=positions)
        stored = run.cache.load(key, STAGE)
        if stored is not None:
            arrays, _ = stored
            search = TriggerSearch(masks=arrays["masks"], patterns=arrays["patterns"], norms=arrays["norms"],
                                   success_rates=arrays["success_rates"], steps=int(arrays["steps"]),
                                   converged=bool(arrays["converged"]), history=arrays["history"])
            return TriggerScan(search, max_steps, positions.size, float(arrays["sign_area"]), float(arrays["seconds"]),
                               float(arrays["cpu_seconds"]))
        model = run.model
        images, boxes = run.images(clean, positions)
        sign_area = float(np.mean((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
        started, cpu_started = time.perf_counter(), time.process_time()
        search = reverse_engineer_triggers(ExplainedModel(model.network, model.loader, model.card.output),
                                           preprocess(images, model.card), model.card.fed_range,
                                           max_steps=max_steps, seed=seed, progress=run.progress)
        scan = TriggerScan(search, max_steps, positions.size, sign_area, round(time.perf_counter() - started, 1),
                           round(time.process_time() - cpu_started, 1))
        run.cache.store(key, {"masks": search.masks, "patterns": search.patterns, "norms": search.norms,
                              "success_rates": search.success_rates, "steps": np.array(search.steps),
                              "converged": np.array(search.converged), "history": search.history,
                              "sign_area": np.array(sign_area), "seconds": np.array(scan.seconds),
                              "cpu_seconds": np.array(scan.cpu_seconds)}, [])
        return scan
