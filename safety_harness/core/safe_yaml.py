"""Reading a user's YAML file (requirements, model card) without the traps of YAML.

PyYAML's safe loader still keeps the last of two equal mapping keys silently (a requirement
edited twice takes the second threshold without a word) and expands anchors and aliases (a
700-byte "billion laughs" file becomes gigabytes). :func:`load_yaml` refuses both, and files
over :data:`MAX_BYTES` or not in UTF-8, each with one :class:`HarnessInputError` naming the
file, the line and the fix.
"""

from pathlib import Path

import yaml

from safety_harness.core.errors import HarnessInputError, shown

#: larger than any hand-written requirements file or card by far
MAX_BYTES = 1 << 20


class _StrictLoader(yaml.SafeLoader):
    """The safe loader, refusing anchors, aliases and duplicate keys."""

    def __init__(self, stream, path: Path, what: str):
        super().__init__(stream)
        self._path, self._what = path, what

    def _refuse(self, mark, problem: str, fix: str):
        raise HarnessInputError(f"{self._what} {self._path}, line {mark.line + 1}: {problem}", fix)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._refuse(event.start_mark, f"alias *{event.anchor} refused (aliases let a few bytes expand "
                                           "to gigabytes)", "Write the value out in full where it is used.")
        if getattr(event, "anchor", None) is not None:
            self._refuse(event.start_mark, f"anchor &{event.anchor} refused (anchors and aliases let a few "
                                           "bytes expand to gigabytes)", "Remove the anchor; write values out in full.")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the safe constructor reports it below
                continue
            if duplicate:
                self._refuse(key_node.start_mark, f"key {shown(key)} appears twice in the same mapping "
                                                  "(YAML would silently keep the last one)",
                             f"Keep one {shown(key)} entry in that mapping and delete the other.")
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_yaml(path, what: str):
    """The document in the YAML file ``path``; ``what`` names the file in messages ("Model card").

    Raises :class:`HarnessInputError` for an unreadable, oversize, non-UTF-8 or malformed file,
    a duplicate mapping key, an anchor or an alias.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise HarnessInputError(f"{what} {path} is {size} bytes; the limit is {MAX_BYTES} bytes (1 MiB)",
                                    "Pass the right file; a requirements file or model card is a few kilobytes.")
        data = path.read_bytes()
    except OSError as error:
        raise HarnessInputError(f"{what} {path} cannot be read ({error.strerror})",
                                "Check the path and its permissions.") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise HarnessInputError(f"{what} {path}, line {line}: byte {data[error.start]:#04x} is not UTF-8",
                                "Save the file as UTF-8.") from None
    loader = _StrictLoader(text, path, what)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise HarnessInputError(f"{what} {path}{where}: not valid YAML ({problem})",
                                "Fix the YAML syntax at that line.") from None
    except RecursionError:
        raise HarnessInputError(f"{what} {path}: nested too deeply to read",
                                "Flatten the document; neither file needs more than a few levels.") from None
    finally:
        loader.dispose()
