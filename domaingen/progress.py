"""Progress display for long work (training epochs, generated records).

Shown on a terminal only; ``--quiet`` or a non-terminal stderr turns it off. The
display goes to stderr so stdout stays clean for ``--json`` output. Each bar shows its
throughput in the task's unit (``12.3k records/s``, or ``4.1 s/epoch`` when slower than
one a second) and the time left (``eta 0:01:23``), both from rich's sliding-window speed
estimate; steps done before the run (resumed shards) are ``skip``-ped, not counted in it.
"""

from __future__ import annotations

import contextlib
import datetime
import sys
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["ProgressReporter", "should_show", "format_rate", "format_eta", "progress_columns"]


def should_show(quiet: bool) -> bool:
    """Progress is shown when not quiet and stderr is a terminal."""
    return not quiet and sys.stderr.isatty()


def format_rate(per_second: float | None, unit: str) -> str:
    """A throughput for people: ``12.3k records/s``, ``4.1 s/epoch`` below one a
    second, ``-- records/s`` while unknown. ``unit`` is singular."""
    if per_second is None or per_second <= 0:
        return f"-- {unit}s/s"
    if per_second < 1:
        return f"{1 / per_second:.1f} s/{unit}"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if per_second >= limit:
            return f"{per_second / limit:.1f}{suffix} {unit}s/s"
    return f"{per_second:.1f} {unit}s/s" if per_second < 100 else f"{per_second:.0f} {unit}s/s"


def format_eta(seconds: float | None) -> str:
    """Time left as ``eta H:MM:SS`` (``eta --`` while unknown)."""
    if seconds is None:
        return "eta --"
    return f"eta {datetime.timedelta(seconds=int(max(0.0, seconds) + 0.999))}"


def progress_columns() -> tuple:
    """The columns of every bar: description, bar, done/total, elapsed, rate, ETA, info."""
    from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Throughput in the task's ``unit`` field (the final rate once finished)."""

        def render(self, task: Any) -> Text:
            speed = task.finished_speed if task.finished else task.speed
            return Text(format_rate(speed, task.fields.get("unit", "step")), style="progress.data.speed")

    class EtaColumn(ProgressColumn):
        """Estimated time left (blank once finished)."""

        def render(self, task: Any) -> Text:
            return Text("" if task.finished else format_eta(task.time_remaining), style="progress.remaining")

    return (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        RateColumn(),
        EtaColumn(),
        TextColumn("{task.fields[info]}"),
    )


class ProgressReporter:
    """A thin wrapper over ``rich.progress`` that does nothing when disabled.

    ``console`` and ``get_time`` (a clock in seconds) are for tests and embedding; by
    default the bars go to stderr with rich's monotonic clock."""

    def __init__(self, enabled: bool, *, console: Any = None, get_time: Callable[[], float] | None = None):
        self.enabled = enabled
        self._console, self._get_time = console, get_time

    @contextlib.contextmanager
    def task(self, description: str, total: int, unit: str = "step") -> Iterator["_Task"]:
        """A bar of ``total`` steps of ``unit`` (singular: ``record``, ``epoch``)."""
        if not self.enabled:
            yield _Task(None, None)
            return
        from rich.console import Console
        from rich.progress import Progress

        console = self._console or Console(stderr=True)
        with Progress(*progress_columns(), console=console, transient=False, get_time=self._get_time) as progress:
            yield _Task(progress, progress.add_task(description, total=total, info="", unit=unit))

    def keras_callback(self, epochs: int):
        """A Keras callback advancing a bar per epoch and showing the epoch's losses."""
        from ._quiet import keras_module

        keras = keras_module()
        reporter = self

        class EpochProgress(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self._cm = reporter.task("training", epochs, unit="epoch")
                self._task = self._cm.__enter__()

            def on_epoch_end(self, epoch, logs=None):
                info = "  ".join(f"{k}={float(v):.4g}" for k, v in (logs or {}).items())
                self._task.advance(1, info=info)

            def on_train_end(self, logs=None):
                self._cm.__exit__(None, None, None)

        return EpochProgress()


class _Task:
    def __init__(self, progress: Any, task_id: Any):
        self._progress, self._id = progress, task_id

    def advance(self, steps: int = 1, info: str = "") -> None:
        """``steps`` more done now (counted in the rate and the ETA)."""
        if self._progress is not None:
            self._progress.update(self._id, advance=steps, info=info)

    def skip(self, steps: int) -> None:
        """``steps`` that were done before this run (a resumed generation's shards): on the
        bar, but not in the rate, which would otherwise promise an ETA far too short."""
        if self._progress is not None and steps:
            task = self._progress.tasks[[t.id for t in self._progress.tasks].index(self._id)]
            self._progress.reset(self._id, completed=int(task.completed) + int(steps))
