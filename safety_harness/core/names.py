"""Names that become pytest ids and HTML text: a small alphabet keeps both safe.

Requirement ids, perturbation names and OOD set names (one of them comes from a folder on disk)
end up in pytest's test ids, which pytest-html inserts into the report; outside this alphabet
they are refused with a message, not escaped and carried on.
"""

import re

#: requirement ids: letters, digits and ``_ . : @ -``
ID_PATTERN = r"[A-Za-z0-9_.:@-]+"
#: names inside ids (perturbations, OOD sets): the id alphabet without ``:`` and ``@``, which separate
#: the parts of a case id
NAME_PATTERN = r"[A-Za-z0-9_.-]+"


def is_safe_id(text: str) -> bool:
    return re.fullmatch(ID_PATTERN, text) is not None


def is_safe_name(text: str) -> bool:
    return re.fullmatch(NAME_PATTERN, text) is not None
