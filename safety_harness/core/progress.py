"""Progress of long stages (predicting, perturbing, searching) on the user's terminal.

Stages report through :func:`progress`; nothing is shown unless a front end installed a sink
with :func:`show_progress_on` — the pytest plugin does so only when its output is a terminal,
so CI logs stay free of progress lines.
"""

import contextlib
import time

_sink = None
_MIN_INTERVAL = 0.25  # seconds between redraws


def show_progress_on(sink) -> None:
    """Send progress lines to ``sink(text, final)``, or nowhere when ``sink`` is None."""
    global _sink
    _sink = sink


def _format(label, done, total, elapsed) -> str:
    text = f"{label}: {done}/{total}"
    if total:
        text += f" ({done / total:.0%})"
    if 0 < done < total and elapsed > 1:
        text += f", about {elapsed * (total - done) / done:.0f} s left"
    elif done >= total:
        text += f" in {elapsed:.1f} s"
    return text


@contextlib.contextmanager
def progress(label: str, total: int):
    """``with progress("predicting clean", n) as advance: advance(k)`` after each k items."""
    sink, started, last, done = _sink, time.monotonic(), 0.0, 0

    def advance(count: int = 1):
        nonlocal done, last
        done += count
        now = time.monotonic()
        if sink is not None and now - last >= _MIN_INTERVAL:
            last = now
            sink(_format(label, done, total, now - started), False)

    yield advance
    if sink is not None and time.monotonic() - started >= _MIN_INTERVAL:
        sink(_format(label, done, total, time.monotonic() - started), True)
