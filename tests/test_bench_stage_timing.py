"""The benchmark's split of a suite run by stage (bench/stage_timing.py): each phase's time lands in its stage."""

import json

pytest_plugins = ["pytester"]

PAUSE = 0.2


def test_setup_call_collection_and_session_end_each_land_in_their_stage(pytester):
    pytester.makeconftest(f"""
        import time
        import pytest

        @pytest.hookimpl(trylast=True)
        def pytest_collection_finish(session):
            time.sleep({PAUSE})  # as the harness builds the run and predicts the clean ingest

        @pytest.hookimpl(wrapper=True)
        def pytest_sessionfinish(session):
            time.sleep({PAUSE / 2})  # as the harness writes the evidence before pytest-html's page
            outcome = yield
            time.sleep({PAUSE / 2})  # and its report after
            return outcome

        @pytest.fixture
        def predictions():
            time.sleep({PAUSE})  # as the predictions fixture predicts a condition first read
    """)
    # a module name no test module of this suite has: pytester runs in a worker that imported those
    pytester.makepyfile(test_sample_scan=f"""
        import time

        def test_scan(predictions):
            time.sleep({2 * PAUSE})
    """)
    times = pytester.path / "stages.json"
    result = pytester.runpytest("-p", "bench.stage_timing", f"--bench-stage-times={times}")
    result.assert_outcomes(passed=1)

    seconds = json.loads(times.read_text())
    assert set(seconds) == {"inputs, model, clean predictions", "perturbed predictions", "sample scan",
                            "evidence and report"}
    assert PAUSE <= seconds["inputs, model, clean predictions"] < 2 * PAUSE
    assert PAUSE <= seconds["perturbed predictions"] < 2 * PAUSE
    assert 2 * PAUSE <= seconds["sample scan"] < 3 * PAUSE
    assert PAUSE <= seconds["evidence and report"] < 2 * PAUSE


def test_without_the_option_nothing_is_written(pytester):
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest("-p", "bench.stage_timing")
    result.assert_outcomes(passed=1)
    assert not list(pytester.path.glob("*.json"))
