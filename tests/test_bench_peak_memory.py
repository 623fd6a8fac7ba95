"""The benchmark's peak memory is each run's own: not the benchmark's, not an earlier run's."""

import resource
import sys

from bench.peak_memory import run_measured

MIB = 2**20


def allocating(mib: int) -> list[str]:
    """A Python child that writes ``mib`` MiB (every page touched) and exits."""
    return [sys.executable, "-c", f"block = b'x' * {mib * MIB}"]


def test_each_run_reports_its_own_peak_after_a_bigger_run_and_below_the_benchmarks_own():
    # the measuring process peaks above both children first, as the benchmark does when it computes the floor
    block = bytearray(b"x" * (256 * MIB))
    del block
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 >= 256

    big, small = run_measured(allocating(128)), run_measured(allocating(8))
    assert big.exit_code == small.exit_code == 0
    assert 128 <= big.peak_rss_mib < 240
    assert 8 <= small.peak_rss_mib < 48


def test_the_exit_code_is_the_commands():
    assert run_measured([sys.executable, "-c", "raise SystemExit(3)"]).exit_code == 3
