"""Progress of a long command's stages on stderr, for a terminal or a log file.

The library reports stages through `prefroute.train.pipeline.Progress` callbacks
``(stage, done, total)``; `StageReporter` is such a callback. On a terminal it draws a
rich bar per stage (done/total, elapsed, time left); elsewhere (a pipe, a CI log) it
prints one line when a stage starts and then at most one line per `interval` seconds
with the count, the elapsed time and the time left, so a long run is never silent;
with ``quiet`` it prints nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from rich.console import Console

__all__ = ["StageReporter", "format_duration"]

#: Seconds between two progress lines of one stage when stderr is not a terminal.
DEFAULT_INTERVAL = 30.0


def format_duration(seconds: float) -> str:
    """A short human duration: ``"42 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``.

    Args:
        seconds: A duration (negative counts as 0).

    Returns:
        The text.
    """
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class _Stage:
    label: str
    total: int | None
    started: float
    done: int = 0
    # the first progress report: the rate is measured from it, so set-up before
    # the first unit (loading a model, a step before the counted work) is not
    # taken for slowness
    first_at: float | None = None
    first_done: int = 0
    last_line: float = 0.0
    finished: bool = False
    task: Any = None  # rich TaskID on a terminal


class StageReporter:
    """A `Progress` callback that shows each stage of a job on stderr.

    Use as a context manager; call as ``reporter(stage, done, total)``: a stage
    starts with ``done == 0`` (its total, or None when unknown), later calls add
    ``done`` units. The part of `stage` before a colon names it; the whole text is
    printed when the stage starts (e.g. ``"embedding: 35,535 prompts (0 cached,
    35,535 to embed)"``). Thread-safe: embedders may report from worker threads.
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        quiet: bool = False,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create the reporter (nothing is shown before the first stage).

        Args:
            console: Where to write (default: a stderr console).
            quiet: Show nothing.
            interval: Seconds between progress lines of a stage when the console
                is not a terminal.
            clock: Time source (tests pass a fake one).
        """
        self.console = console if console is not None else Console(stderr=True)
        self.quiet = quiet
        self.interval = interval
        self._clock = clock
        self._stages: dict[str, _Stage] = {}
        self._lock = threading.RLock()
        self._bar: Any = None

    @property
    def is_live(self) -> bool:
        """Whether bars are drawn (a terminal and not quiet)."""
        return not self.quiet and self.console.is_terminal

    def __enter__(self) -> StageReporter:
        """Start the live display on a terminal."""
        if self.is_live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._bar.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the live display."""
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)
            self._bar = None

    def print(self, text: str) -> None:
        """Print a line (above the bars on a terminal), unless quiet.

        Args:
            text: The line.
        """
        if not self.quiet:
            self.console.print(text, highlight=False, markup=False)

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        """Record progress of `stage` (see the class docstring)."""
        if self.quiet:
            return
        key = stage.partition(":")[0].strip()
        with self._lock:
            now = self._clock()
            current = self._stages.get(key)
            if current is None or done == 0:
                self._start(key, stage, total, now)
                return
            if current.first_at is None:
                current.first_at, current.first_done = now, done
            current.done += done
            if total is not None:
                current.total = total
            self._show(current, now)

    # ------------------------------------------------------------------ internals
    def _start(self, key: str, text: str, total: int | None, now: float) -> None:
        # A new stage ends the open stages of unknown length ("loading ...").
        for other in self._stages.values():
            if other.total is None and not other.finished:
                other.finished = True
                if self._bar is not None and other.task is not None:
                    self._bar.remove_task(other.task)
        old = self._stages.get(key)
        if old is not None and self._bar is not None and old.task is not None:
            self._bar.remove_task(old.task)
        stage = _Stage(label=key, total=total, started=now, last_line=now)
        self._stages[key] = stage
        suffix = f" ({total:,})" if total is not None and text == key else ""
        self.print(f"{text}{suffix}")
        if self._bar is not None:
            stage.task = self._bar.add_task(key, total=total)
        if total == 0:
            stage.finished = True

    def _show(self, stage: _Stage, now: float) -> None:
        if self._bar is not None:
            self._bar.update(stage.task, completed=stage.done, total=stage.total)
            return
        if stage.finished:
            return
        complete = stage.total is not None and stage.done >= stage.total
        if complete:
            stage.finished = True
            self.print(
                f"{stage.label}: done, {stage.done:,} in "
                f"{format_duration(now - stage.started)}"
            )
        elif now - stage.last_line >= self.interval:
            stage.last_line = now
            self.print(self._line(stage, now))

    @staticmethod
    def _line(stage: _Stage, now: float) -> str:
        elapsed = now - stage.started
        if stage.total is None or stage.total <= 0:
            return f"{stage.label}: {stage.done:,} done, {format_duration(elapsed)}"
        share = stage.done / stage.total
        text = (
            f"{stage.label}: {stage.done:,}/{stage.total:,} ({share:.0%}), "
            f"{format_duration(elapsed)} elapsed"
        )
        left = stage.total - stage.done
        if stage.first_at is not None and stage.done > stage.first_done:
            rate = (stage.done - stage.first_done) / max(now - stage.first_at, 1e-9)
            text += f", about {format_duration(left / rate)} left"
        elif stage.done > 0:
            text += f", about {format_duration(elapsed / stage.done * left)} left"
        return text
