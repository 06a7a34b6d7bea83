"""`StageReporter`: progress lines off a terminal, bars on one, nothing when quiet."""

from __future__ import annotations

import io

from rich.console import Console

from prefroute.cli._progress import StageReporter, format_duration


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _reporter(
    *, terminal: bool = False, quiet: bool = False
) -> tuple[StageReporter, io.StringIO, FakeClock]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=100)
    clock = FakeClock()
    reporter = StageReporter(console, quiet=quiet, interval=30.0, clock=clock)
    return reporter, out, clock


def test_log_lines_say_the_work_up_front_then_count_with_time_left() -> None:
    reporter, out, clock = _reporter()
    with reporter as progress:
        progress(
            "embedding: 1,000 prompts with minilm (400 cached, 600 to embed)", 0, 600
        )
        clock.now = 20.0  # the first report comes late (say, loading the model)
        progress("embedding", 100, 600)  # within the interval: no line
        clock.now = 40.0
        # the rate counts from the first report: 200 in 20 s, so 300 left take 30 s
        progress("embedding", 200, 600)
        clock.now = 80.0
        progress("embedding", 300, 600)
    lines = out.getvalue().splitlines()
    assert lines == [
        "embedding: 1,000 prompts with minilm (400 cached, 600 to embed)",
        "embedding: 300/600 (50%), 40 s elapsed, about 30 s left",
        "embedding: done, 600 in 1 min 20 s",
    ]


def test_a_stage_of_unknown_length_prints_its_start() -> None:
    reporter, out, _ = _reporter()
    with reporter as progress:
        progress("loading sources", 0, None)
        progress("decontaminating", 0, 5)
        progress("decontaminating", 5, 5)
    assert out.getvalue().splitlines() == [
        "loading sources",
        "decontaminating (5)",
        "decontaminating: done, 5 in 0 s",
    ]


def test_quiet_prints_nothing() -> None:
    reporter, out, _ = _reporter(quiet=True)
    with reporter as progress:
        progress("embedding: 3 prompts", 0, 3)
        progress("embedding", 3, 3)
        progress.print("saved")
    assert out.getvalue() == ""


def test_a_terminal_gets_bars_that_vanish_and_keeps_the_stage_lines() -> None:
    reporter, out, clock = _reporter(terminal=True)
    assert reporter.is_live
    with reporter as progress:
        progress("embedding: 10 prompts (0 cached, 10 to embed)", 0, 10)
        clock.now = 5.0
        progress("embedding", 4, 10)
        progress("fitting mf: 3 epochs", 0, 3)
        progress("fitting mf", 3, 3)
    text = out.getvalue()
    assert "embedding: 10 prompts (0 cached, 10 to embed)" in text
    assert "fitting mf: 3 epochs" in text
    # periodic lines are for logs only
    assert "elapsed" not in text


def test_durations_read_well() -> None:
    assert format_duration(0.4) == "0 s"
    assert format_duration(59) == "59 s"
    assert format_duration(65) == "1 min 05 s"
    assert format_duration(2 * 3600 + 7 * 60 + 30) == "2 h 07 min"
