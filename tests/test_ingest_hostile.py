"""Hostile and unusual ingests: nothing is dropped, double-counted or mis-decoded silently; each problem
gives one clear message naming the file (HarnessInputError) or is that image's listed decoding failure."""

import io
import os
import struct
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from safety_harness.core.errors import HarnessInputError
from safety_harness.ingest import decode_image, iter_image_batches, open_ingest
from safety_harness.ingest.reader import MAX_IMAGE_PIXELS, OVER_SIZE_CAP
from safety_harness.plan.options import check_options
from tests.test_ingest import GTSRB_HEADER, error_for, image, write


def decoded_and_failed(ingest):
    """Names of the images that decoded, and of those that failed, over every batch."""
    batches = list(iter_image_batches(ingest, (16, 16), "area", batch_size=4))
    decoded = {ingest.records[i].path.name for b in batches for i in b.indices}
    failed = {ingest.records[i].path.name for b in batches for i, _ in b.failures}
    return decoded, failed


# --- an image listed twice counts once or not at all ---

def test_repeated_rows_of_a_label_file_are_refused_with_file_lines_and_image(tmp_path):
    image(tmp_path / "Images" / "00000.ppm")
    image(tmp_path / "Images" / "00001.ppm")
    row = "00000.ppm;40;36;5;4;34;31;14\n"
    write(tmp_path / "GT-final_test.csv", f"{GTSRB_HEADER}\n{row}00001.ppm;40;36;5;4;34;31;3\n{row}{row}")
    message = error_for(tmp_path)
    assert "GT-final_test.csv lines 2, 4, 5" in message and "Images/00000.ppm listed 3 times" in message
    assert "00001.ppm" not in message


def test_the_same_image_by_two_names_is_refused(tmp_path):
    image(tmp_path / "Images" / "00000.ppm")
    write(tmp_path / "GT-final_test.csv",
          f"{GTSRB_HEADER}\n00000.ppm;40;36;5;4;34;31;14\nImages/../Images/00000.ppm;40;36;5;4;34;31;14\n")
    assert "listed 2 times" in error_for(tmp_path)


def test_a_link_into_another_class_folder_is_refused(tmp_path):
    image(tmp_path / "3" / "a.png")
    (tmp_path / "14").mkdir()
    (tmp_path / "14" / "b.png").symlink_to("../3/a.png")
    message = error_for(tmp_path)
    assert "3/a.png listed 2 times" in message and str(tmp_path / "14" / "b.png") in message


# --- decoding: 16-bit samples, EXIF orientation, decompression bombs ---

def test_16_bit_images_are_scaled_to_8_bit(tmp_path):
    gray = np.full((8, 8), 40000, np.uint16)
    gray[:4] = 1000
    Image.fromarray(gray).save(tmp_path / "gray16.png")  # Pillow mode I;16
    (tmp_path / "gray16.pgm").write_bytes(b"P5 8 8 65535\n" + gray.astype(">u2").tobytes())  # Pillow mode I
    rgb = np.stack([gray, gray // 2, np.full_like(gray, 65535)], axis=-1)
    cv2.imwrite(str(tmp_path / "rgb48.png"), rgb[..., ::-1])
    expected_gray = np.repeat((gray >> 8).astype(np.uint8)[..., None], 3, axis=2)
    for name in ("gray16.png", "gray16.pgm"):
        assert np.array_equal(decode_image(tmp_path / name, (8, 8), "nearest"), expected_gray), name
    assert np.array_equal(decode_image(tmp_path / "rgb48.png", (8, 8), "nearest"), (rgb >> 8).astype(np.uint8))


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_exif_orientation_is_applied(tmp_path, suffix):
    left_dark = np.zeros((20, 40, 3), np.uint8)
    left_dark[:, 20:] = 255
    exif = Image.Exif()
    exif[0x0112] = 3  # stored upside down: shown rotated by 180 degrees
    Image.fromarray(left_dark).save(tmp_path / f"x{suffix}", exif=exif, quality=95)
    upright = decode_image(tmp_path / f"x{suffix}", (20, 40), "nearest")
    assert upright[:, :20].mean() > 250 and upright[:, 20:].mean() < 5


def test_decompression_bombs_are_decoding_failures_of_their_file(tmp_path):
    image(tmp_path / "14" / "good.png")
    side = int(np.sqrt(MAX_IMAGE_PIXELS)) + 8  # just over the cap (Pillow's own check would only warn)
    (tmp_path / "14" / "over.ppm").write_bytes(f"P6 {side} {side} 255\n".encode() + b"\0" * 64)
    (tmp_path / "14" / "huge.ppm").write_bytes(b"P6 100000 100000 255\n" + b"\0" * 64)
    ingest = open_ingest(tmp_path)
    decoded, failed = decoded_and_failed(ingest)
    assert decoded == {"good.png"} and failed == {"over.ppm", "huge.ppm"}
    with pytest.raises(ValueError, match="100000 x 100000 = 10,000,000,000 pixels, the cap 67,108,864"):
        decode_image(tmp_path / "14" / "huge.ppm", (8, 8), "area")


def black_png(width: int, height: int) -> bytes:
    """A valid 8-bit RGB PNG of ``width`` x ``height``, all black, compressed row by row (never whole in memory)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor, row = zlib.compressobj(1), bytes(1 + 3 * width)  # each row: filter type 0, then its pixels
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


def test_an_image_over_the_size_cap_is_refused_as_such_with_its_size_and_how_to_raise_the_cap(tmp_path):
    (tmp_path / "large.png").write_bytes(black_png(9000, 9000))
    with pytest.raises(ValueError) as refused:
        decode_image(tmp_path / "large.png", (8, 8), "area")
    message = str(refused.value)
    assert message.startswith("over the size cap against decompression bombs: the image is 9000 x 9000 = "
                              "81,000,000 pixels, the cap 67,108,864") and "cannot decode" not in message
    assert message.endswith("raise the cap with --max-image-pixels=81000000")


def test_a_raised_size_cap_decodes_the_image_and_a_lowered_one_refuses_it(tmp_path):
    path = image(tmp_path / "sign.png")  # 40 x 36 = 1,440 pixels
    assert decode_image(path, (8, 8), "area", max_pixels=1440).shape == (8, 8, 3)
    with pytest.raises(ValueError, match="the image is 40 x 36 = 1,440 pixels, the cap 1,439"):
        decode_image(path, (8, 8), "area", max_pixels=1439)
    ingest = open_ingest(tmp_path)
    failures = [failure for batch in iter_image_batches(ingest, (8, 8), "area", max_pixels=1000)
                for failure in batch.failures]
    assert len(failures) == 1 and failures[0][1].startswith(OVER_SIZE_CAP)


def test_a_size_cap_below_one_pixel_is_refused_with_the_options(tmp_path):
    with pytest.raises(HarnessInputError, match="--max-image-pixels 0 is not a size cap") as refused:
        check_options(tmp_path, max_image_pixels=0)
    assert "--max-image-pixels=100000000" in refused.value.fix


# --- entries no layout reads are listed; links leaving the ingest and link loops are refused ---

def test_class_folders_list_what_they_do_not_read(tmp_path):
    image(tmp_path / "14" / "a.png")
    write(tmp_path / "14" / "notes.txt", "x")
    image(tmp_path / "14" / "nested" / "b.png")
    image(tmp_path / "14" / "nested" / "deeper" / "c.png")
    (tmp_path / "14" / "gone.png").symlink_to("missing.png")
    image(tmp_path / "stray.png")
    (tmp_path / "0").mkdir()
    ingest = open_ingest(tmp_path)
    assert [r.path.name for r in ingest.records] == ["a.png"]
    ignored = {path.relative_to(tmp_path).as_posix(): reason for path, reason in ingest.ignored}
    assert set(ignored) == {"0", "14/notes.txt", "14/nested", "14/gone.png", "stray.png"}
    assert "2 file(s) inside" in ignored["14/nested"] and "0 file(s) inside" in ignored["0"]
    assert "dangling link" in ignored["14/gone.png"] and "not an image" in ignored["14/notes.txt"]
    assert "class-folders layout reads" in ignored["stray.png"]


def test_label_file_layouts_list_unnamed_files(tmp_path):
    image(tmp_path / "Images" / "00000.ppm")
    image(tmp_path / "Images" / "00001.ppm")
    write(tmp_path / "GT-final_test.csv", f"{GTSRB_HEADER}\n00000.ppm;40;36;5;4;34;31;14\n")
    ingest = open_ingest(tmp_path)
    assert [(p.name, "label file names" in reason) for p, reason in ingest.ignored] == [("00001.ppm", True)]


@pytest.mark.parametrize("folder", ["labels.csv", "GT-final_test.csv", "Images/GT-final_test.csv", "Test.CSV",
                                    "linked.csv"])
def test_a_folder_named_like_a_label_file_is_named_in_the_refusal(tmp_path, folder):
    for index in range(12):  # more than a message lists of the ingest's entries
        image(tmp_path / f"{index:05d}.ppm")
    if folder == "linked.csv":
        (tmp_path / "sub").mkdir()
        (tmp_path / folder).symlink_to("sub")
    else:
        (tmp_path / folder).mkdir(parents=True)
    message = error_for(tmp_path)
    assert f"{folder}/ is a folder named like a label file" in message and "Rename the folder" in message


def test_a_folder_named_like_a_class_label_file_is_named_as_a_folder(tmp_path):
    image(tmp_path / "00014" / "00000.ppm")
    (tmp_path / "00014" / "GT-00014.csv").mkdir()
    assert f"Label file {tmp_path / '00014' / 'GT-00014.csv'} is a folder, not a file" in error_for(tmp_path)


def test_images_beside_a_folder_are_said_not_to_be_a_flat_ingest(tmp_path):
    image(tmp_path / "00000.ppm")
    (tmp_path / "notes").mkdir()
    message = error_for(tmp_path)
    assert "no known layout found (it holds notes/, 00000.ppm)" in message
    assert "its 1 image(s) directly inside are not read as a flat folder of images because it also holds " \
           "folder(s): notes/" in message


@pytest.mark.parametrize("layout", ["class-folders", "gtsrb-test", "flat"])
def test_links_leading_outside_the_ingest_are_refused_in_every_layout(tmp_path, layout):
    outside = image(tmp_path / "outside.png")
    root = tmp_path / "ingest"
    folder = root / "14" if layout == "class-folders" else root
    image(folder / "a.png")
    if layout == "gtsrb-test":
        write(root / "GT-final_test.csv", f"{GTSRB_HEADER}\na.png;40;36;5;4;34;31;14\n")
    (folder / "linked.png").symlink_to(outside)
    message = error_for(root)
    assert "linked.png leads outside the ingest folder" in message


def test_a_link_loop_is_a_clear_error(tmp_path):
    image(tmp_path / "14" / "a.png")
    (tmp_path / "14" / "loop.png").symlink_to("loop2.png")
    (tmp_path / "14" / "loop2.png").symlink_to("loop.png")
    assert "symbolic link loop" in error_for(tmp_path)


def test_links_inside_the_ingest_are_followed(tmp_path):
    image(tmp_path / "14" / "a.png")
    image(tmp_path / "elsewhere" / "b.png")
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "b.png").symlink_to(tmp_path / "elsewhere" / "b.png")
    write(tmp_path / "labels.csv", "Filename;ClassId\n14/a.png;14\n3/b.png;3\n")
    ingest = open_ingest(tmp_path)
    assert ingest.layout == "csv-labels" and ingest.class_counts() == {3: 1, 14: 1} and ingest.ignored == ()


# --- class ids: plain ASCII digits ---

@pytest.mark.parametrize("class_id", ["١٤", " 14", "+14", "14.0", "1_4", "99999999999999999999"])
def test_class_ids_are_plain_ascii_digits(tmp_path, class_id):
    image(tmp_path / "folders" / class_id / "a.png")
    image(tmp_path / "folders" / "3" / "b.png")
    assert "are not class ids" in error_for(tmp_path / "folders") and repr(class_id) in error_for(tmp_path / "folders")
    image(tmp_path / "csv" / "a.png")
    write(tmp_path / "csv" / "GT-final_test.csv", f"{GTSRB_HEADER}\na.png;40;36;5;4;34;31;{class_id}\n")
    assert "line 2: ClassId" in error_for(tmp_path / "csv") and "is not a class id" in error_for(tmp_path / "csv")


def test_zero_padded_class_ids_are_accepted(tmp_path):
    image(tmp_path / "00014" / "a.png")
    assert open_ingest(tmp_path).class_counts() == {14: 1}


# --- malformed label files ---

def test_a_short_row_names_the_file_and_line(tmp_path):
    image(tmp_path / "00000.ppm")
    write(tmp_path / "GT-final_test.csv", f"{GTSRB_HEADER}\n00000.ppm;40;36;5;4;34;31;14\n00000.ppm;40\n")
    message = error_for(tmp_path)
    assert "GT-final_test.csv, line 3: 2 field(s) where the header has 8" in message


def test_extra_fields_are_refused_and_a_trailing_separator_is_not(tmp_path):
    image(tmp_path / "a,b.png")
    write(tmp_path / "Test.csv", "ClassId,Path\n14,a,b.png\n")
    assert "Test.csv, line 2: 3 field(s) where the header has 2" in error_for(tmp_path)
    write(tmp_path / "Test.csv", 'ClassId,Path\n14,"a,b.png",\n')
    assert open_ingest(tmp_path).class_counts() == {14: 1}


@pytest.mark.parametrize("name", ["GT-final_test.csv", "labels.csv"])
def test_non_utf8_label_files_name_the_file_and_line(tmp_path, name):
    image(tmp_path / "00000.ppm")
    header = GTSRB_HEADER if name.startswith("GT") else "Filename;ClassId"
    (tmp_path / name).write_bytes(f"{header}\n".encode() + b"00000.ppm;\xe9\xff;14\n")
    message = error_for(tmp_path)
    assert f"{name}, line 2: byte 0xe9 is not UTF-8 text" in message


# --- paths in label files ---

def test_absolute_paths_inside_the_ingest_are_accepted(tmp_path):
    image(tmp_path / "Images" / "00000.ppm")
    write(tmp_path / "GT-final_test.csv", f"{GTSRB_HEADER}\n{tmp_path / 'Images' / '00000.ppm'};40;36;5;4;34;31;14\n")
    assert open_ingest(tmp_path).class_counts() == {14: 1}


def test_windows_separators_in_a_kaggle_csv(tmp_path):
    image(tmp_path / "Test" / "00000.png")
    write(tmp_path / "Test.csv", "ClassId,Path\r\n14,Test\\00000.png\r\n")
    assert open_ingest(tmp_path).records[0].path == tmp_path / "Test" / "00000.png"
    write(tmp_path / "Test.csv", "ClassId,Path\r\n14,..\\outside.png\r\n")
    assert "leads outside the ingest folder" in error_for(tmp_path)


# --- random bytes: a valid ingest with listed failures, or one clear input error ---

def encoded_images():
    array = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    encoded = []
    for fmt in ("PNG", "PPM", "BMP", "JPEG"):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format=fmt)
        encoded.append(buffer.getvalue())
    return encoded


@st.composite
def damaged_images(draw):
    """Bytes of a valid image with random bytes written over part of it, cut short, or wholly random."""
    data = bytearray(draw(st.sampled_from(encoded_images())))
    for _ in range(draw(st.integers(0, 8))):
        start = draw(st.integers(0, len(data) - 1))
        patch = draw(st.binary(min_size=1, max_size=8))
        data[start:start + len(patch)] = patch
    data = data[:draw(st.integers(0, len(data)))]
    return draw(st.one_of(st.just(bytes(data)), st.binary(max_size=300)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=damaged_images(), suffix=st.sampled_from([".png", ".ppm", ".jpg", ".bmp"]))
def test_random_image_bytes_decode_or_fail_that_image(data, suffix):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        image(root / "14" / "good.png")
        (root / "14" / f"random{suffix}").write_bytes(data)
        decoded, failed = decoded_and_failed(open_ingest(root))
        assert "good.png" in decoded and decoded | failed == {"good.png", f"random{suffix}"}
        assert not decoded & failed


#: pieces of label file text: a valid row is likely, and so is each kind of damage
LABEL_TOKENS = ["0.ppm", "Images/", "../", "/", "\\", ";", ",", '"', "\n", "\r\n", "14", "3", " ", "+", "-1", ".0",
                "\u0661", "\x00", "\u00e9", "a"]


@settings(max_examples=200, deadline=None)
@given(header=st.sampled_from(["", f"{GTSRB_HEADER}\n", "Filename;ClassId\n", "ClassId,Path\n"]),
       text=st.lists(st.sampled_from(LABEL_TOKENS), max_size=40).map("".join),
       tail=st.one_of(st.just(b""), st.binary(max_size=40)),
       name=st.sampled_from(["GT-final_test.csv", "labels.csv", "Test.csv"]))
def test_random_label_files_give_an_ingest_or_an_input_error(header, text, tail, name):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        image(root / "0.ppm")
        (root / name).write_bytes(header.encode() + text.encode() + tail)
        try:
            ingest = open_ingest(root)
        except HarnessInputError as error:
            assert error.problem and error.fix
        else:
            assert all(os.path.isfile(record.path) and record.path.is_relative_to(root.resolve())
                       for record in ingest.records)
