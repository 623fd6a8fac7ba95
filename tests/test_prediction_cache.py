"""The persistent prediction cache: exact keys, atomic entries, and a second run served from disk."""

import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from safety_harness.ingest.reader import RACY_WINDOW_NS
from safety_harness.run.prediction_cache import PredictionCache, cache_key
from tests.conftest import PROJECT_ROOT, gtsrb_test_subset

ARRAYS = {"indices": np.arange(3), "probabilities": np.eye(3, dtype=np.float32), "logits": None,
          "features": np.ones((3, 2), np.float32), "appearance": np.zeros((3, 16, 16, 3), np.uint8)}
SHORTCUT_MODEL = PROJECT_ROOT / "model_under_test" / "shortcut" / "gtsrb_shortcut.keras"
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


def test_equal_inputs_give_the_same_key_whatever_their_order_or_identity():
    rebuilt = {name: value.copy() if isinstance(value, np.ndarray) else value for name, value in reversed(PARTS.items())}
    assert cache_key(**rebuilt) == cache_key(**PARTS)
    assert cache_key(**{**PARTS, "indices": np.arange(3, dtype=np.int32)}) != cache_key(**PARTS)


def test_the_same_bytes_in_another_shape_give_another_key():
    blank = np.zeros((9, 32, 32, 3), np.uint8)  # nine blank 32x32 images: the bytes of four blank 48x48 ones
    assert cache_key(images=blank) != cache_key(images=blank.reshape(4, 48, 48, 3))


def test_an_unreadable_entry_is_recomputed_not_trusted(tmp_path):
    cache = PredictionCache(tmp_path)
    key = cache_key(**PARTS)
    cache.store(key, ARRAYS, [])
    next(tmp_path.rglob("*.npz")).write_bytes(b"half an entry")
    assert cache.load(key, "clean") is None


#: a process storing an entry that stops half way through writing it, so that it can be killed there: where
#: a worker killed on a cluster (or a run interrupted) may stop, made certain instead of timed
WRITER_STOPPED_HALF_WAY = """
import io, sys, time
import numpy as np
from safety_harness.run.prediction_cache import PredictionCache

whole_entry = np.savez
def half_then_wait(file, **arrays):
    entry = io.BytesIO()
    whole_entry(entry, **arrays)
    file.write(entry.getvalue()[:entry.tell() // 2])
    file.flush()
    print("half written", flush=True)
    time.sleep(300)

np.savez = half_then_wait
PredictionCache(sys.argv[1]).store(sys.argv[2], {"indices": np.arange(50_000)}, [])
"""


def test_a_writer_killed_half_way_through_an_entry_leaves_no_entry(tmp_path):
    key = cache_key(**PARTS)
    writer = subprocess.Popen([sys.executable, "-c", WRITER_STOPPED_HALF_WAY, str(tmp_path), key], cwd=PROJECT_ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "half written\n"
    finally:
        writer.kill()
        writer.wait(timeout=30)
    assert [path.suffix for path in tmp_path.rglob("*.*")] == [".tmp"]  # what it wrote, under a temporary name
    cache = PredictionCache(tmp_path)
    assert cache.load(key, "shard") is None and cache.outcomes["shard"] == "computed"
    cache.store(key, {"indices": np.arange(3)}, [])
    assert cache.load(key, "shard")[0]["indices"].tolist() == [0, 1, 2]


def _stored_entry(tmp_path, arrays=ARRAYS, failures=()):
    cache = PredictionCache(tmp_path)
    key = cache_key(**PARTS)
    cache.store(key, arrays, list(failures))
    return cache, key, next(tmp_path.rglob("*.npz"))


def test_a_truncated_entry_is_refused_with_a_note(tmp_path):
    cache, key, entry = _stored_entry(tmp_path)
    entry.write_bytes(entry.read_bytes()[:-100])
    assert cache.load(key, "clean", expected_indices=np.arange(3)) is None
    assert cache.outcomes["clean"].startswith(f"computed (cache entry {entry} refused: unreadable")


def test_a_forged_entry_with_the_old_digest_is_refused(tmp_path):
    cache, key, entry = _stored_entry(tmp_path)
    with np.load(entry) as stored:
        forged = {name: stored[name] for name in stored.files}
    forged["probabilities"] = np.roll(forged["probabilities"], 1, axis=1)  # every prediction changed
    np.savez(entry, **forged)
    assert cache.load(key, "clean", expected_indices=np.arange(3)) is None
    assert "does not match its SHA-256 digest" in cache.outcomes["clean"]


def test_an_entry_copied_under_another_key_is_refused(tmp_path):
    cache, key, entry = _stored_entry(tmp_path)
    other = cache_key(**{**PARTS, "seed": 1})
    (tmp_path / other[:2]).mkdir(exist_ok=True)
    entry.rename(tmp_path / other[:2] / f"{other}.npz")
    assert cache.load(other, "clean") is None and "written under another key" in cache.outcomes["clean"]


@pytest.mark.parametrize("asked, problem", [
    (np.arange(4), "accounts for 3 image(s) (2 predicted, 1 failed), not the 4 asked for"),
    (np.array([0, 1, 5]), "its images are not the ones asked for"),
])
def test_an_entry_not_holding_the_images_asked_for_is_refused(tmp_path, asked, problem):
    arrays = {**ARRAYS, "indices": np.array([0, 2]), "probabilities": np.eye(2, dtype=np.float32),
              "features": None, "appearance": None}
    cache, key, _ = _stored_entry(tmp_path, arrays, [(1, "truncated file")])
    assert cache.load(key, "clean", expected_indices=np.arange(3)) is not None
    assert cache.load(key, "clean", expected_indices=asked) is None and problem in cache.outcomes["clean"]


def test_an_entry_whose_arrays_disagree_in_rows_is_refused(tmp_path):
    cache, key, _ = _stored_entry(tmp_path, {**ARRAYS, "probabilities": np.eye(4, 3, dtype=np.float32)})
    assert cache.load(key, "clean", expected_indices=np.arange(3)) is None
    assert "{'probabilities': 4} row(s) where 3 image(s) were predicted" in cache.outcomes["clean"]


@pytest.mark.parametrize("make_folder, reason", [
    (lambda tmp_path: tmp_path / "a-file", "is a file, not a folder"),
    (lambda tmp_path: tmp_path / "a-file" / "predictions", "cannot be created: Not a directory"),
])
def test_an_unusable_cache_folder_turns_caching_off_with_a_note(tmp_path, make_folder, reason):
    (tmp_path / "a-file").write_text("not a folder")
    cache = PredictionCache(make_folder(tmp_path))
    cache.store("k", ARRAYS, [])
    assert cache.load("k", "clean") is None
    assert cache.outcomes["clean"].startswith("computed (cache not used: ") and reason in cache.outcomes["clean"]


def test_a_folder_that_becomes_unwritable_is_noted_not_raised(tmp_path):
    cache = PredictionCache(tmp_path / "predictions")
    (tmp_path / "predictions").rmdir()
    (tmp_path / "predictions").write_text("replaced by a file during the run")
    cache.store(cache_key(**PARTS), ARRAYS, [])
    assert cache.outcomes["prediction cache"].startswith(f"not written (cannot write to {tmp_path / 'predictions'}")
    assert cache.load(cache_key(**PARTS), "clean") is None and "cache not used" in cache.outcomes["clean"]


def test_disabled_cache_stores_nothing(tmp_path):
    cache = PredictionCache(None)
    cache.store("k", ARRAYS, [])
    assert cache.load("k", "clean") is None and cache.outcomes["clean"] == "computed (cache disabled)"


def test_second_run_is_served_from_the_cache_and_one_changed_image_is_recomputed(run_safety_suite, tmp_path):
    from safety_harness.synthetic.default_ingest import ensure_default_ingest, ensure_default_reference

    # what is cached does not depend on how many images there are: parts of the bundled ingest and reference
    # (the reference given, not drawn again in this cache folder)
    ingest = gtsrb_test_subset(ensure_default_ingest(PROJECT_ROOT / ".cache"), tmp_path / "ingest",
                               lambda rows: rows[:900])
    reference = gtsrb_test_subset(ensure_default_reference(PROJECT_ROOT / ".cache"), tmp_path / "reference",
                                  lambda rows: rows[:1500])
    time.sleep(RACY_WINDOW_NS / 1e9)  # files this fresh are hashed every run (safety_harness/ingest/reader.py)
    options = (f"--ingest={ingest}", f"--reference={reference}", f"--cache-dir={tmp_path / 'cache'}",
               "-k", "SR-STOP-RECALL or SR-ACCURACY or SR-CALIBRATION-ECE or SR-OOD-INDEPENDENT-SEPARATION-noise")
    first = run_safety_suite(*options, name="cache-cold")
    second = run_safety_suite(*options, name="cache-warm")
    stages = set(first.evidence["predictions_from"]) - {"model network"}
    assert stages >= {"ingest clean", "reconstruction detector", "vae detector", f"content hash of {ingest}",
                      "bootstrap bounds", f"image groups of {ingest}"}
    check = next(stage for stage in stages if stage.startswith("preprocessing check of "))
    assert any(stage.startswith("model admission of ") for stage in stages)
    assert {first.evidence["predictions_from"][stage] for stage in stages} == {"computed"}
    assert {second.evidence["predictions_from"][stage] for stage in stages} == {"cache"}
    assert first.evidence["predictions_from"]["model network"] == "loaded"
    assert second.evidence["predictions_from"]["model network"] == ("not loaded: every stage that calls it was "
                                                                      "read from the cache")
    assert second.evidence["requirements"] == first.evidence["requirements"]
    image = next((ingest / "Images").iterdir())
    Image.fromarray(255 - np.asarray(Image.open(image))).save(image)
    third = run_safety_suite(*options, name="cache-changed")
    # exactly what depends on the ingest is recomputed (its bytes are hashed again: the changed file's
    # manifest changed); the reference and the detector fitted on it are not
    recomputed = {stage for stage, outcome in third.evidence["predictions_from"].items() if outcome == "computed"}
    assert recomputed == {"ingest clean", f"content hash of {ingest}", "explainer self-checks", check,
                          "bootstrap bounds", f"image groups of {ingest}"}
    assert third.evidence["ingest"]["sha256"] != first.evidence["ingest"]["sha256"]


def test_a_second_model_on_the_same_reference_reads_the_image_detectors_fitted_for_the_first(run_safety_suite,
                                                                                            tmp_path):
    from safety_harness.synthetic.default_ingest import ensure_default_ingest, ensure_default_reference

    ingest = gtsrb_test_subset(ensure_default_ingest(PROJECT_ROOT / ".cache"), tmp_path / "ingest",
                               lambda rows: rows[:300])
    reference = gtsrb_test_subset(ensure_default_reference(PROJECT_ROOT / ".cache"), tmp_path / "reference",
                                  lambda rows: rows[:600])
    options = (f"--ingest={ingest}", f"--reference={reference}", f"--cache-dir={tmp_path / 'cache'}",
               "-k", "SR-OOD-INDEPENDENT-SEPARATION-noise")
    first = run_safety_suite(*options, name="reference-model")
    second = run_safety_suite(*options, f"--model={SHORTCUT_MODEL}", name="shortcut-model")
    assert first.evidence["model"]["sha256"] != second.evidence["model"]["sha256"]
    fits = {"reconstruction detector", "vae detector", "reconstruction detector scores", "vae detector scores"}
    assert {first.evidence["predictions_from"][stage] for stage in fits} == {"computed"}
    # the fits depend on the reference images, their seed and code only: the second model reads them and their
    # scores of the same images, while what its own network computes is computed
    assert {second.evidence["predictions_from"][stage] for stage in fits} == {"cache"}
    assert second.evidence["predictions_from"]["reference data clean"] == "computed"
