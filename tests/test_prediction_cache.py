"""The persistent prediction cache: exact keys, atomic entries, and a second run served from disk."""

import shutil

import numpy as np
import pytest
from PIL import Image

from safety_harness.run.prediction_cache import PredictionCache, cache_key
from tests.conftest import PROJECT_ROOT

ARRAYS = {"indices": np.arange(3), "probabilities": np.eye(3, dtype=np.float32), "logits": None,
          "features": np.ones((3, 2), np.float32), "appearance": np.zeros((3, 16, 16, 3), np.uint8)}
PARTS = {"model": "a" * 64, "card": {"size": [32, 32]}, "ingest": "b" * 64, "condition": "fog:2",
         "perturbation": {"parameters": {"density": 0.3}}, "seed": 0, "indices": np.arange(3), "batch_size": 256}


def test_entries_round_trip_and_leave_no_temporary_file(tmp_path):
    cache = PredictionCache(tmp_path)
    key = cache_key(**PARTS)
    assert cache.load(key, "ingest fog:2") is None and cache.outcomes["ingest fog:2"] == "computed"
    cache.store(key, ARRAYS, [(7, "truncated file")])
    arrays, failures = cache.load(key, "ingest fog:2")
    assert cache.outcomes["ingest fog:2"] == "cache" and failures == [(7, "truncated file")]
    assert "logits" not in arrays
    for name in ("indices", "probabilities", "features", "appearance"):
        assert np.array_equal(arrays[name], ARRAYS[name]) and arrays[name].dtype == ARRAYS[name].dtype
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("part, changed", [
    ("model", "c" * 64), ("card", {"size": [30, 30]}), ("ingest", "d" * 64), ("condition", "fog:3"),
    ("perturbation", {"parameters": {"density": 0.31}}), ("seed", 1), ("indices", np.arange(4)),
    ("batch_size", 128),
])
def test_changing_any_input_changes_the_key(part, changed):
    assert cache_key(**{**PARTS, part: changed}) != cache_key(**PARTS)
    assert cache_key(**PARTS) == cache_key(**dict(PARTS))


def test_an_unreadable_entry_is_recomputed_not_trusted(tmp_path):
    cache = PredictionCache(tmp_path)
    key = cache_key(**PARTS)
    cache.store(key, ARRAYS, [])
    next(tmp_path.rglob("*.npz")).write_bytes(b"half an entry")
    assert cache.load(key, "clean") is None


def test_disabled_cache_stores_nothing(tmp_path):
    cache = PredictionCache(None)
    cache.store("k", ARRAYS, [])
    assert cache.load("k", "clean") is None and cache.outcomes["clean"] == "computed (cache disabled)"


def test_second_run_is_served_from_the_cache_and_one_changed_image_is_recomputed(run_safety_suite, tmp_path):
    from safety_harness.synthetic.default_ingest import ensure_default_ingest

    ingest = tmp_path / "ingest"
    shutil.copytree(ensure_default_ingest(PROJECT_ROOT / ".cache"), ingest)
    options = (f"--ingest={ingest}", f"--cache-dir={tmp_path / 'cache'}",
               "-k", "SR-STOP-RECALL or SR-ACCURACY or SR-OOD-INDEPENDENT-SEPARATION-noise")
    first = run_safety_suite(*options, name="cache-cold")
    second = run_safety_suite(*options, name="cache-warm")
    assert set(first.evidence["predictions_from"]) >= {"ingest clean", "reconstruction detector"}
    assert set(first.evidence["predictions_from"].values()) == {"computed"}
    assert set(second.evidence["predictions_from"].values()) == {"cache"}
    assert second.evidence["requirements"] == first.evidence["requirements"]
    image = next((ingest / "Images").iterdir())
    Image.fromarray(255 - np.asarray(Image.open(image))).save(image)
    third = run_safety_suite(*options, name="cache-changed")
    # exactly what depends on the ingest is recomputed; the reference and the detector fitted on it are not
    recomputed = {stage for stage, outcome in third.evidence["predictions_from"].items() if outcome == "computed"}
    assert recomputed == {"ingest clean"}
