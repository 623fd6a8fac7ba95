"""Image conditions: ``clean``, or a perturbation at a severity (``rain:2``).

A condition is parsed once, when the requirements file is read; everything downstream takes
its :attr:`Condition.name` and :attr:`Condition.severity`. Its text form ``str(condition)`` is
what the evidence JSON, the pytest ids and the prediction cache keys hold.
"""

import re
from dataclasses import dataclass

from safety_harness.core.errors import shown
from safety_harness.core.names import NAME_PATTERN

#: perturbation severities, 1 (mild) to 5 (extreme)
SEVERITIES = (1, 2, 3, 4, 5)

_CONDITION = re.compile(rf"({NAME_PATTERN}):(\d+)(?:-(\d+))?")


@dataclass(frozen=True)
class Condition:
    """``name`` of the perturbation (``clean``: none) and its ``severity`` (None when clean)."""

    name: str
    severity: int | None = None

    @property
    def is_clean(self) -> bool:
        return self.severity is None

    def __str__(self) -> str:
        return self.name if self.is_clean else f"{self.name}:{self.severity}"

    @classmethod
    def parse(cls, text: str) -> "Condition":
        """``"clean"`` or ``"name:severity"``; raises ValueError otherwise."""
        (condition,) = cls.expand(text, allow_range=False)
        return condition

    @classmethod
    def expand(cls, text: str, allow_range: bool = True) -> tuple["Condition", ...]:
        """``"rain:1-3"`` -> rain at 1, 2 and 3; ``"rain:2"`` and ``"clean"`` -> themselves.

        Raises ValueError, saying what is wrong, for anything else, a severity outside 1..5 or a
        backwards range (``"rain:3-1"`` would otherwise list no condition at all)."""
        if text == CLEAN.name:
            return (CLEAN,)
        match = _CONDITION.fullmatch(text) if isinstance(text, str) else None
        if match is None or (match.group(3) is not None and not allow_range):
            form = "'clean', 'name:severity' or 'name:first-last'" if allow_range else "'clean' or 'name:severity'"
            raise ValueError(f"a condition is {form} (name of letters, digits, '_', '.', '-'; "
                             f"e.g. 'rain:2'), not {shown(text)}")
        name, first = match.group(1), int(match.group(2))
        last = first if match.group(3) is None else int(match.group(3))
        for severity in (first, last):
            if severity not in SEVERITIES:
                raise ValueError(f"condition {shown(text)}: severity {severity} is outside "
                                 f"{SEVERITIES[0]}..{SEVERITIES[-1]}")
        if last < first:
            raise ValueError(f"condition {shown(text)} is a backwards range; write '{name}:{last}-{first}'")
        return tuple(cls(name, severity) for severity in range(first, last + 1))


CLEAN = Condition("clean")
