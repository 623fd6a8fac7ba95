"""A command's own wall time and peak resident memory, whatever the memory of the process that starts it.

Linux gives a child's peak RSS (``ru_maxrss`` from ``wait4``) as at least the peak of the process it was
forked from: ``exec`` keeps the larger of the two (``setmax_mm_hiwater_rss`` in the kernel's
``exec_mmap``). A benchmark that has loaded a model and decoded an ingest itself would report its own
peak for every run it starts after that. So each command is started by a launcher of a few MiB (a bare
interpreter, ``-I -S``) that waits for it and reports the command's own ``ru_maxrss``: the largest
single process among the command and the descendants it waited for (a Ray run's raylet and workers
once Ray has stopped), not their sum.
"""

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: argv: result file, then the command; runs the command with the launcher's stdio, writes its exit code
#: and ru_maxrss (KiB on Linux) as JSON to the result file
_LAUNCHER = """\
import json, os, sys
result, command = sys.argv[1], sys.argv[2:]
pid = os.posix_spawnp(command[0], command, os.environ)
_, status, usage = os.wait4(pid, 0)
with open(result, "w") as file:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss], file)
"""


@dataclass(frozen=True)
class MeasuredRun:
    seconds: float
    peak_rss_mib: int
    exit_code: int


def run_measured(command: list[str], cwd: Path | None = None, output=None) -> MeasuredRun:
    """Run ``command`` (its stdout and stderr to the open file ``output``, or inherited) and measure its wall
    seconds and its own peak RSS in MiB (see the module's docstring)."""
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "result.json"
        started = time.perf_counter()
        launcher = subprocess.run([sys.executable, "-I", "-S", "-c", _LAUNCHER, str(result), *command], cwd=cwd,
                                  stdout=output, stderr=subprocess.STDOUT if output is not None else None)
        seconds = time.perf_counter() - started
        if not result.exists():  # the command could not be started
            raise RuntimeError(f"the launcher of {command[0]} failed with exit code {launcher.returncode}")
        exit_code, peak_kib = json.loads(result.read_text())
    return MeasuredRun(seconds=round(seconds, 1), peak_rss_mib=round(peak_kib / 1024), exit_code=exit_code)
