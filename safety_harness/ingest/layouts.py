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
- ``flat``: images directly in the folder, no labels.
"""

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from safety_harness.core.errors import HarnessInputError

IMAGE_SUFFIXES = (".ppm", ".png", ".jpg", ".jpeg", ".bmp")
LAYOUTS = ("gtsrb-test", "gtsrb-train", "kaggle-test", "kaggle-train", "csv-labels", "class-folders", "flat")
_ROI_COLUMNS = ("Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2")


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


@dataclass(frozen=True)
class LabelSource:
    layout: str
    label_files: tuple[Path, ...]
    records: tuple[ImageRecord, ...]


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if _is_image(p))


def _parse_label(value: str, label_file: Path, line: int, column: str) -> int:
    try:
        label = int(value.strip())
    except ValueError:
        label = -1
    if label < 0:
        raise HarnessInputError(
            f"Label file {label_file}, line {line}: {column} {value!r} is not a non-negative integer class id",
            "Fix that line: every label must be a GTSRB ClassId (0..42) or the index of a class in the model card.",
        )
    return label


def _resolve_inside(root: Path, base: Path, name: str, label_file: Path, line: int) -> Path:
    """The image a label file names, refusing any path that leads outside the ingest folder."""
    candidate = Path(name.strip())
    resolved = (base / candidate).resolve()
    if candidate.is_absolute() or not resolved.is_relative_to(root.resolve()):
        raise HarnessInputError(
            f"Label file {label_file}, line {line}: image path {name!r} leads outside the ingest folder {root}",
            "Label files may only name images inside the ingest folder, by relative paths.",
        )
    return resolved


def _read_rows(label_file: Path, delimiter: str, required: tuple[str, ...]):
    try:
        with label_file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            columns = reader.fieldnames or []
            missing = [c for c in required if c not in columns]
            if missing:
                raise HarnessInputError(
                    f"Label file {label_file} lacks column(s) {', '.join(missing)} (it has: {', '.join(columns)})",
                    f"Use the layout's header: {delimiter.join(required)} (separator {delimiter!r}).",
                )
            yield from enumerate(reader, start=2)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise HarnessInputError(f"Label file {label_file} cannot be read ({error})",
                                "Provide a readable text CSV file.") from None


def _roi(row, line) -> tuple[tuple[int, int, int, int] | None, tuple[int, int] | None]:
    if not all(row.get(c) not in (None, "") for c in _ROI_COLUMNS):
        return None, None
    try:
        width, height, x1, y1, x2, y2 = (int(float(row[c])) for c in _ROI_COLUMNS)
    except ValueError:
        return None, None
    # GTSRB's X2/Y2 are inclusive; degenerate or out-of-image boxes are treated as unknown
    if not (0 <= x1 <= x2 < width and 0 <= y1 <= y2 < height):
        return None, None
    return (x1, y1, x2 + 1, y2 + 1), (width, height)


def _records_from_csv(root, label_file, delimiter, name_column, label_column, search_dirs, labelled=True):
    required = (name_column, label_column) if labelled else (name_column,)
    records, missing = [], []
    for line, row in _read_rows(label_file, delimiter, required):
        name = row[name_column]
        path = None
        for base in search_dirs:
            candidate = _resolve_inside(root, base, name, label_file, line)
            if candidate.is_file():
                path = candidate
                break
        if path is None:
            missing.append(name)
            continue
        label = _parse_label(row[label_column], label_file, line, label_column) if labelled else None
        roi, declared = _roi(row, line)
        records.append(ImageRecord(path, label, roi, declared))
    if missing:
        shown = ", ".join(missing[:10]) + (f" ... ({len(missing)} in all)" if len(missing) > 10 else "")
        raise HarnessInputError(
            f"Label file {label_file} names {len(missing)} image(s) that do not exist: {shown}",
            "Restore the missing images, or remove their lines from the label file.",
        )
    return records


def _gtsrb_test(root: Path) -> LabelSource | None:
    for folder in (root, root / "Images"):
        for name, labelled in (("GT-final_test.csv", True), ("GT-final_test.test.csv", False)):
            label_file = folder / name
            if label_file.is_file():
                records = _records_from_csv(root, label_file, ";", "Filename", "ClassId",
                                            (label_file.parent, root / "Images"), labelled)
                return LabelSource("gtsrb-test", (label_file,), tuple(records))
    return None


def _gtsrb_train(root: Path) -> LabelSource | None:
    for base in (root, root / "Images", root / "Final_Training" / "Images"):
        if not base.is_dir():
            continue
        label_files = sorted(base.glob("[0-9][0-9][0-9][0-9][0-9]/GT-[0-9][0-9][0-9][0-9][0-9].csv"))
        if label_files:
            records = []
            for label_file in label_files:
                records += _records_from_csv(root, label_file, ";", "Filename", "ClassId", (label_file.parent,))
            return LabelSource("gtsrb-train", tuple(label_files), tuple(records))
    return None


def _kaggle(root: Path) -> LabelSource | None:
    for name, layout in (("Test.csv", "kaggle-test"), ("Train.csv", "kaggle-train")):
        label_file = root / name
        if label_file.is_file():
            records = _records_from_csv(root, label_file, ",", "Path", "ClassId", (root,))
            return LabelSource(layout, (label_file,), tuple(records))
    return None


def _csv_labels(root: Path) -> LabelSource | None:
    label_files = sorted(root.glob("*.csv"))
    if len(label_files) != 1:
        return None
    label_file = label_files[0]
    with label_file.open(newline="", encoding="utf-8-sig") as handle:
        header = handle.readline()
    delimiter = ";" if header.count(";") >= header.count(",") else ","
    columns = [c.strip() for c in header.strip().split(delimiter)]
    name_column = next((c for c in ("Filename", "Path") if c in columns), None)
    label_column = next((c for c in ("ClassId", "Class") if c in columns), None)
    if name_column is None or label_column is None:
        return None
    records = _records_from_csv(root, label_file, delimiter, name_column, label_column, (root,))
    return LabelSource("csv-labels", (label_file,), tuple(records))


def _class_folders(root: Path) -> LabelSource | None:
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if not folders or not all(re.fullmatch(r"\d+", p.name) for p in folders):
        return None
    records = [ImageRecord(image, int(folder.name)) for folder in sorted(folders, key=lambda p: int(p.name))
               for image in _images_in(folder)]
    return LabelSource("class-folders", (), tuple(records))


def _flat(root: Path) -> LabelSource | None:
    images = _images_in(root)
    if not images or any(p.is_dir() and not p.name.startswith(".") for p in root.iterdir()):
        return None
    return LabelSource("flat", (), tuple(ImageRecord(image, None) for image in images))


_DETECTORS = (_gtsrb_test, _gtsrb_train, _kaggle, _csv_labels, _class_folders, _flat)


def detect_layout(root: Path) -> LabelSource:
    """The first layout that matches ``root``, with its records; a clear error when none does."""
    if not root.exists():
        raise HarnessInputError(f"Ingest folder {root} does not exist", "Pass --ingest DIR pointing at your data.")
    if not root.is_dir():
        raise HarnessInputError(f"Ingest {root} is not a folder", "Pass --ingest the folder that holds the images.")
    for detector in _DETECTORS:
        source = detector(root)
        if source is not None:
            if not source.records:
                raise HarnessInputError(f"Ingest {root} ({source.layout} layout) holds no images",
                                        "Point --ingest at a folder with images.")
            return source
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    shown = ", ".join(entries[:10]) + (" ..." if len(entries) > 10 else "") if entries else "nothing"
    raise HarnessInputError(
        f"Ingest {root}: no known layout found (it holds {shown})",
        "Use one of: GTSRB test (GT-final_test.csv + images), GTSRB training (00000/ ... with GT-000NN.csv), "
        "Kaggle (Test.csv or Train.csv with ClassId and Path), a CSV with Filename and ClassId columns, "
        "numeric class folders (0/ ... 42/), or a flat folder of .ppm/.png/.jpg images. See README.md, 'Ingest layouts'.",
    )
