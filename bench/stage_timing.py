"""A pytest plugin the bench loads into its suite runs (``-p bench.stage_timing --bench-stage-times=PATH``): where
the run's wall time goes, by stage, written as JSON to PATH when the session ends.

The harness computes each stage once, when it is first read, so a stage's time is where it is first read:
  * ``inputs, model, clean predictions``: the harness's collection-finish hook, which builds the run (opens the
    ingest, admits the model, checks its preprocessing) and predicts the clean ingest before any test;
  * ``perturbed predictions``: the setup of every test (its ``predictions`` fixture predicts a condition the first
    time a test reads it);
  * one entry per requirement family (the test module, e.g. ``uncertainty``): its tests' own calls, the stages they
    start included (OOD detectors, MC dropout, explanations, counterexample search, the trigger scan, ...);
  * ``evidence and report``: the session-finish hooks (the evidence JSON, the HTML report).
The rest of a run's wall time (interpreter start, imports, planning, collection, the terminal summary) is what the
bench's clock adds.
Only public pytest hooks: the harness itself is not changed for the measurement.
"""

import json
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import pytest

STARTUP, PERTURBED, FINISH = "inputs, model, clean predictions", "perturbed predictions", "evidence and report"


def pytest_addoption(parser):
    parser.addoption("--bench-stage-times", metavar="PATH", type=Path, default=None,
                     help="write the run's seconds per stage as JSON to PATH (bench/stage_timing.py)")


def pytest_configure(config):
    path = config.getoption("bench_stage_times")
    if path is not None:
        config.pluginmanager.register(StageTimes(path), "bench-stage-times")


class StageTimes:
    """Seconds per stage of one session, written to ``path`` when it ends."""

    def __init__(self, path: Path):
        self.path = path
        self.seconds = defaultdict(float)

    @contextmanager
    def _timed(self, stage: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - started

    @pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: around every other plugin's
    def pytest_collection_finish(self):
        with self._timed(STARTUP):
            return (yield)

    def pytest_runtest_logreport(self, report):
        """Setup: the predictions a test reads first; call and teardown: the test's family (its module's name)."""
        family = Path(report.location[0]).stem.removeprefix("test_").replace("_", " ")
        self.seconds[PERTURBED if report.when == "setup" else family] += report.duration

    @pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: around every other plugin's
    def pytest_sessionfinish(self):
        try:
            with self._timed(FINISH):
                return (yield)
        finally:
            self.path.write_text(json.dumps({stage: round(seconds, 1) for stage, seconds in self.seconds.items()},
                                            indent=2) + "\n")
