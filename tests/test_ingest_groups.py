"""Groups of dependent images: read from a --groups file, a Track column or the GTSRB training naming,
stated for generated data, or estimated from image similarity; a bad groups file is refused naming the line."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from safety_harness.core.errors import HarnessInputError
from safety_harness.ingest import groups as ingest_groups
from safety_harness.ingest import open_ingest
from safety_harness.ingest.groups import (
    SOURCE_ESTIMATED,
    SOURCE_FILE,
    SOURCE_GENERATED,
    SOURCE_LABEL_COLUMN,
    SOURCE_TRACK_NAMES,
    groups_from_records,
    read_groups_file,
)
from safety_harness.ingest.reader import StoredImages
from safety_harness.ingest.similarity_groups import estimate_groups
from safety_harness.model_under_test.reference import BUNDLED_MODEL
from safety_harness.plan.plan import RunOptions, plan_run
from safety_harness.run.run import SafetyRun
from safety_harness.synthetic import default_ingest
from tests.test_bad_input import assert_clear_error

REQUIREMENTS = Path(__file__).parents[1] / "safety_tests" / "requirements.yaml"
HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"


def save(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def noise(seed, size=32):
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def gtsrb_test(folder, rows, extra_column=None):
    """A GTSRB-test-layout ingest of (name, label[, extra]) rows, each image a distinct noise pattern."""
    header = HEADER + (f";{extra_column}" if extra_column else "")
    lines = [header]
    for index, (name, label, *extra) in enumerate(rows):
        save(folder / "Images" / name, noise(index))
        lines.append(";".join([name, "32", "32", "2", "2", "29", "29", str(label), *map(str, extra)]))
    (folder / "GT-final_test.csv").write_text("\n".join(lines) + "\n")
    return open_ingest(folder)


@pytest.fixture
def ingest(tmp_path):
    return gtsrb_test(tmp_path / "ingest", [("a.png", 14), ("b.png", 14), ("c.png", 1)])


def test_a_groups_file_gives_every_image_its_group(ingest, tmp_path):
    path = tmp_path / "groups.csv"
    path.write_text("file,group\nImages/a.png,track-1\nImages/c.png,track-2\nImages/b.png,track-1\n")
    groups = read_groups_file(path, ingest)
    assert groups.source == SOURCE_FILE and groups.ids.tolist() == [0, 0, 1]
    summary = groups.summary(ingest.labels)
    assert summary["count"] == 2 and summary["per_class"] == {"1": 1, "14": 1}
    assert summary["sizes"]["max"] == 2 and summary["sizes"]["histogram"]["2-4"] == 1


@pytest.mark.parametrize("text, phrase", [
    ("Images/a.png,1\nImages/zz.png,1\nImages/b.png,1\nImages/c.png,2\n", "line 2: 'Images/zz.png' is not an image"),
    ("Images/a.png,1\nImages/b.png,1\nImages/a.png,1\nImages/c.png,2\n", "line 3: 'Images/a.png' is listed again"),
    ("Images/a.png,1\nImages/b.png,1\nImages/a.png,2\nImages/c.png,2\n", "line 3: 'Images/a.png' is put in group '2'"),
    ("Images/a.png,1,x\n", "line 1: 3 value(s)"),
    ("Images/a.png,\nImages/b.png,1\n", "line 1: 1 value(s)"),
    ("Images/a.png,1\nImages/b.png,1\n", "does not list 1 image(s) of the ingest: Images/c.png"),
    (b"Images/a.png,\xff\n", "line 1: byte 0xff is not UTF-8"),
])
def test_a_bad_groups_file_is_refused_naming_the_line(ingest, tmp_path, text, phrase):
    path = tmp_path / "groups.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(HarnessInputError) as raised:
        read_groups_file(path, ingest)
    assert phrase in str(raised.value)


def test_an_oversized_groups_file_is_refused_before_it_is_read(ingest, tmp_path, monkeypatch):
    path = tmp_path / "groups.csv"
    path.write_text("Images/a.png,1\nImages/b.png,1\nImages/c.png,2\n")
    monkeypatch.setattr(ingest_groups, "MAX_GROUPS_FILE_BYTES", 16)
    with pytest.raises(HarnessInputError, match="the limit is 16 bytes"):
        read_groups_file(path, ingest)


def test_a_track_column_groups_by_class_and_track(tmp_path):
    ingest = gtsrb_test(tmp_path, [("a.png", 14, 0), ("b.png", 14, 0), ("c.png", 1, 0), ("d.png", 14, 3)], "Track")
    groups = groups_from_records(ingest)
    assert groups.source == SOURCE_LABEL_COLUMN and groups.ids.tolist() == [0, 0, 1, 2]


def test_the_gtsrb_training_naming_groups_by_class_and_track(tmp_path):
    for folder, name in (("14", "00000_00000.png"), ("14", "00000_00001.png"), ("14", "00001_00000.png"),
                         ("1", "00000_00000.png")):
        save(tmp_path / folder / name, noise(hash((folder, name)) % 1000))
    ingest = open_ingest(tmp_path)
    groups = groups_from_records(ingest)
    assert groups.source == SOURCE_TRACK_NAMES
    assert groups.ids.tolist() == [0, 1, 1, 2]  # class 1 first: class folders are read in class order
    save(tmp_path / "14" / "extra.png", noise(7))
    assert groups_from_records(open_ingest(tmp_path)) is None  # one image outside the naming: estimated instead


def test_near_duplicates_of_one_class_are_estimated_as_one_group(tmp_path):
    base = noise(1, 48).astype(np.int16)
    frames = [np.clip(base + np.random.default_rng(s).integers(-12, 13, base.shape), 0, 255).astype(np.uint8)
              for s in range(4)]
    frames.append(np.asarray(Image.fromarray(frames[0]).resize((30, 30))))  # the sign seen smaller
    other = [noise(seed) for seed in (50, 51)]
    images = [*frames, *other, frames[1]]
    labels = np.array([14, 14, 14, 14, 14, 14, 14, 1])
    ids = estimate_groups(images, labels, seed=0)
    assert ids.tolist() == [0, 0, 0, 0, 0, 1, 2, 3]  # the same frame under another class is another group
    assert np.array_equal(ids, estimate_groups(images, labels, seed=0))


def test_stored_images_are_decoded_at_their_own_size_and_an_undecodable_one_is_flat(tmp_path):
    save(tmp_path / "a.png", noise(0, 40))
    (tmp_path / "b.png").write_bytes(b"not an image")
    images = StoredImages(open_ingest(tmp_path))
    assert images[0].shape == (40, 40, 3) and images[1].shape == (1, 1, 3)


def test_a_groups_file_naming_an_unknown_image_ends_the_run_with_exit_4(run_safety_suite, tmp_path):
    ingest = tmp_path / "ingest"
    gtsrb_test(ingest, [("a.png", 14)])
    (tmp_path / "groups.csv").write_text("Images/a.png,1\nImages/b.png,1\n")
    assert_clear_error(run_safety_suite(f"--ingest={ingest}", f"--groups={tmp_path / 'groups.csv'}", "-k",
                                        "SR-STOP-RECALL", name="bad-groups"),
                       "groups.csv, line 2: 'Images/b.png' is not an image")


def test_the_run_takes_groups_from_the_first_source_that_applies_and_caches_estimated_ones(tmp_path):
    ingest = tmp_path / "ingest"
    gtsrb_test(ingest, [("a.png", 14), ("b.png", 14), ("c.png", 1)])
    (tmp_path / "groups.csv").write_text("Images/a.png,t1\nImages/b.png,t1\nImages/c.png,t2\n")

    def run(**options):
        return SafetyRun(plan_run(RunOptions(model_path=BUNDLED_MODEL, card_path=None, ingest_path=ingest,
                                             requirements_path=REQUIREMENTS, cache_dir=tmp_path / "cache",
                                             **options)))

    given = run(groups_path=tmp_path / "groups.csv")
    assert given.groups(given.ingest).source == SOURCE_FILE
    generated = run(ingest_generated=default_ingest.DEFAULT_INGEST)
    assert generated.groups(generated.ingest).source == SOURCE_GENERATED
    estimated, again = run(), run()
    first, second = estimated.groups(estimated.ingest), again.groups(again.ingest)
    stage = f"image groups of {estimated.ingest.root}"
    assert first.source == second.source == SOURCE_ESTIMATED and np.array_equal(first.ids, second.ids)
    assert estimated.cache.outcomes[stage] == "computed" and again.cache.outcomes[stage] == "cache"
