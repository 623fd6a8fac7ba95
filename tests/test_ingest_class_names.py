"""Ingests nobody planned for: class folders named by class name (through the card's names or a class map), and a
label file whose images sit in subfolders; every other layout still detected as before."""

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safety_harness.core.errors import HarnessInputError
from safety_harness.core.gtsrb import CLASS_NAMES
from safety_harness.ingest import FolderClasses, open_ingest, read_class_map
from safety_harness.ingest.class_names import MAX_CLASS_MAP_BYTES
from tests.test_ingest import GTSRB_HEADER, image, write

GTSRB = FolderClasses(CLASS_NAMES)


def refusal(root, folder_classes=GTSRB) -> str:
    with pytest.raises(HarnessInputError) as error:
        open_ingest(root, folder_classes)
    return str(error.value)


def class_map(tmp_path, text: str, name="classes.csv"):
    return read_class_map(write(tmp_path / name, text))


def map_refusal(tmp_path, text: str) -> str:
    with pytest.raises(HarnessInputError) as error:
        class_map(tmp_path, text)
    return str(error.value)


# --- class folders named by class name ---

def test_folders_named_by_the_cards_class_names(tmp_path):
    root = tmp_path / "ingest"
    for folder in ("Stop", "speed_limit_(30km_h)", "  YIELD ", "Beware-of-ice-snow"):
        image(root / folder / "a.png")
    image(root / "Stop" / "b.png")
    ingest = open_ingest(root, GTSRB)
    assert ingest.layout == "class-name-folders"
    assert ingest.class_counts() == {1: 1, 13: 1, 14: 2, 30: 1}
    assert dict(ingest.folder_classes) == {"speed_limit_(30km_h)": 1, "  YIELD ": 13, "Stop": 14,
                                           "Beware-of-ice-snow": 30}
    assert "the model card's class names" in ingest.reading and "case ignored" in ingest.reading
    # records in folder order, then file name, whatever the classes
    assert [r.path.parent.name for r in ingest.records] == ["  YIELD ", "Beware-of-ice-snow", "Stop", "Stop",
                                                            "speed_limit_(30km_h)"]


def test_a_cards_own_class_names_are_matched(tmp_path):
    image(tmp_path / "cat" / "a.png")
    image(tmp_path / "Dog" / "a.png")
    ingest = open_ingest(tmp_path, FolderClasses(("dog", "cat")))
    assert dict(ingest.folder_classes) == {"Dog": 0, "cat": 1}


def test_folders_named_through_a_class_map(tmp_path):
    root = tmp_path / "ingest"
    for folder in ("stopp", "vorfahrt gewähren", "7"):
        image(root / folder / "a.png")
    mapping = class_map(tmp_path, "folder;class_id\nstopp;14\nVorfahrt_gewähren ; 13\n7;14\nunused;3\n")
    assert [row[:2] for row in mapping.rows] == [("stopp", 14), ("Vorfahrt_gewähren", 13), ("7", 14), ("unused", 3)]
    ingest = open_ingest(root, FolderClasses(CLASS_NAMES, mapping))
    # with a map, numeric folder names go through it too; several folders may hold one class
    assert ingest.layout == "class-name-folders" and ingest.class_counts() == {13: 1, 14: 2}
    assert str(tmp_path / "classes.csv") in ingest.reading
    remapped = open_ingest(root, FolderClasses(CLASS_NAMES, class_map(tmp_path, "stopp,1\nvorfahrt gewähren,2\n7,3\n",
                                                                      "other.csv")))
    assert [r.path for r in remapped.records] == [r.path for r in ingest.records]


def test_one_folder_read_in_two_orders_has_two_record_order_hashes(tmp_path):
    # numeric folders: by class id without a map, by folder name through one; the content hash cannot tell
    for folder in ("1", "2", "10"):
        image(tmp_path / "ingest" / folder / "a.png")
    by_id = open_ingest(tmp_path / "ingest", GTSRB)
    by_name = open_ingest(tmp_path / "ingest", FolderClasses(CLASS_NAMES, class_map(tmp_path, "1,1\n2,2\n10,10\n")))
    assert [r.path.parent.name for r in by_id.records] == ["1", "2", "10"]
    assert [r.path.parent.name for r in by_name.records] == ["1", "10", "2"]
    assert by_id.content_sha256() == by_name.content_sha256()
    assert by_id.order_sha256 != by_name.order_sha256
    assert open_ingest(tmp_path / "ingest", GTSRB).order_sha256 == by_id.order_sha256


def test_a_class_map_without_header(tmp_path):
    assert class_map(tmp_path, "Stop,14\r\nYield,13,\r\n\r\n").rows == (("Stop", 14, 1), ("Yield", 13, 2))


def test_unmatched_folder_names_are_listed_with_the_fix(tmp_path):
    for folder in ("Stop", "Stopp", "misc", "14"):
        image(tmp_path / folder / "a.png")
    message = refusal(tmp_path)
    assert "3 class folder name(s) match no class in the model card's class names" in message
    assert "'14', 'Stopp' (closest: 'Stop'), 'misc'" in message and "--class-map" in message
    mapping = class_map(tmp_path / "maps", "Stop,14\n")
    message = refusal(tmp_path, FolderClasses(CLASS_NAMES, mapping))
    assert "match no class in the class map" in message and "Add a row 'folder name,class id'" in message


def test_ambiguous_matches_are_refused(tmp_path):
    image(tmp_path / "STOP" / "a.png")
    message = refusal(tmp_path, FolderClasses(("Stop", "stop", "Yield")))
    assert "'STOP' (0 by class 0, 1 by class 1)" in message and "match several classes" in message
    # an exact match wins over normalised ones
    assert open_ingest(tmp_path, FolderClasses(("STOP", "stop"))).class_counts() == {0: 1}
    mapping = class_map(tmp_path.parent / "maps", "Stop,14\nstop,13\n")
    assert "'STOP' (13 by line 2, 14 by line 1)" in refusal(tmp_path, FolderClasses(CLASS_NAMES, mapping))


def test_a_mapped_class_the_model_does_not_have_is_refused(tmp_path):
    image(tmp_path / "ingest" / "Stop" / "a.png")
    mapping = class_map(tmp_path, "Stop,43\n")
    assert "mapped to class 43, which the model does not have" in refusal(tmp_path / "ingest",
                                                                         FolderClasses(CLASS_NAMES, mapping))


@pytest.mark.parametrize(("text", "expected"), [
    ("Stop,14,3\n", "line 1: 3 value(s) where a row has 2"),
    ("folder,class\nStop,stop\n", "line 2: class id 'stop' is not plain digits"),
    ("Stop,14\nStop,3\n", "folder 'Stop' is listed on lines 1 and 2"),
    ("../Stop,14\n", "'../Stop' is a path, not a folder name"),
    ("Stop\u202e,14\n", "control or invisible formatting characters"),
    ("Stop\x01,14\n", "control or invisible formatting characters"),
    (f"{'x' * 256},14\n", "longer than a folder name can be"),
    (",14\n", "the folder name is empty"),
    ("folder,class_id\n", "has no rows"),
    ("a,\"1\n", "cannot be read as CSV"),
    ("Stop,14\nYield\n", "line 2: 1 value(s) where a row has 2"),
])
def test_hostile_class_maps_name_the_file_and_line(tmp_path, text, expected):
    message = map_refusal(tmp_path, text)
    assert expected in message and str(tmp_path / "classes.csv") in message


#: pieces of class map text: a valid row is likely, and so is each kind of damage
MAP_TOKENS = ["Stop", "14", "3", ",", ";", '"', "\n", "\r\n", " ", "/", "..", "\x00", "\u202e", "\u00e9", "+1", "_"]


@settings(max_examples=200, deadline=None)
@given(text=st.lists(st.sampled_from(MAP_TOKENS), max_size=40).map("".join), tail=st.binary(max_size=20))
def test_random_class_maps_give_a_map_or_an_input_error(text, tail):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "classes.csv"
        path.write_bytes(text.encode() + tail)
        try:
            mapping = read_class_map(path)
        except HarnessInputError as error:
            assert error.problem and error.fix
        else:
            names = [name for name, _, _ in mapping.rows]
            assert mapping.rows and len(set(names)) == len(names)
            assert all(name and "/" not in name and "\x00" not in name for name in names)


def test_class_map_files_that_cannot_be_read(tmp_path):
    with pytest.raises(HarnessInputError, match="does not exist or is not a file"):
        read_class_map(tmp_path / "missing.csv")
    with pytest.raises(HarnessInputError, match="does not exist or is not a file"):
        read_class_map(tmp_path)
    (tmp_path / "latin1.csv").write_bytes("Stra\xdfe,14\n".encode("latin-1"))
    with pytest.raises(HarnessInputError, match="line 1: byte 0xdf is not UTF-8"):
        read_class_map(tmp_path / "latin1.csv")
    (tmp_path / "huge.csv").write_bytes(b"a,1\n" * (MAX_CLASS_MAP_BYTES // 4 + 1))
    with pytest.raises(HarnessInputError, match="the limit is 1048576 bytes"):
        read_class_map(tmp_path / "huge.csv")


# --- a label file whose images sit in subfolders ---

def gtsrb_sorted_into_class_folders(root):
    """GT-final_test.csv at the root, its images sorted into folders by class."""
    image(root / "14" / "00000.ppm")
    image(root / "Stop" / "00001.ppm")
    image(root / "Images" / "00002.ppm")
    write(root / "GT-final_test.csv", f"{GTSRB_HEADER}\n00000.ppm;40;36;5;4;34;31;14\n"
                                      "00001.ppm;40;36;5;4;34;31;14\n00002.ppm;40;36;5;4;34;31;3\n")


def test_a_label_files_images_are_found_by_unique_file_name(tmp_path):
    gtsrb_sorted_into_class_folders(tmp_path)
    ingest = open_ingest(tmp_path, GTSRB)
    assert ingest.layout == "gtsrb-test" and ingest.class_counts() == {3: 1, 14: 2}
    assert [r.path.relative_to(ingest.root).as_posix() for r in ingest.records] == [
        "14/00000.ppm", "Stop/00001.ppm", "Images/00002.ppm"]
    assert ingest.reading == ("GT-final_test.csv names 3 image(s): 1 at the path it gives, 2 found by file name "
                              "elsewhere under the ingest (each name unique there)")
    assert not ingest.ignored


def test_a_kaggle_path_is_found_by_file_name_too(tmp_path):
    image(tmp_path / "Test" / "14" / "00000.png")
    write(tmp_path / "Test.csv", "ClassId,Path\n14,Test/00000.png\n")
    ingest = open_ingest(tmp_path)
    assert ingest.class_counts() == {14: 1} and "1 found by file name" in ingest.reading


def test_a_file_name_found_in_several_places_is_refused(tmp_path):
    gtsrb_sorted_into_class_folders(tmp_path)
    image(tmp_path / "3" / "00000.ppm")
    message = refusal(tmp_path)
    assert "found in several places under the ingest: 00000.ppm (14/00000.ppm, 3/00000.ppm)" in message
    assert "GT-final_test.csv names 1 image(s)" in message


def test_a_file_name_found_nowhere_is_refused(tmp_path):
    gtsrb_sorted_into_class_folders(tmp_path)
    (tmp_path / "Stop" / "00001.ppm").unlink()
    message = refusal(tmp_path)
    assert "names 1 image(s) that do not exist (nor by file name anywhere under the ingest): 00001.ppm" in message


def test_gtsrb_training_label_files_name_only_the_images_beside_them(tmp_path):
    folder = tmp_path / "00014"
    image(tmp_path / "00003" / "00000_00000.ppm")
    write(tmp_path / "00003" / "GT-00003.csv", f"{GTSRB_HEADER}\n00000_00000.ppm;40;36;5;5;30;30;3\n")
    write(folder / "GT-00014.csv", f"{GTSRB_HEADER}\n00000_00000.ppm;40;36;5;5;30;30;14\n")
    assert "GT-00014.csv names 1 image(s) that do not exist: 00000_00000.ppm" in refusal(tmp_path)


# --- every layout still detected automatically ---

def test_every_layout_is_detected_with_folder_classes_given(tmp_path):
    image(tmp_path / "numeric" / "14" / "a.png")
    image(tmp_path / "named" / "Stop" / "a.png")
    image(tmp_path / "flat" / "a.png")
    image(tmp_path / "gtsrb" / "00000.ppm")
    write(tmp_path / "gtsrb" / "GT-final_test.csv", f"{GTSRB_HEADER}\n00000.ppm;40;36;5;4;34;31;14\n")
    image(tmp_path / "csv" / "a.png")
    write(tmp_path / "csv" / "labels.csv", "Filename,ClassId\na.png,14\n")
    layouts = {name: open_ingest(tmp_path / name, GTSRB) for name in ("numeric", "named", "flat", "gtsrb", "csv")}
    assert {name: ingest.layout for name, ingest in layouts.items()} == {
        "numeric": "class-folders", "named": "class-name-folders", "flat": "flat", "gtsrb": "gtsrb-test",
        "csv": "csv-labels"}
    assert all(ingest.class_counts() in ({14: 1}, {}) and ingest.reading for ingest in layouts.values())


def test_named_folders_are_not_read_without_anything_to_match_them_to(tmp_path):
    image(tmp_path / "Stop" / "a.png")
    assert "no known layout" in refusal(tmp_path, None)
    # folders holding no image are no class folders
    (tmp_path / "Stop" / "a.png").unlink()
    assert "no known layout" in refusal(tmp_path)
