"""Progress lines: shown only through a sink, with counts, an ETA and a final line."""

from safety_harness.core.progress import SILENT, Progress


def test_a_sink_receives_counts_and_a_final_line(capsys):
    lines = []
    with Progress(lambda text, final: lines.append((text, final)), min_interval=0.0).stage("predicting clean", 4) as advance:
        advance(1)
        advance(3)
    assert lines[0] == ("predicting clean: 1/4 (25%)", False)
    assert lines[-1][1] is True and lines[-1][0].startswith("predicting clean: 4/4 (100%) in ")
    assert capsys.readouterr().out == ""


def test_lines_are_spaced_by_the_minimum_interval():
    lines = []
    with Progress(lambda text, final: lines.append(text), min_interval=3600).stage("searching", 100) as advance:
        for _ in range(100):
            advance()
    # the first advance draws; the next 99 fall within the interval, and a stage this short draws no final line
    assert lines == ["searching: 1/100 (1%)"]


def test_without_a_sink_nothing_is_shown(capsys):
    with SILENT.stage("predicting", 10) as advance:
        advance(10)
    assert capsys.readouterr() == ("", "")
