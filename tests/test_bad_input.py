"""Bad input ends the run with one clear message and exit code 4: never a traceback, never a silent pass."""


import numpy as np
import pytest
from PIL import Image

CARD = "input:\n  size: [32, 32]\n  channels: RGB\n  range: [0, 1]\n  resize: area\noutput: probabilities\nclasses: gtsrb43\n"


def save_model(folder, name, build):
    from safety_harness.core import tf_runtime

    keras = tf_runtime.keras()
    keras.utils.set_random_seed(0)
    model = build(keras)
    path = folder / f"{name}.keras"
    model.save(path)
    (folder / f"{name}.yaml").write_text(CARD)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad-models")

    def dense(units, activation):
        return lambda keras: keras.Sequential([keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D(),
                                               keras.layers.Dense(units, activation=activation)])

    nan_model = dense(43, "softmax")

    def build_nan(keras):
        model = nan_model(keras)
        kernel, bias = model.layers[-1].get_weights()
        model.layers[-1].set_weights([np.full_like(kernel, np.nan), bias])
        return model

    corrupt = folder / "corrupt.h5"
    corrupt.write_bytes(b"this is not an HDF5 file" * 10)
    unknown = folder / "model.pt"
    unknown.write_bytes(b"\x00" * 10)
    return {
        "42 outputs": save_model(folder, "forty_two", dense(42, "softmax")),
        "nan": save_model(folder, "nan", build_nan),
        "not normalised": save_model(folder, "linear", dense(43, None)),
        "corrupt": corrupt,
        "unknown format": unknown,
    }


def image(path, size=(32, 32)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), 128, np.uint8)).save(path)


@pytest.fixture(scope="module")
def small_ingest(tmp_path_factory):
    """Two images: a bad model is refused on loading or on its first batch of outputs, whatever the ingest's size."""
    folder = tmp_path_factory.mktemp("small-ingest")
    image(folder / "14" / "a.png")
    image(folder / "13" / "b.png")
    return folder


def gtsrb_csv(folder, rows):
    lines = ["Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"]
    lines += [f"{name};32;32;2;2;29;29;{label}" for name, label in rows]
    (folder / "GT-final_test.csv").write_text("\n".join(lines) + "\n")


def assert_clear_error(run, *phrases):
    assert run.returncode == 4, run.output
    assert "Traceback" not in run.output
    assert "How to fix:" in run.output
    for phrase in phrases:
        assert phrase in run.output, run.output


@pytest.mark.parametrize(
    "model, phrases",
    [
        ("42 outputs", ("42",)),
        ("nan", ("NaN",)),
        ("not normalised", ("logits",)),
        ("corrupt", ("HDF5",)),
        ("unknown format", ("model.pt",)),
    ],
)
def test_bad_models(run_safety_suite, models, small_ingest, model, phrases):
    assert_clear_error(run_safety_suite(f"--model={models[model]}", f"--ingest={small_ingest}", name="bad-model"),
                       *phrases)


def test_missing_model(run_safety_suite, tmp_path):
    assert_clear_error(run_safety_suite(f"--model={tmp_path / 'nowhere.h5'}", name="missing"), "nowhere.h5")


def test_missing_ingest(run_safety_suite, tmp_path):
    assert_clear_error(run_safety_suite(f"--ingest={tmp_path / 'nowhere'}", name="missing"), "nowhere")


def test_empty_ingest(run_safety_suite, tmp_path):
    assert_clear_error(run_safety_suite(f"--ingest={tmp_path}", name="empty"), str(tmp_path))


def test_unknown_layout(run_safety_suite, tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    (tmp_path / "sub").mkdir()
    assert_clear_error(run_safety_suite(f"--ingest={tmp_path}", name="layout"), str(tmp_path))


def test_training_data_that_is_not_an_ingest(run_safety_suite, small_ingest, tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    assert_clear_error(run_safety_suite(f"--ingest={small_ingest}", f"--reference={small_ingest}",
                                        f"--training-data={tmp_path}", name="training-data"), str(tmp_path))


def test_label_file_naming_missing_images(run_safety_suite, tmp_path):
    image(tmp_path / "Images" / "00000.png")
    gtsrb_csv(tmp_path, [("00000.png", 14), ("00001.png", 14)])
    assert_clear_error(run_safety_suite(f"--ingest={tmp_path}", name="missing-images"), "00001.png")


def test_unmatched_class_folder_names_and_an_unused_class_map(run_safety_suite, tmp_path):
    image(tmp_path / "named" / "Stop" / "a.png")
    image(tmp_path / "named" / "Stopp" / "a.png")
    assert_clear_error(run_safety_suite(f"--ingest={tmp_path / 'named'}", name="unmatched-folders"),
                       "'Stopp' (closest: 'Stop')", "--class-map")
    image(tmp_path / "labelled" / "00000.png")
    gtsrb_csv(tmp_path / "labelled", [("00000.png", 14)])
    (tmp_path / "classes.csv").write_text("Stop,14\n")
    assert_clear_error(run_safety_suite(f"--ingest={tmp_path / 'labelled'}", f"--class-map={tmp_path / 'classes.csv'}",
                                        name="unused-class-map"), "no ingest has class folders to map")


def test_label_file_leading_outside_the_ingest(run_safety_suite, tmp_path):
    ingest = tmp_path / "ingest"
    image(ingest / "Images" / "00000.png")
    image(tmp_path / "secret.png")
    gtsrb_csv(ingest, [("00000.png", 14), ("../../secret.png", 14)])
    assert_clear_error(run_safety_suite(f"--ingest={ingest}", name="outside"), "secret.png")


def test_labels_the_model_does_not_have(run_safety_suite, small_ingest, tmp_path):
    image(tmp_path / "14" / "a.png")
    image(tmp_path / "57" / "b.png")
    assert_clear_error(run_safety_suite(f"--ingest={tmp_path}", name="labels"), "57")
    # the training data's classes are explained by the model (SR-TRAINING-SHORTCUT): they must be its classes too
    assert_clear_error(run_safety_suite(f"--ingest={small_ingest}", f"--training-data={tmp_path}",
                                        name="training-labels"), "--training-data", "57")


def test_missing_requirements_file(run_safety_suite, tmp_path):
    assert_clear_error(run_safety_suite(f"--requirements={tmp_path / 'req.yaml'}", name="req"), "req.yaml")


def test_requirements_whose_cases_would_share_an_id(run_safety_suite, tmp_path):
    entry = "  - {{id: {id}, title: t, hazard: h, metric: recall, class: {cls}, threshold: 0.9, direction: '>='}}\n"
    requirements = tmp_path / "requirements.yaml"
    requirements.write_text("version: 1\nrequirements:\n" + entry.format(id="R", cls="each")
                            + entry.format(id="R-class14", cls=14))
    assert_clear_error(run_safety_suite(f"--requirements={requirements}", name="case-ids"),
                       "Requirements 'R' (class 14 of 'class: each') and 'R-class14' both give the case id 'R-class14'")


@pytest.fixture
def ingest_with_corrupt_image(tmp_path):
    for i in range(3):
        image(tmp_path / "14" / f"{i}.png")
    good = (tmp_path / "14" / "0.png").read_bytes()
    (tmp_path / "14" / "truncated.png").write_bytes(good[: len(good) // 2])
    return tmp_path


def test_corrupt_images_and_images_over_the_size_cap_are_listed_and_refused(run_safety_suite,
                                                                              ingest_with_corrupt_image):
    image(ingest_with_corrupt_image / "14" / "large.png", size=(40, 40))
    run = run_safety_suite(f"--ingest={ingest_with_corrupt_image}", "--max-image-pixels=1500", name="corrupt")
    assert_clear_error(run, "2 image(s) cannot be used (1 over the image size cap)", "truncated.png: cannot decode",
                       "large.png: over the size cap against decompression bombs: the image is 40 x 40 = 1,600 "
                       "pixels, the cap 1,500", "--max-image-pixels=1600", "Raise the size cap", "--allow-corrupt-images")


def test_corrupt_images_excluded_on_request_are_reported(run_safety_suite, ingest_with_corrupt_image):
    run = run_safety_suite(f"--ingest={ingest_with_corrupt_image}", "--allow-corrupt-images", "-k", "SR-STOP-RECALL",
                           name="corrupt-allowed")
    assert run.returncode in (0, 1), run.output
    excluded = run.evidence["ingest"]["excluded"]
    assert [e["path"].rsplit("/", 1)[-1] for e in excluded] == ["truncated.png"]
    assert run.evidence["ingest"]["evaluated"] == 3
    assert "EXCLUDED" in run.html and "truncated.png" in run.html


@pytest.fixture
def options_with_problems(tmp_path):
    """Option values naming each kind of unusable location, and the phrases their errors give."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    return {
        "evidence is a folder": ((f"--evidence={tmp_path}",), ("--evidence", str(tmp_path), "is a folder")),
        "html under a file": ((f"--html={a_file / 'report.html'}",), ("--html", f"{a_file} is a file")),
        "cache-dir is a file": ((f"--cache-dir={a_file}",), ("--cache-dir", str(a_file), "is a file")),
        "cache-dir under a file": ((f"--cache-dir={a_file / 'cache'}",), ("--cache-dir", "cannot be created")),
        "negative seed": (("--seed=-1",), ("--seed -1 is out of range", "0..4294967295")),
        "seed too large": ((f"--seed={2**32}",), (f"--seed {2**32} is out of range",)),
        "cards that cannot be paired": (("--model-card=a.yaml", "--model-card=b.yaml"),
                                        ("--model is given once", "--model-card 2 times",
                                         "Give --model-card once per --model")),
        "no trigger scan steps": (("--trigger-scan-steps=0",), ("--trigger-scan-steps 0 is not a step budget",)),
        "two at once": ((f"--evidence={tmp_path}", "--seed=-1"),
                        ("2 options cannot be used", "--evidence", "--seed -1")),
    }


@pytest.mark.parametrize("case", ["evidence is a folder", "html under a file", "cache-dir is a file",
                                  "cache-dir under a file", "negative seed", "seed too large",
                                  "cards that cannot be paired", "no trigger scan steps", "two at once"])
def test_unusable_options_are_refused_before_anything_is_loaded(run_safety_suite, options_with_problems, tmp_path,
                                                                 case):
    options, phrases = options_with_problems[case]
    # a missing model and requirements file would be reported next: the options come first
    run = run_safety_suite(*options, f"--model={tmp_path / 'nowhere.h5'}", f"--requirements={tmp_path / 'no.yaml'}",
                           name="options")
    assert_clear_error(run, *phrases)
    assert "nowhere.h5" not in run.output and "no.yaml" not in run.output


def test_an_unexpected_error_during_collection_shows_its_cause(run_safety_suite, tmp_path):
    broken = tmp_path / "test_broken_setup.py"
    broken.write_text('raise RuntimeError("the real cause of the broken setup")\n')
    run = run_safety_suite(str(broken), "--collect-only", name="broken-collection")
    assert "INTERNALERROR" not in run.output and "user_properties" not in run.output, run.output
    assert "test_broken_setup.py" in run.output and "RuntimeError: the real cause of the broken setup" in run.output


def test_baseline_with_other_classes(run_safety_suite, small_ingest, tmp_path):
    """The card says so: refused before any model is loaded."""
    baseline, card = tmp_path / "released.keras", tmp_path / "released.yaml"
    baseline.write_bytes(b"")
    card.write_text(CARD.replace("gtsrb43", "[" + ", ".join(f"sign {i}" for i in range(42)) + "]"))
    assert_clear_error(run_safety_suite(f"--ingest={small_ingest}", f"--baseline-model={baseline}",
                                        "-k", "SR-ACCURACY-REGRESSION", name="baseline-classes"),
                       "--baseline-model", "42 classes", "the model under test 43")


def test_baseline_whose_outputs_contradict_its_card(run_safety_suite, models, small_ingest):
    """The model says so: refused when it is admitted, before any test."""
    assert_clear_error(run_safety_suite(f"--ingest={small_ingest}", f"--baseline-model={models['42 outputs']}",
                                        "-k", "SR-ACCURACY-REGRESSION", name="baseline-outputs"),
                       "forty_two.keras", "42")
