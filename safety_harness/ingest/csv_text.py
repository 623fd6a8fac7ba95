"""A user's CSV text (label files, class maps): lines decoded as UTF-8, class ids as plain digits."""

import re
from pathlib import Path

from safety_harness.core.errors import HarnessInputError

#: the largest class id accepted; labels are stored as 64-bit integers, class indices of any real model are far below
MAX_CLASS_ID = 2**31 - 1


def class_id(value: str) -> int | None:
    """``value`` as a class id: plain ASCII digits only (not " 14", "+14", "14.0" or other scripts' digits)."""
    if not re.fullmatch(r"[0-9]+", value):
        return None
    digits = value.lstrip("0") or "0"
    return int(digits) if len(digits) <= len(str(MAX_CLASS_ID)) and int(digits) <= MAX_CLASS_ID else None


def text_lines(path: Path, what: str):
    """The lines of the file ``path`` as text, read one at a time (a UTF-8 BOM dropped); bytes that are not
    UTF-8 are refused with their line. ``what`` names the file in messages ("Label file")."""
    try:
        handle = path.open("rb")
    except IsADirectoryError:
        raise HarnessInputError(f"{what} {path} is a folder, not a file",
                                f"Put the {what.lower()} there, or rename the folder: a file by this name is read "
                                f"as a {what.lower()}.") from None
    except OSError as error:
        raise HarnessInputError(f"{what} {path} cannot be read ({error.strerror})",
                                f"Make the {what.lower()} readable.") from None
    with handle:
        for line, data in enumerate(handle, start=1):
            try:
                yield data.decode("utf-8-sig" if line == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise HarnessInputError(
                    f"{what} {path}, line {line}: byte 0x{data[error.start]:02x} is not UTF-8 text",
                    f"Save the {what.lower()} as UTF-8 (plain ASCII is UTF-8).",
                ) from None


def capped_text_lines(path: Path, what: str, fix: str, limit: int, too_large_fix: str | None = None):
    """:func:`text_lines` of a file the user names by an option (``--class-map``, ``--groups``): one that is
    missing, unreadable or over ``limit`` bytes is refused before a line is read, with ``fix`` (or, for the
    size, ``too_large_fix``)."""
    try:
        if not path.is_file():
            raise HarnessInputError(f"{what} {path} does not exist or is not a file", fix)
        size = path.stat().st_size
    except OSError as error:
        raise HarnessInputError(f"{what} {path} cannot be read ({error.strerror})", fix) from None
    if size > limit:
        limit_text = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"
        raise HarnessInputError(f"{what} {path} is {size} bytes; the limit is {limit} bytes ({limit_text})",
                                too_large_fix or fix)
    return text_lines(path, what)
