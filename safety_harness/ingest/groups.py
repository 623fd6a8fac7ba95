"""Groups of dependent images: every image of an ingest belongs to one group, an independent unit
(a track, a recording sequence, one physical sign). Rates are bounded over groups
(safety_harness/metrics/group_bounds.py), so 30 frames of one sign count as far less than 30 signs.

Where the groups come from, in this order (the first that applies):

1. ``--groups FILE``: a UTF-8 CSV of ``file,group`` rows (header optional), the file's path relative to the
   ingest folder; every image of the ingest must be listed, once. At most :data:`MAX_GROUPS_FILE_BYTES`.
2. a ``Track`` column in the ingest's label file(s): a group is a class and a track (GTSRB numbers
   tracks per class).
3. the GTSRB training naming ``TTTTT_FFFFF.<ext>`` (track, frame) of every image, in class folders or
   the official training layout: a group is a class and a track.
4. data the bundled renderer drew, each render from its own seed: every image is its own group.
5. otherwise, estimated from image similarity
   (:func:`safety_harness.ingest.similarity_groups.estimate_groups`).
"""

import csv
import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from safety_harness.core.errors import HarnessInputError, shown
from safety_harness.ingest.csv_text import capped_text_lines
from safety_harness.ingest.layouts import TRACK_COLUMN

#: a groups file of a million images is about 40 MB
MAX_GROUPS_FILE_BYTES = 64 << 20
#: GTSRB training images: track and frame
TRACK_NAME = re.compile(r"(\d{5})_(\d{5})\.[A-Za-z]+")

SOURCE_FILE = "groups_file"
SOURCE_LABEL_COLUMN = "label_file_column"
SOURCE_TRACK_NAMES = "gtsrb_track_names"
SOURCE_GENERATED = "generated_independent"
SOURCE_ESTIMATED = "estimated"
#: every source a grouping may name (the evidence's ``groups.source``)
SOURCES = (SOURCE_FILE, SOURCE_LABEL_COLUMN, SOURCE_TRACK_NAMES, SOURCE_GENERATED, SOURCE_ESTIMATED)


@dataclass(frozen=True)
class Groups:
    """A group id per record of an ingest (``ids``, int64, dense from 0 in order of first appearance), with
    where they come from (``source``, one of :data:`SOURCES`) and how, in a sentence (``description``)."""

    ids: np.ndarray
    source: str
    description: str

    @property
    def count(self) -> int:
        return int(self.ids.max()) + 1 if self.ids.size else 0

    def summary(self, labels: np.ndarray) -> dict:
        """For the evidence: the source, the number of groups (in all and per class: a group spanning
        two classes counts in each) and the distribution of group sizes."""
        sizes = np.bincount(self.ids) if self.ids.size else np.zeros(0, np.int64)
        per_class = {str(label): int(np.unique(self.ids[labels == label]).size)
                     for label in np.unique(labels[labels >= 0])}
        return {"source": self.source, "description": self.description, "count": self.count,
                "per_class": per_class, "sizes": _size_distribution(sizes)}


def _size_distribution(sizes: np.ndarray) -> dict:
    if not sizes.size:
        return {"min": 0, "median": 0, "max": 0, "histogram": {}}
    edges = (1, 2, 5, 10, 20, 30, 50)
    bins = np.digitize(sizes, edges)
    names = ["1", "2-4", "5-9", "10-19", "20-29", "30-49", "50+"]
    return {"min": int(sizes.min()), "median": float(np.median(sizes)), "max": int(sizes.max()),
            "histogram": {names[b - 1]: int((bins == b).sum()) for b in range(1, len(edges) + 1)}}


def dense_ids(keys) -> np.ndarray:
    """Group ids 0, 1, ... for hashable ``keys``, in order of first appearance."""
    first = {}
    return np.array([first.setdefault(key, len(first)) for key in keys], dtype=np.int64)


def singletons(count: int, description: str, source: str = SOURCE_GENERATED) -> Groups:
    """Every image its own group."""
    return Groups(np.arange(count, dtype=np.int64), source, description)


def groups_from_records(ingest) -> Groups | None:
    """Groups the ingest itself gives: a ``Track`` column of its label file(s), else the GTSRB training
    naming of every image in a labelled layout; None when it gives none."""
    records = ingest.records
    if all(record.group is not None for record in records):
        return Groups(dense_ids((record.label, record.group) for record in records), SOURCE_LABEL_COLUMN,
                      f"the {TRACK_COLUMN} column of the label file(s), a group per class and track")
    if ingest.labelled:
        tracks = [TRACK_NAME.fullmatch(record.path.name) for record in records]
        if all(tracks):
            return Groups(dense_ids((record.label, match[1]) for record, match in zip(records, tracks)),
                          SOURCE_TRACK_NAMES, "the GTSRB training naming TTTTT_FFFFF (track, frame) of every "
                                              "image, a group per class and track")
    return None


def read_groups_file(path, ingest) -> Groups:
    """The groups of ``ingest`` listed in the ``--groups`` file ``path`` (module docstring); every problem
    is one :class:`HarnessInputError` naming the file and line."""
    path = Path(path)
    what = "Groups file"
    fix = (f"Pass --groups a UTF-8 CSV with one 'file,group' row per image of {ingest.root}, the file's path "
           "relative to that folder (see README.md, 'Dependent images').")
    lines = capped_text_lines(path, what, fix, MAX_GROUPS_FILE_BYTES)
    root = ingest.root
    index = {Path(os.path.relpath(record.path, root)).as_posix(): i for i, record in enumerate(ingest.records)}
    first = next(lines, "")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter, strict=True)
    groups: list[str | None] = [None] * len(ingest.records)
    listed_on: dict[int, int] = {}
    try:
        for values in reader:
            line = reader.line_num
            while values and not values[-1].strip():
                values.pop()
            if not values:
                continue
            if len(values) != 2:
                raise HarnessInputError(f"{what} {path}, line {line}: {len(values)} value(s) where a row has 2",
                                        f"Give every row a file and a group, separated by {delimiter!r}.")
            name, group = (value.strip() for value in values)
            position = index.get(Path(os.path.normpath(name.replace("\\", "/"))).as_posix()) if name else None
            if position is None:
                if line == 1 and not listed_on:
                    continue  # the header
                raise HarnessInputError(f"{what} {path}, line {line}: {shown(name)} is not an image of the ingest "
                                        f"{ingest.root}", "Name each image by its path relative to the ingest "
                                                          "folder, as it is on disk (e.g. Images/00001.ppm).")
            if position in listed_on:
                earlier = groups[position]
                problem = (f"is listed again (first on line {listed_on[position]})" if earlier == group else
                           f"is put in group {shown(group)} but line {listed_on[position]} put it in "
                           f"{shown(earlier)}: an image belongs to one group")
                raise HarnessInputError(f"{what} {path}, line {line}: {shown(name)} {problem}",
                                        "List each image once.")
            listed_on[position] = line
            groups[position] = group
    except csv.Error as error:
        raise HarnessInputError(f"{what} {path}, line {reader.line_num} cannot be read as CSV ({error})",
                                fix) from None
    unlisted = [Path(os.path.relpath(ingest.records[i].path, root)).as_posix()
                for i, group in enumerate(groups) if group is None]
    if unlisted:
        more = f" ... ({len(unlisted)} in all)" if len(unlisted) > 10 else ""
        raise HarnessInputError(f"{what} {path} does not list {len(unlisted)} image(s) of the ingest: "
                                f"{', '.join(unlisted[:10])}{more}", "Give every image of the ingest a group.")
    return Groups(dense_ids(groups), SOURCE_FILE, f"the groups file {path}")
