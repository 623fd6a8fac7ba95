"""Ingest layouts on small generated fixtures and on the real GTSRB test set; every refusal names its file."""

import os
import time

import numpy as np
import pytest
from PIL import Image

from safety_harness.core.errors import HarnessInputError
from safety_harness.ingest import iter_image_batches, load_image, open_ingest
from safety_harness.ingest.reader import RACY_WINDOW_NS

GTSRB_HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"


def image(path, size=(40, 36), value=128, suffix_format=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.full((size[1], size[0], 3), value, np.uint8)
    array[: size[1] // 2] = 255 - value
    Image.fromarray(array).save(path, format=suffix_format)
    return path


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_gtsrb_test_layout(tmp_path):
    image(tmp_path / "Images" / "00000.ppm", (40, 36))
    image(tmp_path / "Images" / "00001.ppm", (50, 50))
    write(tmp_path / "GT-final_test.csv", f"{GTSRB_HEADER}\n00000.ppm;40;36;5;4;34;31;14\n00001.ppm;50;50;5;5;44;44;3\n")
    ingest = open_ingest(tmp_path)
    assert (ingest.layout, ingest.labelled, ingest.class_counts()) == ("gtsrb-test", True, {3: 1, 14: 1})
    assert ingest.records[0].roi == (5, 4, 35, 32) and ingest.records[0].declared_size == (40, 36)
    (batch,) = iter_image_batches(ingest, (32, 32), "area")
    assert batch.images.shape == (2, 32, 32, 3) and batch.images.dtype == np.uint8
    assert batch.rois[0].tolist() == [4, 3, 28, 29]


def test_gtsrb_test_layout_unlabelled(tmp_path):
    image(tmp_path / "Images" / "00000.ppm")
    write(tmp_path / "Images" / "GT-final_test.test.csv", f"{GTSRB_HEADER.rsplit(';', 1)[0]}\n00000.ppm;40;36;5;4;34;31\n")
    ingest = open_ingest(tmp_path)
    assert ingest.layout == "gtsrb-test" and not ingest.labelled and ingest.class_counts() == {}


def test_gtsrb_training_layout(tmp_path):
    for class_id in (0, 14):
        folder = tmp_path / "Final_Training" / "Images" / f"{class_id:05d}"
        image(folder / "00000_00000.ppm")
        write(folder / f"GT-{class_id:05d}.csv", f"{GTSRB_HEADER}\n00000_00000.ppm;40;36;5;5;30;30;{class_id}\n")
    ingest = open_ingest(tmp_path)
    assert ingest.layout == "gtsrb-train" and ingest.class_counts() == {0: 1, 14: 1}


def test_kaggle_layout_prefers_test_csv(tmp_path):
    image(tmp_path / "Test" / "00000.png")
    image(tmp_path / "Train" / "14" / "a.png")
    header = "Width,Height,Roi.X1,Roi.Y1,Roi.X2,Roi.Y2,ClassId,Path"
    write(tmp_path / "Test.csv", f"{header}\n40,36,5,5,30,30,14,Test/00000.png\n")
    write(tmp_path / "Train.csv", f"{header}\n40,36,5,5,30,30,14,Train/14/a.png\n")
    ingest = open_ingest(tmp_path)
    assert ingest.layout == "kaggle-test" and len(ingest.records) == 1


def test_class_folders_and_flat(tmp_path):
    image(tmp_path / "folders" / "14" / "a.png")
    image(tmp_path / "folders" / "3" / "b.jpg", suffix_format="JPEG")
    assert open_ingest(tmp_path / "folders").class_counts() == {3: 1, 14: 1}
    image(tmp_path / "flat" / "x.png")
    flat = open_ingest(tmp_path / "flat")
    assert flat.layout == "flat" and not flat.labelled and flat.labels.tolist() == [-1]


def test_order_and_hash_are_deterministic_and_content_sensitive(tmp_path):
    for name in ("b.png", "a.png", "c.png"):
        image(tmp_path / "7" / name)
    first, second = open_ingest(tmp_path), open_ingest(tmp_path)
    assert [r.path.name for r in first.records] == ["a.png", "b.png", "c.png"]
    assert first.content_sha256() == second.content_sha256()
    image(tmp_path / "7" / "b.png", value=129)
    assert open_ingest(tmp_path).content_sha256() != first.content_sha256()


def test_the_manifest_reads_no_bytes_and_changes_with_any_rewrite(tmp_path):
    for name in ("a.png", "b.png"):
        image(tmp_path / "7" / name)
    before = open_ingest(tmp_path).manifest()
    assert open_ingest(tmp_path).manifest() == before
    # just written: the clock may not have moved since, so the manifest cannot stand for the content yet
    assert not before.trustworthy(time.time_ns())
    assert before.trustworthy(time.time_ns() + RACY_WINDOW_NS + 1)
    target = tmp_path / "7" / "b.png"
    status = target.stat()
    time.sleep(0.05)  # past the file system's timestamp granularity
    target.write_bytes(target.read_bytes())  # same bytes and size, modification time set back below
    os.utime(target, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert open_ingest(tmp_path).manifest().sha256 != before.sha256  # the change time still moved


def test_corrupt_and_truncated_images_are_failures_not_exceptions(tmp_path):
    good = image(tmp_path / "14" / "good.png")
    (tmp_path / "14" / "truncated.png").write_bytes(good.read_bytes()[:60])
    (tmp_path / "14" / "garbage.png").write_bytes(b"not an image")
    ingest = open_ingest(tmp_path)
    batches = list(iter_image_batches(ingest, (32, 32), "bilinear", batch_size=2))
    decoded = [int(i) for b in batches for i in b.indices]
    failed = {ingest.records[i].path.name for b in batches for i, _ in b.failures}
    assert [ingest.records[i].path.name for i in decoded] == ["good.png"]
    assert failed == {"truncated.png", "garbage.png"}


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic", "area"])
def test_resize_modes(tmp_path, interpolation):
    record = open_ingest(image(tmp_path / "x.png", (64, 48)).parent).records[0]
    assert load_image(record, (30, 30), interpolation).shape == (30, 30, 3)


def error_for(tmp_path):
    with pytest.raises(HarnessInputError) as error:
        open_ingest(tmp_path)
    return str(error.value)


def test_refusals_name_the_file(tmp_path):
    assert "does not exist" in error_for(tmp_path / "missing")
    assert "holds nothing" in error_for(tmp_path)
    write(tmp_path / "notes.txt", "x")
    (tmp_path / "sub").mkdir()
    assert "no known layout" in error_for(tmp_path)


def test_missing_images_are_listed(tmp_path):
    image(tmp_path / "Images" / "00000.ppm")
    write(tmp_path / "GT-final_test.csv", f"{GTSRB_HEADER}\n00000.ppm;40;36;5;4;34;31;14\n00009.ppm;40;36;5;4;34;31;14\n")
    message = error_for(tmp_path)
    assert "GT-final_test.csv" in message and "00009.ppm" in message


@pytest.mark.parametrize("name", ["../outside.png", "/etc/passwd"])
def test_paths_outside_the_ingest_are_refused(tmp_path, name):
    image(tmp_path / "outside.png")
    ingest = tmp_path / "ingest"
    write(ingest / "GT-final_test.csv", f"{GTSRB_HEADER}\n{name};40;36;5;4;34;31;14\n")
    assert "leads outside the ingest folder" in error_for(ingest)


def test_bad_labels_and_columns(tmp_path):
    image(tmp_path / "00000.ppm")
    write(tmp_path / "GT-final_test.csv", f"{GTSRB_HEADER}\n00000.ppm;40;36;5;4;34;31;stop\n")
    assert "line 2" in error_for(tmp_path) and "'stop'" in error_for(tmp_path)
    write(tmp_path / "GT-final_test.csv", "Filename;Width\n00000.ppm;40\n")
    assert "lacks column(s) ClassId" in error_for(tmp_path)


def test_real_gtsrb_test_set(shared_path):
    ingest = open_ingest(shared_path("gtsrb", "Final_Test"))
    assert ingest.layout == "gtsrb-test" and len(ingest.records) == 12630
    counts = ingest.class_counts()
    assert len(counts) == 43 and counts[14] == 270
    # ROIs describe the original images; the 32x32 files were resized whole, so boxes scale
    (batch,) = iter_image_batches(ingest, (32, 32), "bilinear", batch_size=4, indices=[0, 1, 2, 3])
    assert ((batch.rois >= 0) & (batch.rois <= 32)).all()
    assert (batch.rois[:, 2] > batch.rois[:, 0]).all()


def test_real_polish_signs(shared_path):
    ingest = open_ingest(shared_path("gtsrb", "Polish_Test"))
    assert ingest.layout == "csv-labels" and len(ingest.records) == 9 and ingest.class_counts()[14] == 1


def test_a_gtsrb_test_row_is_the_image_in_the_first_search_folder_that_holds_it_even_through_a_folder_link(tmp_path):
    # the label file at the root: rows are looked up beside it first, then in Images; here root/sub is a link to
    # root/other (its files are surveyed under other/), and Images/sub holds a file of the same name
    image(tmp_path / "other" / "x.ppm", value=0)
    image(tmp_path / "Images" / "sub" / "x.ppm", value=200)
    (tmp_path / "sub").symlink_to("other")
    (tmp_path / "GT-final_test.csv").write_text("Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n"
                                                "sub/x.ppm;40;36;2;2;29;29;14\n")
    (record,) = open_ingest(tmp_path).records
    assert os.path.realpath(record.path) == str((tmp_path / "other" / "x.ppm").resolve())
