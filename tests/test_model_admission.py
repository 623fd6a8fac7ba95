"""A model an earlier run admitted (same bytes, card and trust) is taken as admitted, and its network loaded only
when something calls it (model_under_test/loading.py ``admission``/``deferred_model``; SafetyRun ``_admitted``).
On the bundled reference model and a small rendered ingest; no mock."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from safety_harness.core.errors import HarnessInputError
from safety_harness.model_under_test import load_model
from safety_harness.model_under_test.loading import HDF5_MAGIC, admission, deferred_model
from safety_harness.model_under_test.reference import BUNDLED_MODEL
from safety_harness.model_under_test.shortcut import TWIN_MODEL
from safety_harness.plan.plan import RunOptions, plan_run
from safety_harness.run.run import SafetyRun
from safety_harness.synthetic.default_ingest import write_ingest
from safety_harness.synthetic.renderer import render_sign

REQUIREMENTS = Path(__file__).parents[1] / "safety_tests" / "requirements.yaml"
IDENTITY = ("path", "format", "loader", "sha256", "card", "card_path", "card_assumed", "load_warnings",
            "safety_checks", "unsafe_allowed", "input_shape", "output_shape", "num_parameters",
            "features_unavailable_reason", "gradients_unavailable_reason", "runtime", "screening")


@pytest.fixture(scope="module")
def loaded():
    return load_model(BUNDLED_MODEL)


def images(count: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


def test_a_deferred_model_has_the_loaded_identity_and_predicts_the_same_once_called(loaded):
    record = json.loads(json.dumps(admission(loaded)))  # as the cache stores it
    deferred = deferred_model(BUNDLED_MODEL, None, False, loaded.sha256, record)
    assert {name: getattr(deferred, name) for name in IDENTITY} == {name: getattr(loaded, name) for name in IDENTITY}
    assert loaded.network_loaded and not deferred.network_loaded
    batch = images(8)
    np.testing.assert_array_equal(deferred.predict(batch).probabilities, loaded.predict(batch).probabilities)
    assert deferred.network_loaded


def test_a_model_file_replaced_after_admission_is_an_input_error_when_first_called(loaded, tmp_path):
    path = tmp_path / "model.keras"
    shutil.copy(BUNDLED_MODEL, path)
    shutil.copy(BUNDLED_MODEL.with_suffix(".yaml"), path.with_suffix(".yaml"))
    deferred = deferred_model(path, None, False, loaded.sha256, admission(loaded))
    shutil.copy(TWIN_MODEL, path)
    with pytest.raises(HarnessInputError, match=r"model\.keras changed during the run"):
        deferred.predict(images(2))


def test_a_second_run_takes_the_admitted_model_and_its_preprocessing_check_from_the_cache(tmp_path):
    write_ingest(tmp_path / "ingest", per_class=1, stop_signs=4, seed=1)
    options = RunOptions(model_path=BUNDLED_MODEL, card_path=None, ingest_path=tmp_path / "ingest",
                         requirements_path=REQUIREMENTS, cache_dir=tmp_path / "cache")
    first = SafetyRun(plan_run(options))
    first.clean  # noqa: B018 — the clean predictions, stored
    second = SafetyRun(plan_run(options))
    second.clean  # noqa: B018 — read back
    outcomes = second.stage_outcomes()
    assert outcomes[f"model admission of {BUNDLED_MODEL}"] == "cache"
    assert outcomes[f"preprocessing check of {BUNDLED_MODEL}"] == "cache"
    assert first.stage_outcomes()["model network"] == "loaded"
    assert outcomes["model network"] == "not loaded: every stage that calls it was read from the cache"
    assert second.model_identity() == first.model_identity()
    # with other trust the model is screened and loaded again
    third = SafetyRun(plan_run(dataclasses.replace(options, allow_unsafe_model=True)))
    assert third.stage_outcomes()[f"model admission of {BUNDLED_MODEL}"] == "computed"
    assert third.model.network_loaded


def test_a_preprocessing_check_is_not_read_back_for_the_same_files_relabelled_by_another_class_map(tmp_path):
    for folder, class_id in (("a", 14), ("b", 1)):
        (tmp_path / "ingest" / folder).mkdir(parents=True)
        for seed in range(4):
            Image.fromarray(render_sign(class_id, seed, 32).image).save(tmp_path / "ingest" / folder / f"{seed}.png")
    (tmp_path / "right.csv").write_text("a,14\nb,1\n")
    (tmp_path / "swapped.csv").write_text("a,1\nb,14\n")
    options = RunOptions(model_path=BUNDLED_MODEL, card_path=None, ingest_path=tmp_path / "ingest",
                         requirements_path=REQUIREMENTS, cache_dir=tmp_path / "cache", class_map_path=tmp_path / "right.csv")
    right = SafetyRun(plan_run(options))
    swapped = SafetyRun(plan_run(dataclasses.replace(options, class_map_path=tmp_path / "swapped.csv")))
    assert swapped.ingest.order_sha256 == right.ingest.order_sha256  # same files, same order, other labels
    assert swapped.stage_outcomes()[f"preprocessing check of {BUNDLED_MODEL}"] == "computed"
    assert swapped.preprocessing_checks[0].card.accuracy != right.preprocessing_checks[0].card.accuracy


def test_an_admission_is_not_taken_for_the_same_bytes_under_a_name_of_another_format(tmp_path):
    # an HDF5 signature before a .keras archive: still a .keras archive, and an .h5 file Keras cannot read
    polyglot = HDF5_MAGIC + BUNDLED_MODEL.read_bytes()
    (tmp_path / "model.keras").write_bytes(polyglot)
    (tmp_path / "model.h5").write_bytes(polyglot)
    write_ingest(tmp_path / "ingest", per_class=1, stop_signs=1, seed=1)
    options = RunOptions(model_path=tmp_path / "model.keras", card_path=BUNDLED_MODEL.with_suffix(".yaml"),
                         ingest_path=tmp_path / "ingest", requirements_path=REQUIREMENTS, cache_dir=tmp_path / "cache")
    SafetyRun(plan_run(options))
    with pytest.raises(HarnessInputError, match=r"model\.h5 cannot be read by Keras 3"):
        SafetyRun(plan_run(dataclasses.replace(options, model_path=tmp_path / "model.h5")))
