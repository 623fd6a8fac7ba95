"""The prediction stage on Ray: shards of whole batches, merged in order, and evidence identical to the single-process run."""

import dataclasses
import importlib.util

import numpy as np
import pytest

from safety_harness.core.errors import HarnessInputError
from safety_harness.core.gtsrb import CLASS_NAMES
from safety_harness.ingest import FolderClasses, open_ingest
from safety_harness.plan.options import check_options
from safety_harness.run.distributed import ShardPredictor, WorkerSetup, merge_shards, shards, worker_ingest
from tests.conftest import deterministic_sections
from tests.test_ingest import image


def test_shards_are_whole_batches_in_index_order():
    indices = np.arange(10, 33)
    cut = shards(indices, batch_size=4, shard_batches=2)
    assert [shard.tolist() for shard in cut] == [list(range(10, 18)), list(range(18, 26)), list(range(26, 33))]
    assert shards(np.zeros(0, np.int64), 4) == []
    with pytest.raises(ValueError, match="batch_size"):
        shards(indices, batch_size=0)


def test_merged_shards_concatenate_in_shard_order_and_keep_only_arrays_every_shard_has():
    first = ({"indices": np.array([0, 1]), "probabilities": np.eye(2), "features": np.ones((2, 3))}, [(2, "broken")])
    second = ({"indices": np.array([3]), "probabilities": np.array([[0.2, 0.8]])}, [])
    arrays, failures = merge_shards([first, second])
    assert arrays["indices"].tolist() == [0, 1, 3] and set(arrays) == {"indices", "probabilities"}
    assert arrays["probabilities"].tolist() == [[1, 0], [0, 1], [0.2, 0.8]]
    assert failures == [(2, "broken")]


@pytest.mark.parametrize(("options", "phrase"), [
    ({"ray_address": "somewhere"}, "is not a Ray address"),
    ({"ray_address": "http://somewhere:6379"}, "is not a Ray address"),
    ({"ray_address": "local", "ray_workers": 0}, "at least one worker"),
    ({"ray_address": "local", "models": ("a.h5", "b.h5")}, "not an ensemble"),
])
def test_unusable_ray_options_name_the_option_and_the_fix(tmp_path, options, phrase):
    with pytest.raises(HarnessInputError, match=phrase) as raised:
        check_options(tmp_path, **options)
    assert "--ray-" in raised.value.problem and raised.value.fix


def test_the_suite_on_local_ray_gives_the_single_process_evidence(run_safety_suite, tmp_path):
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (requirements-ray.txt; `make test` installs it)")
    # clean and perturbed predictions (15 weather conditions), with the monitor's reference data predicted
    # in the driver
    selection = ("-k", "SR-STOP-RECALL or SR-ACCURACY or SR-CALIBRATION-ECE or SR-WEATHER-STOP-RECALL "
                       "or SR-SILENT-STOP-MISS")
    single = run_safety_suite(*selection, name="single-process")
    distributed = run_safety_suite(*selection, "--no-cache", "--ray-address=local", "--ray-workers=2",
                                   f"--ray-store={tmp_path / 'shards'}", name="ray-local")
    assert single.returncode == distributed.returncode == 0, distributed.output
    ingest_stages = {stage: outcome for stage, outcome in distributed.evidence["predictions_from"].items()
                     if stage.startswith("ingest ")}
    assert len(ingest_stages) == 16 and set(ingest_stages.values()) == {"computed on Ray at local, 2 worker(s)"}
    assert list((tmp_path / "shards").rglob("*.npz"))
    # where the predictions came from differs, and says so; nothing else does
    assert ({**deterministic_sections(distributed.evidence), "predictions_from": None}
            == {**deterministic_sections(single.evidence), "predictions_from": None})


def test_a_worker_opens_class_name_folders_as_the_driver_and_refuses_another_order(tmp_path):
    for folder in ("Stop", "Yield"):
        image(tmp_path / "ingest" / folder / "a.png")
    classes = FolderClasses(CLASS_NAMES)
    driver = open_ingest(tmp_path / "ingest", classes)
    setup = WorkerSetup(model_path=None, card_path=None, card=None, allow_unsafe_model=False,
                        ingest_path=driver.root, batch_size=2, seed=0, store=tmp_path / "store",
                        folder_classes=classes, records_sha256=driver.order_sha256)
    assert worker_ingest(setup).records == driver.records
    with pytest.raises(RuntimeError, match="another order"):
        worker_ingest(dataclasses.replace(setup, records_sha256="elsewhere"))


def test_a_worker_with_other_library_versions_than_the_driver_is_refused_before_it_loads_the_model(tmp_path):
    setup = WorkerSetup(model_path=tmp_path / "not-loaded.keras", card_path=None, card=None, allow_unsafe_model=False,
                        ingest_path=tmp_path, batch_size=2, seed=0, store=tmp_path / "store",
                        code_fingerprint="the driver's, with tensorflow of another version")
    with pytest.raises(RuntimeError, match="other library versions"):
        ShardPredictor(setup)


def test_predictions_made_ahead_on_ray_serve_only_the_images_they_were_made_for():
    # sticker attraction asks a sticker condition for its sample; the cases' stop signs were predicted ahead
    from types import SimpleNamespace

    from safety_harness.plan.requirements import Condition
    from safety_harness.run.prediction_cache import PredictionCache, cache_key
    from safety_harness.run.run import SafetyRun

    def arrays(indices):
        return {"indices": np.asarray(indices), "probabilities": np.ones((len(indices), 2)) / 2}, []

    asked = []
    ingest = SimpleNamespace(records=[None] * 6, labels=np.arange(6))
    run = SimpleNamespace(ingest=ingest, cache=PredictionCache(None), plan=SimpleNamespace(mc_dropout_conditions=()),
                          prediction_key_parts=lambda _, c, i: {"c": str(c), "i": i},
                          distributed=SimpleNamespace(describe=lambda: "Ray",
                                                      predict=lambda jobs: asked.append(jobs) or [arrays(jobs[0][1])]))
    condition, stop_signs, sample = Condition("sticker", 2), np.array([1, 4]), np.array([0, 2, 5])
    run._predicted_ahead = {condition: (cache_key(c=str(condition), i=stop_signs), arrays(stop_signs))}
    assert SafetyRun.predict(run, ingest, condition, sample)[0].indices.tolist() == [0, 2, 5]
    assert len(asked) == 1 and condition in run._predicted_ahead
    assert SafetyRun.predict(run, ingest, condition, stop_signs)[0].indices.tolist() == [1, 4]
    assert len(asked) == 1 and not run._predicted_ahead
