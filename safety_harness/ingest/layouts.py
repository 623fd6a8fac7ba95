"""Detecting an ingest's layout and reading its labels.

Accepted layouts, tried in this order:

- ``gtsrb-test``: ``GT-final_test.csv`` (``;``-separated, with ``ClassId``) at the root or in
  ``Images/``; with only ``GT-final_test.test.csv`` the ingest is unlabelled.
- ``gtsrb-train``: class folders ``00000/ … 00042/`` each with ``GT-000NN.csv``, at the root or
  under ``Images/`` or ``Final_Training/Images/``.
- ``kaggle-test`` / ``kaggle-train``: ``Test.csv`` / ``Train.csv`` (comma-separated, ``ClassId`` and
  ``Path`` columns, paths relative to the root); ``Test.csv`` wins when both exist.
- ``csv-labels``: one ``.csv`` at the root with a filename column (``Filename`` or ``Path``) and a
  class column (``ClassId`` or ``Class``), e.g. the Polish test signs.
- ``class-folders``: numeric folders ``0/ … 42/`` (or zero-padded) holding images.
- ``class-name-folders``: folders named by class name (``Stop/``, ``speed_limit_30km_h/``) holding images,
  matched to the model card's class names or to the rows of a class map (``--class-map``; with one,
  numeric folder names go through it too): :mod:`safety_harness.ingest.class_names`. Read only when the
  caller says what to match them to; a folder that matches no class, or several, is refused.
- ``flat``: images directly in the folder, no labels.

Whatever the layout, nothing is dropped or counted twice silently: an image listed twice (repeated
rows, or a link to an image listed elsewhere) is refused; every entry the layout does not read
(other files, nested folders, dangling links) is listed with the reason; a link leading outside the
ingest folder, or a link loop, is refused. Class ids are plain ASCII digits; label files are UTF-8
CSV with one value per column, naming images by paths inside the ingest (``/`` or ``\\``). A single label
file (``gtsrb-test``, ``kaggle-*``, ``csv-labels``) may name an image that is not at that path by its file
name: it is found where that name is unique under the ingest (e.g. the GTSRB test set sorted into class
folders beside its ``GT-final_test.csv``); a name found in several places, or nowhere, is refused.
"""

import csv
import errno
import os
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from safety_harness.core.errors import HarnessInputError
from safety_harness.ingest.class_names import MATCHING_RULE, FolderClasses
from safety_harness.ingest.csv_text import class_id, text_lines

#: the label-file column naming an image's track (safety_harness/ingest/groups.py)
TRACK_COLUMN = "Track"
IMAGE_SUFFIXES = (".ppm", ".png", ".jpg", ".jpeg", ".bmp")
_ROI_COLUMNS = ("Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2")
#: what each layout reads, for the entries it leaves unread
_READS = {
    "gtsrb-test": "the images its label file names",
    "gtsrb-train": "the images the label file of each class folder names",
    "kaggle-test": "the images Test.csv names",
    "kaggle-train": "the images Train.csv names",
    "csv-labels": "the images its label file names",
    "class-folders": "the images directly inside the numeric class folders",
    "class-name-folders": "the images directly inside the class folders",
    "flat": "the images directly inside the ingest folder",
}


@dataclass(frozen=True)
class ImageRecord:
    """One image of the ingest.

    ``roi`` is the sign's box in the GTSRB annotation, ``(x1, y1, x2, y2)`` with x2/y2 exclusive,
    on an image of ``declared_size`` (width, height); the reader rescales it to the decoded file.
    """

    path: Path
    label: int | None
    roi: tuple[int, int, int, int] | None = None
    declared_size: tuple[int, int] | None = None
    #: the track its label file names (a ``Track`` column), None where none does (safety_harness/ingest/groups.py)
    group: str | None = None


@dataclass(frozen=True)
class LabelSource:
    """A layout's reading of the ingest. ``origins`` says where each record comes from (a label
    file and its line, or the image's own path and None), for messages; ``ignored`` lists ``(path, reason)`` for
    every entry of the ingest the layout does not read."""

    layout: str
    label_files: tuple[Path, ...]
    records: tuple[ImageRecord, ...]
    origins: tuple[tuple[Path, int | None], ...]
    ignored: tuple[tuple[Path, str], ...] = ()
    #: how the labels were read and the images found, in a sentence for the report
    reading: str = ""
    #: ``(folder name, class id)`` of each class folder named by class name
    folder_classes: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class _Survey:
    """Every entry under the ingest root: ``files`` (regular files and links to them, with the file each
    resolves to), ``folders`` (real folders below the root) and ``unreadable`` (path, reason)."""

    files: dict[Path, Path]
    folders: tuple[Path, ...]
    unreadable: tuple[tuple[Path, str], ...]


def _link_target(link: Path, root: Path) -> Path | None:
    """The file or folder ``link`` leads to, None when it is dangling; refuses loops and targets outside ``root``."""
    target = Path(os.path.realpath(link))
    if not target.is_relative_to(root):
        raise HarnessInputError(
            f"Ingest {root}: the link {link} leads outside the ingest folder (to {target})",
            "Copy the file into the ingest folder instead of linking to it: an ingest is validated as it is on disk.",
        )
    try:
        target.stat()
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise HarnessInputError(f"Ingest {root}: the link {link} is a symbolic link loop",
                                    "Remove the link or point it at a file.") from None
        return None
    return target


def _survey(root: Path) -> _Survey:
    """Walk ``root`` without following links to folders (a link inside the ingest leads to entries walked anyway)."""
    files, folders, unreadable = {}, [], []
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            raise HarnessInputError(f"Ingest {root}: the folder {folder} cannot be read ({error.strerror})",
                                    "Make the ingest folder and everything in it readable.") from None
        for entry in entries:
            path = Path(entry.path)
            if entry.is_symlink():
                target = _link_target(path, root)
                if target is None:
                    unreadable.append((path, "dangling link (what it points at does not exist)"))
                elif target.is_file():
                    files[path] = target
                elif not target.is_dir():
                    unreadable.append((path, "link to something that is not a regular file"))
            elif entry.is_dir(follow_symlinks=False):
                folders.append(path)
                pending.append(path)
            elif entry.is_file(follow_symlinks=False):
                files[path] = path
            else:
                unreadable.append((path, "not a regular file"))
    return _Survey(files, tuple(sorted(folders)), tuple(unreadable))


def _unread(survey: _Survey, layout: str, read: set[Path]) -> list[tuple[Path, str]]:
    """``(path, reason)`` for every entry the layout leaves unread: a folder holding nothing it reads
    is listed once, with the number of entries in it."""
    reasons = {path: (f"not read: the {layout} layout reads {_READS[layout]}" if path.suffix.lower() in IMAGE_SUFFIXES
                      else f"not an image file ({', '.join(IMAGE_SUFFIXES)})")
               for path, target in survey.files.items() if target not in read}
    reasons.update(survey.unreadable)
    holding_read = set()
    for folder in {path.parent for path, target in survey.files.items() if target in read} | {p.parent for p in read}:
        holding_read.update((folder, *folder.parents))
    unread_folders = [f for f in survey.folders if f not in holding_read and f.parent in holding_read]
    inside = dict.fromkeys(unread_folders, 0)
    listed = []
    for path, reason in reasons.items():
        folder = next((f for f in unread_folders if path.is_relative_to(f)), None)
        if folder is None:
            listed.append((path, reason))
        else:
            inside[folder] += 1
    listed += [(folder, f"folder the {layout} layout does not read ({count} file(s) inside)")
               for folder, count in inside.items()]
    return sorted(listed)


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if _is_image(p))


def _parse_label(value: str, label_file: Path, line: int, column: str) -> int:
    label = class_id(value)
    if label is None:
        raise HarnessInputError(
            f"Label file {label_file}, line {line}: {column} {value!r} is not a class id (plain digits 0-9)",
            "Fix that line: every label must be a GTSRB ClassId (0..42) or the index of a class in the model card.",
        )
    return label


def _resolve_inside(root: Path, base: Path, name: str, label_file: Path, line: int) -> Path:
    """The image a label file names (``/`` or ``\\`` separators, relative to ``base`` or absolute), refusing
    any path that leads outside the ingest folder."""
    candidate = Path(name.strip().replace("\\", "/"))
    try:
        resolved = Path(os.path.realpath(base / candidate))
    except (OSError, ValueError):
        resolved = None
    if resolved is None:
        raise HarnessInputError(f"Label file {label_file}, line {line}: {name!r} is not a file path",
                                "Fix that line: name the image by its path inside the ingest folder.")
    if not resolved.is_relative_to(root):
        raise HarnessInputError(
            f"Label file {label_file}, line {line}: image path {name!r} leads outside the ingest folder {root}",
            "Label files may only name images inside the ingest folder.",
        )
    return resolved


def _header(label_file: Path) -> str:
    lines = text_lines(label_file, "Label file")
    try:
        return next(lines, "")
    finally:
        lines.close()


def _read_rows(label_file: Path, delimiter: str, required: tuple[str, ...]):
    """``(line, row)`` for each row of the label file, refusing rows with fewer fields than the header
    or with extra non-empty fields (a value holding an unquoted separator)."""
    reader = csv.DictReader(text_lines(label_file, "Label file"), delimiter=delimiter)
    try:
        columns = reader.fieldnames or []
        missing = [c for c in required if c not in columns]
        if missing:
            raise HarnessInputError(
                f"Label file {label_file} lacks column(s) {', '.join(missing)} (it has: {', '.join(columns)})",
                f"Use the layout's header: {delimiter.join(required)} (separator {delimiter!r}).",
            )
        for row in reader:
            extra = [value for value in row.pop(None, []) if value.strip()]
            fields = sum(value is not None for value in row.values())
            if fields < len(columns) or extra:
                raise HarnessInputError(
                    f"Label file {label_file}, line {reader.line_num}: {fields + len(extra)} field(s) where the "
                    f"header has {len(columns)}",
                    f"Give every row one value per column, separated by {delimiter!r} (quote values that hold it).",
                )
            yield reader.line_num, row
    except csv.Error as error:
        raise HarnessInputError(f"Label file {label_file}, line {reader.line_num} cannot be read ({error})",
                                "Provide a readable text CSV file.") from None


def _track(row, label_file: Path, line: int) -> str | None:
    """The row's ``Track`` value (None: the label file has no such column); empty is refused."""
    if TRACK_COLUMN not in row:
        return None
    track = (row[TRACK_COLUMN] or "").strip()
    if not track:
        raise HarnessInputError(f"Label file {label_file}, line {line}: the {TRACK_COLUMN} column is empty",
                                f"Give every row its track, or remove the {TRACK_COLUMN} column.")
    return track


def _roi(row) -> tuple[tuple[int, int, int, int] | None, tuple[int, int] | None]:
    if not all(row.get(c) not in (None, "") for c in _ROI_COLUMNS):
        return None, None
    try:
        width, height, x1, y1, x2, y2 = (int(float(row[c])) for c in _ROI_COLUMNS)
    except (ValueError, OverflowError):
        return None, None
    # GTSRB's X2/Y2 are inclusive; degenerate or out-of-image boxes are treated as unknown
    if not (0 <= x1 <= x2 < width and 0 <= y1 <= y2 < height):
        return None, None
    return (x1, y1, x2 + 1, y2 + 1), (width, height)


def _files_by_name(survey: _Survey) -> dict[str, set[Path]]:
    """The files under the ingest by file name (what each entry resolves to: a link and its target are one)."""
    found = defaultdict(set)
    for path, target in survey.files.items():
        found[path.name].add(target)
    return found


def _by_file_name(root: Path, name: str, files_by_name: dict[str, set[Path]], ambiguous: list[str]) -> Path | None:
    """The one file under ``root`` named as ``name``'s last part, or None (noting ``name`` in ``ambiguous``
    when several files bear it)."""
    found = files_by_name.get(Path(name.strip().replace("\\", "/")).name, set())
    if len(found) > 1:
        places = sorted(str(path.relative_to(root)) for path in found)
        ambiguous.append(f"{name} ({', '.join(places[:5])}{' ...' if len(places) > 5 else ''})")
    return next(iter(found)) if len(found) == 1 else None


def _surveyed(known: dict[Path, Path], base: Path, name: str) -> Path | None:
    """The file a label file's ``name`` (relative to ``base``) names, found among the surveyed ``known`` files
    (path as walked -> its resolved, checked target) without touching the disk; None when the name has ``..``,
    is absolute, or is not a surveyed path as written (then it is resolved on disk, and checked)."""
    relative = Path(name.strip().replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts:
        return None
    return known.get(base / relative)


def _walked_without(walked, base: Path, name: str) -> bool:
    """Whether ``name`` (relative to ``base``) is in one of the ``walked`` folders, whose files are all surveyed."""
    relative = Path(name.strip().replace("\\", "/"))
    return not relative.is_absolute() and ".." not in relative.parts and (base / relative).parent in walked


def _records_from_csv(root, label_file, delimiter, name_column, label_column, search_dirs, labelled=True,
                      files_by_name=None, known=None, walked=frozenset()):
    """``(records, origins, found by file name)`` of the rows of ``label_file``; a row whose image is not in
    ``search_dirs`` (the first that holds it) is looked up in ``files_by_name`` (None: it is missing).
    ``known``: the surveyed files (:func:`_survey`), which spare resolving each listed path on disk; ``walked``:
    folders the survey walked (with ``root``), where a file not surveyed need not be looked for on disk."""
    required = (name_column, label_column) if labelled else (name_column,)
    records, origins, missing, ambiguous = [], [], [], []
    found_by_name = 0
    for line, row in _read_rows(label_file, delimiter, required):
        name = row[name_column]
        if not name.strip():
            raise HarnessInputError(f"Label file {label_file}, line {line}: the {name_column} column is empty",
                                    "Fix that line: name an image of the ingest, or remove the line.")
        # each search folder in turn: a surveyed file (no disk access), else the path resolved on disk unless
        # the folder it names was walked without finding it (a link to a folder is not walked: it is resolved)
        path = None
        for base in search_dirs:
            path = None if known is None else _surveyed(known, base, name)
            if path is None and not _walked_without(walked, base, name):
                candidate = _resolve_inside(root, base, name, label_file, line)
                path = candidate if candidate.is_file() else None
            if path is not None:
                break
        if path is None and files_by_name is not None:
            path = _by_file_name(root, name, files_by_name, ambiguous)
            found_by_name += path is not None
        if path is None:
            missing.append(name)
            continue
        label = _parse_label(row[label_column], label_file, line, label_column) if labelled else None
        roi, declared = _roi(row)
        records.append(ImageRecord(path, label, roi, declared, _track(row, label_file, line)))
        origins.append((label_file, line))
    if ambiguous:
        shown = "; ".join(ambiguous[:10]) + (f" ... ({len(ambiguous)} in all)" if len(ambiguous) > 10 else "")
        raise HarnessInputError(
            f"Label file {label_file} names {len(ambiguous)} image(s) not at the path it gives whose file name is "
            f"found in several places under the ingest: {shown}",
            "Give those rows the image's path inside the ingest folder (e.g. 14/00001.ppm), or keep one file of "
            "each name.",
        )
    if missing:
        shown = ", ".join(missing[:10]) + (f" ... ({len(missing)} in all)" if len(missing) > 10 else "")
        where = " (nor by file name anywhere under the ingest)" if files_by_name is not None else ""
        raise HarnessInputError(
            f"Label file {label_file} names {len(missing)} image(s) that do not exist{where}: {shown}",
            "Restore the missing images, or remove their lines from the label file.",
        )
    return records, origins, found_by_name


def _label_file_reading(label_file: Path, root: Path, records, found_by_name: int) -> str:
    """How a single label file's images were found, for the report."""
    named = f"{label_file.relative_to(root)} names {len(records)} image(s)"
    if not found_by_name:
        return f"{named}, each at the path it gives"
    return (f"{named}: {len(records) - found_by_name} at the path it gives, {found_by_name} found by file name "
            "elsewhere under the ingest (each name unique there)")


def _gtsrb_test(root: Path, files_by_name, known, walked) -> LabelSource | None:
    for folder in (root, root / "Images"):
        for name, labelled in (("GT-final_test.csv", True), ("GT-final_test.test.csv", False)):
            label_file = folder / name
            if label_file.is_file():
                records, origins, by_name = _records_from_csv(root, label_file, ";", "Filename", "ClassId",
                                                              (label_file.parent, root / "Images"), labelled,
                                                              files_by_name, known, walked)
                return LabelSource("gtsrb-test", (label_file,), tuple(records), tuple(origins),
                                   reading=_label_file_reading(label_file, root, records, by_name))
    return None


def _gtsrb_train(root: Path, known) -> LabelSource | None:
    for base in (root, root / "Images", root / "Final_Training" / "Images"):
        if not base.is_dir():
            continue
        label_files = sorted(base.glob("[0-9][0-9][0-9][0-9][0-9]/GT-[0-9][0-9][0-9][0-9][0-9].csv"))
        if label_files:
            records, origins = [], []
            for label_file in label_files:
                more_records, more_origins, _ = _records_from_csv(root, label_file, ";", "Filename", "ClassId",
                                                                  (label_file.parent,), known=known)
                records += more_records
                origins += more_origins
            return LabelSource("gtsrb-train", tuple(label_files), tuple(records), tuple(origins),
                               reading=f"{len(label_files)} label files, one per class folder, each naming the "
                                       "images beside it")
    return None


def _kaggle(root: Path, files_by_name, known) -> LabelSource | None:
    for name, layout in (("Test.csv", "kaggle-test"), ("Train.csv", "kaggle-train")):
        label_file = root / name
        if label_file.is_file():
            records, origins, by_name = _records_from_csv(root, label_file, ",", "Path", "ClassId", (root,),
                                                          files_by_name=files_by_name, known=known)
            return LabelSource(layout, (label_file,), tuple(records), tuple(origins),
                               reading=_label_file_reading(label_file, root, records, by_name))
    return None


def _csv_labels(root: Path, files_by_name, known) -> LabelSource | None:
    label_files = sorted(p for p in root.glob("*.csv") if p.is_file())
    if len(label_files) != 1:
        return None
    label_file = label_files[0]
    header = _header(label_file)
    delimiter = ";" if header.count(";") >= header.count(",") else ","
    columns = [c.strip() for c in header.strip().split(delimiter)]
    name_column = next((c for c in ("Filename", "Path") if c in columns), None)
    label_column = next((c for c in ("ClassId", "Class") if c in columns), None)
    if name_column is None or label_column is None:
        return None
    records, origins, by_name = _records_from_csv(root, label_file, delimiter, name_column, label_column, (root,),
                                                  files_by_name=files_by_name, known=known)
    return LabelSource("csv-labels", (label_file,), tuple(records), tuple(origins),
                       reading=_label_file_reading(label_file, root, records, by_name))


def _looks_numeric(name: str) -> bool:
    try:
        float(name)
    except ValueError:
        return False
    return True


def _class_folders(root: Path, folder_classes: FolderClasses | None) -> LabelSource | None:
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if not folders:
        return None
    if not all(_looks_numeric(p.name) for p in folders) or (folder_classes and folder_classes.class_map):
        return _class_name_folders(root, folders, folder_classes)
    not_ids = sorted(p.name for p in folders if class_id(p.name) is None)
    if not_ids:
        raise HarnessInputError(
            f"Ingest {root}: class folder name(s) {', '.join(map(repr, not_ids))} are not class ids (plain digits 0-9)",
            "Name each class folder by its class id in plain digits, e.g. 14/ or 00014/.",
        )
    images = [(image, class_id(folder.name)) for folder in sorted(folders, key=lambda p: class_id(p.name))
              for image in _images_in(folder)]
    return LabelSource("class-folders", (), tuple(ImageRecord(image, label) for image, label in images),
                       tuple((image, None) for image, _ in images),
                       reading="class folders named by class id")


def _class_name_folders(root: Path, folders: list[Path], folder_classes: FolderClasses | None) -> LabelSource | None:
    """Folders named by class name, when the caller says what to match them to and one of them holds images."""
    if folder_classes is None or not any(_images_in(folder) for folder in folders):
        return None
    classes = folder_classes.match(root, [folder.name for folder in folders])
    # in folder name order, not class order: which image an index stands for must not depend on the
    # class map, which the ingest's content hash (the prediction cache's key) does not cover
    images = [(image, classes[folder.name]) for folder in sorted(folders) for image in _images_in(folder)]
    return LabelSource("class-name-folders", (), tuple(ImageRecord(image, label) for image, label in images),
                       tuple((image, None) for image, _ in images),
                       reading=f"class folders named by class name, matched to {folder_classes.source} "
                               f"({MATCHING_RULE})",
                       folder_classes=tuple(sorted(classes.items(), key=lambda item: (item[1], item[0]))))


def _flat(root: Path) -> LabelSource | None:
    images = _images_in(root)
    if not images or any(p.is_dir() and not p.name.startswith(".") for p in root.iterdir()):
        return None
    return LabelSource("flat", (), tuple(ImageRecord(image, None) for image in images),
                       tuple((image, None) for image in images), reading="images without labels")


def _where(origins: list[tuple[Path, int | None]]) -> str:
    """Where an image is listed: its label files with their lines, or its links."""
    lines = defaultdict(list)
    for path, line in origins:
        lines[path].append(line)
    return "; ".join(str(path) if numbers == [None] else f"{path} lines {', '.join(map(str, numbers))}"
                     for path, numbers in lines.items())


def _real(path: Path, known: dict[Path, Path]) -> Path:
    """Where ``path`` leads: from the survey when it was walked there, else resolved on disk."""
    return known.get(path) or Path(os.path.realpath(path))


def _refuse_duplicates(root: Path, source: LabelSource, known: dict[Path, Path]) -> None:
    """One image read twice would count as two samples: refuse it, naming where it is listed."""
    listed = defaultdict(list)
    for record, origin in zip(source.records, source.origins):
        listed[_real(record.path, known)].append(origin)
    repeated = {image: origins for image, origins in listed.items() if len(origins) > 1}
    if not repeated:
        return
    shown = [f"{image.relative_to(root)} listed {len(origins)} times: {_where(origins)}"
             for image, origins in list(repeated.items())[:10]]
    more = f"\n    ... and {len(repeated) - 10} more" if len(repeated) > 10 else ""
    raise HarnessInputError(
        f"Ingest {root} ({source.layout} layout): {len(repeated)} image(s) listed more than once, "
        "which would count each as several samples:\n    " + "\n    ".join(shown) + more,
        "List each image once: remove the repeated lines (or the links to an image listed elsewhere).",
    )


def _refuse_folders_named_like_label_files(root: Path) -> None:
    """A folder (or a link to one) where the label-file layouts look for their ``.csv`` (the root,
    ``Images/``) would be passed over, and the ingest read as another layout or as none: refuse it, naming it."""
    folders = sorted(path for base in (root, root / "Images") if base.is_dir() for path in base.iterdir()
                     if path.suffix.lower() == ".csv" and path.is_dir())
    if folders:
        named = ", ".join(f"{folder.relative_to(root)}/" for folder in folders[:5]) + " ..." * (len(folders) > 5)
        raise HarnessInputError(
            f"Ingest {root}: {named} {'is a folder' if len(folders) == 1 else 'are folders'} named like a label "
            "file, where the label-file layouts read their labels from a .csv file (GT-final_test.csv, Test.csv, "
            "Train.csv, or one CSV with Filename and ClassId columns)",
            "Rename the folder, or put the label file in its place: a label file is a regular file.",
        )


def _flat_images_beside_folders(root: Path) -> str | None:
    """Why images lying directly in an ingest no layout matches were not read as a flat one."""
    images = _images_in(root)
    folders = sorted(p.name + "/" for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not (images and folders):
        return None
    return (f"its {len(images)} image(s) directly inside are not read as a flat folder of images because it also "
            f"holds folder(s): {', '.join(folders[:5])}{' ...' if len(folders) > 5 else ''}")


def detect_layout(root: Path, folder_classes: FolderClasses | None = None) -> LabelSource:
    """The first layout that matches ``root``, with its records and what it leaves unread; a clear error
    when none does, or when the ingest holds a link leading outside it, a link loop or an image listed twice.
    ``folder_classes``: what class folders named by class name are matched to (None: such folders are not read)."""
    if not root.exists():
        raise HarnessInputError(f"Ingest folder {root} does not exist", "Pass --ingest DIR pointing at your data.")
    if not root.is_dir():
        raise HarnessInputError(f"Ingest {root} is not a folder", "Pass --ingest the folder that holds the images.")
    survey = _survey(root)
    _refuse_folders_named_like_label_files(root)
    files_by_name = _files_by_name(survey)
    known = survey.files
    walked = frozenset((root, *survey.folders))
    detectors = (lambda: _gtsrb_test(root, files_by_name, known, walked), lambda: _gtsrb_train(root, known),
                 lambda: _kaggle(root, files_by_name, known), lambda: _csv_labels(root, files_by_name, known),
                 lambda: _class_folders(root, folder_classes), lambda: _flat(root))
    for detector in detectors:
        source = detector()
        if source is not None:
            if not source.records:
                raise HarnessInputError(f"Ingest {root} ({source.layout} layout) holds no images",
                                        "Point --ingest at a folder with images.")
            _refuse_duplicates(root, source, known)
            read = {_real(path, known) for path in (*source.label_files, *(r.path for r in source.records))}
            return replace(source, ignored=tuple(_unread(survey, source.layout, read)))
    # folders first: a folder where a layout expects a file is what most often misleads the detection
    entries = [p.name + "/" * p.is_dir() for p in sorted(root.iterdir(), key=lambda p: (not p.is_dir(), p.name))]
    shown = ", ".join(entries[:10]) + (" ..." if len(entries) > 10 else "") if entries else "nothing"
    raise HarnessInputError(
        f"Ingest {root}: no known layout found (it holds {shown})" + (
            f";\n    {flat_note}" if (flat_note := _flat_images_beside_folders(root)) else ""),
        "Use one of: GTSRB test (GT-final_test.csv + images), GTSRB training (00000/ ... with GT-000NN.csv), "
        "Kaggle (Test.csv or Train.csv with ClassId and Path), a CSV with Filename and ClassId columns, "
        "numeric class folders (0/ ... 42/), class folders named by class name (Stop/ ...), or a flat folder of "
        ".ppm/.png/.jpg images. See README.md, 'Ingest layouts'.",
    )
