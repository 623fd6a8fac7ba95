"""The one error type for bad user input.

Every problem a user can fix (a missing file, a corrupt model, a wrong layout,
a card that does not match the model) is raised as :class:`HarnessInputError`.
The pytest plugin turns it into a single usage error: no traceback, non-zero exit.
"""


class HarnessInputError(Exception):
    """Bad input: says what is wrong and how to fix it.

    Parameters
    ----------
    problem : str
        What is wrong, naming the file or option concerned.
    fix : str
        What the user should do about it.
    """

    def __init__(self, problem: str, fix: str):
        super().__init__(problem, fix)
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.problem}\n  How to fix: {self.fix}"


def shown(value, limit: int = 80) -> str:
    """``repr(value)`` capped at ``limit`` characters, for quoting user input in an error message:
    a megabyte-long value must not become a megabyte-long message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def first_line(error: Exception) -> str:
    """``Type: first line of the message`` of a library's exception, for quoting it in a :class:`HarnessInputError`
    (its traceback and further lines say nothing the user can act on)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"
