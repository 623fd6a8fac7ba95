"""Class folders named by class name: which class id each folder name stands for.

Folder names are matched to the model card's class names (its ``classes`` list, or the 43 GTSRB names
of ``classes: gtsrb43``, the default), or to the rows of a class map the user names (``--class-map``).

Matching rule: a folder name matches a name exactly; failing that, it matches the names equal to it with
case ignored and every run of characters other than letters and digits (spaces, underscores, hyphens,
brackets, ``/``) counted as one separator, so ``speed_limit_(30km_h)/`` and ``Speed limit 30km h/`` are
"Speed limit (30km/h)" (a folder name cannot hold its ``/``). A folder matching names of two classes is
ambiguous and refused, as is a folder matching none; several folders may hold one class.

A class map is a UTF-8 CSV of two columns, folder name and class id (``,`` or ``;``, whichever the first
line holds more of); a first row whose second value is not a class id is a header. Values are stripped of
surrounding spaces; a folder name must be a plausible one (no ``/`` or ``\\``, not ``.`` or ``..``, no
control or invisible formatting characters, at most 255 bytes) and may be listed once.
"""

import csv
import difflib
import itertools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from safety_harness.core.errors import HarnessInputError, shown
from safety_harness.ingest.csv_text import capped_text_lines, class_id

#: a class map of every class of any real model is a few kilobytes
MAX_CLASS_MAP_BYTES = 1 << 20
#: the longest file name common file systems allow, in UTF-8 bytes
_MAX_NAME_BYTES = 255
#: unmatched folders listed in a message
_SHOWN = 20
MATCHING_RULE = ("exact, else with case ignored and every run of characters other than letters and digits "
                 "counted as one separator")


def normalised(name: str) -> str:
    """``name`` as the matching rule compares it: case folded, runs of non-alphanumerics one space."""
    return " ".join(re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", name).casefold()))


@dataclass(frozen=True)
class ClassMap:
    """The rows of a class-map file: ``(folder name, class id, line)``."""

    path: Path
    rows: tuple[tuple[str, int, int], ...]


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a folder's name, or None."""
    if not name:
        return "is empty"
    if "/" in name or "\\" in name or name in (".", ".."):
        return f"{shown(name)} is a path, not a folder name"
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        return f"{shown(name)} holds control or invisible formatting characters"
    if len(name.encode()) > _MAX_NAME_BYTES:
        return f"{shown(name)} is longer than a folder name can be ({_MAX_NAME_BYTES} bytes)"
    return None


def read_class_map(path) -> ClassMap:
    """Read and validate the class map ``path`` (see the module's docstring); every problem is one
    :class:`HarnessInputError` naming the file and line."""
    path = Path(path)
    what = "Class map"
    fix = "Pass --class-map a UTF-8 CSV file with one 'folder name,class id' row per class folder."
    lines = capped_text_lines(path, what, fix, MAX_CLASS_MAP_BYTES, "Pass the right file; a class map is a few kilobytes.")
    first = next(lines, "")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter, strict=True)
    rows, seen = [], {}
    try:
        for values in reader:
            line = reader.line_num
            while values and not values[-1].strip():
                values.pop()  # a trailing separator, or a blank line
            if not values:
                continue
            if len(values) != 2:
                raise HarnessInputError(f"{what} {path}, line {line}: {len(values)} value(s) where a row has 2",
                                        f"Give every row a folder name and a class id, separated by {delimiter!r}.")
            name, label = (value.strip() for value in values)
            if class_id(label) is None:
                if line == 1:
                    continue  # the header
                raise HarnessInputError(f"{what} {path}, line {line}: class id {shown(label)} is not plain digits 0-9",
                                        "Fix that line: the second value is the index of a class in the model card.")
            problem = _name_problem(name)
            if problem is not None:
                raise HarnessInputError(f"{what} {path}, line {line}: the folder name {problem}",
                                        "Fix that line: the first value is the name of a class folder of the ingest.")
            if name in seen:
                raise HarnessInputError(f"{what} {path}: folder {shown(name)} is listed on lines {seen[name]} and "
                                        f"{line}", "List each folder once.")
            seen[name] = line
            rows.append((name, class_id(label), line))
    except csv.Error as error:
        raise HarnessInputError(f"{what} {path} cannot be read as CSV ({error})", fix) from None
    if not rows:
        raise HarnessInputError(f"{what} {path} has no rows", fix)
    return ClassMap(path, tuple(rows))


@dataclass(frozen=True)
class FolderClasses:
    """What class folder names are matched to: the model card's ``class_names`` (in class id order), or,
    when given, the rows of ``class_map``."""

    class_names: tuple[str, ...]
    class_map: ClassMap | None = None

    @property
    def source(self) -> str:
        if self.class_map is None:
            return "the model card's class names"
        return f"the class map {self.class_map.path}"

    def _candidates(self) -> list[tuple[str, int, str]]:
        """``(name, class id, where it comes from)`` of every name a folder may match."""
        if self.class_map is None:
            return [(name, index, f"class {index}") for index, name in enumerate(self.class_names)]
        return [(name, label, f"line {line}") for name, label, line in self.class_map.rows]

    def match(self, root: Path, folder_names) -> dict[str, int]:
        """The class id of each of ``folder_names`` (class folders of the ingest ``root``); one
        :class:`HarnessInputError` listing every folder that matches no class, or several."""
        candidates = self._candidates()
        exact, loose = {}, {}
        for name, label, where in candidates:
            exact.setdefault(name, {})[label] = where
            loose.setdefault(normalised(name), {})[label] = where
        classes, unmatched, ambiguous = {}, [], []
        for folder in sorted(folder_names):
            found = exact.get(folder) or loose.get(normalised(folder), {})
            if len(found) == 1:
                classes[folder] = next(iter(found))
            elif found:
                ambiguous.append(f"{shown(folder)} (" + ", ".join(f"{label} by {where}" for label, where in
                                                                  sorted(found.items())) + ")")
            else:
                unmatched.append(folder)
        if ambiguous:
            raise HarnessInputError(
                f"Ingest {root}: {len(ambiguous)} class folder name(s) match several classes in {self.source} "
                f"(matching: {MATCHING_RULE}): " + "; ".join(ambiguous),
                "Rename each folder to one class's exact name, or map it with --class-map=FILE (rows: folder name, "
                "class id)." if self.class_map is None else
                f"Make the rows of {self.class_map.path} that these folder names match give one class id.",
            )
        if unmatched:
            raise HarnessInputError(
                f"Ingest {root}: {len(unmatched)} class folder name(s) match no class in {self.source} "
                f"(matching: {MATCHING_RULE}): " + self._listed(unmatched, candidates),
                "Rename each folder to a class name of the model card, or map the folders with --class-map=FILE, a "
                "CSV with one 'folder name,class id' row per folder." if self.class_map is None else
                f"Add a row 'folder name,class id' for each of them to {self.class_map.path}.",
            )
        for folder, label in classes.items():
            if label >= len(self.class_names):
                raise HarnessInputError(
                    f"Class map {self.class_map.path}: folder {shown(folder)} is mapped to class {label}, which the "
                    f"model does not have (its card lists {len(self.class_names)} classes, "
                    f"0..{len(self.class_names) - 1})",
                    "Fix that row: the class id is the index of a class in the model card.",
                )
        return classes

    @staticmethod
    def _listed(unmatched: list[str], candidates) -> str:
        """The unmatched folder names, each with the closest name it may have meant."""
        names = {normalised(name): name for name, _, _ in candidates}
        shown_names = []
        for folder in unmatched[:_SHOWN]:
            close = difflib.get_close_matches(normalised(folder), list(names), n=1)
            shown_names.append(shown(folder) + (f" (closest: {shown(names[close[0]])})" if close else ""))
        more = f" ... ({len(unmatched)} in all)" if len(unmatched) > _SHOWN else ""
        return ", ".join(shown_names) + more
