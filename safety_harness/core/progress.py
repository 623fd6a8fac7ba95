"""Progress of long stages (predicting, perturbing, searching) on the user's terminal.

A front end creates one :class:`Progress` with a sink and hands it to the run; stages report
through :meth:`Progress.stage`. Without a sink nothing is shown: the pytest plugin gives one only
when its output is a terminal, so CI logs stay free of progress lines.
"""

import contextlib
import math
import time
from collections.abc import Callable

#: ``sink(text, final)``: show ``text``; ``final`` is True for a stage's last line
Sink = Callable[[str, bool], None]


def _format(label, done, total, elapsed) -> str:
    text = f"{label}: {done}/{total}"
    if total:
        text += f" ({done / total:.0%})"
    if 0 < done < total and elapsed > 1:
        text += f", about {elapsed * (total - done) / done:.0f} s left"
    elif done >= total:
        text += f" in {elapsed:.1f} s"
    return text


class Progress:
    """Counts and an ETA of long stages, sent to ``sink`` at most every ``min_interval`` seconds."""

    def __init__(self, sink: Sink | None = None, min_interval: float = 0.25):
        self._sink = sink
        self._min_interval = min_interval

    @contextlib.contextmanager
    def stage(self, label: str, total: int):
        """``with progress.stage("predicting clean", n) as advance: advance(k)`` after each k items."""
        # the first advance draws, however young the monotonic clock (it counts from the machine's boot)
        sink, started, last, done = self._sink, time.monotonic(), -math.inf, 0

        def advance(count: int = 1):
            nonlocal done, last
            done += count
            now = time.monotonic()
            if sink is not None and now - last >= self._min_interval:
                last = now
                sink(_format(label, done, total, now - started), False)

        yield advance
        if sink is not None and time.monotonic() - started >= self._min_interval:
            sink(_format(label, done, total, time.monotonic() - started), True)


#: shows nothing: for callers with no terminal
SILENT = Progress()
