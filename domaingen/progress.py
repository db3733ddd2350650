"""Progress display for long work (training epochs, generation batches).

Shown on a terminal only; ``--quiet`` or a non-terminal stderr turns it off. The
display goes to stderr so stdout stays clean for ``--json`` output.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["ProgressReporter", "should_show"]


def should_show(quiet: bool) -> bool:
    """Progress is shown when not quiet and stderr is a terminal."""
    return not quiet and sys.stderr.isatty()


class ProgressReporter:
    """A thin wrapper over ``rich.progress`` that does nothing when disabled."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator["_Task"]:
        if not self.enabled:
            yield _Task(None, None)
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[info]}"))
        with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
            yield _Task(progress, progress.add_task(description, total=total, info=""))

    def keras_callback(self, epochs: int):
        """A Keras callback advancing a bar per epoch and showing the epoch's losses."""
        from ._quiet import keras_module

        keras = keras_module()
        reporter = self

        class EpochProgress(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self._cm = reporter.task("training", epochs)
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
        if self._progress is not None:
            self._progress.update(self._id, advance=steps, info=info)
