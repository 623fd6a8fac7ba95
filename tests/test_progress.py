"""Progress lines: shown only through an installed sink, with counts and a final line."""

from safety_harness.core import progress as progress_module
from safety_harness.core.progress import progress, show_progress_on


def test_nothing_is_shown_without_a_sink():
    show_progress_on(None)
    with progress("predicting", 10) as advance:
        advance(10)  # must not fail, must not print


def test_a_sink_receives_counts_and_a_final_line(monkeypatch, capsys):
    lines = []
    monkeypatch.setattr(progress_module, "_MIN_INTERVAL", 0.0)
    show_progress_on(lambda text, final: lines.append((text, final)))
    try:
        with progress("predicting clean", 4) as advance:
            advance(1)
            advance(3)
    finally:
        show_progress_on(None)
    assert lines[0] == ("predicting clean: 1/4 (25%)", False)
    assert lines[-1][1] is True and lines[-1][0].startswith("predicting clean: 4/4 (100%) in ")
    assert capsys.readouterr().out == ""
