"""Where a running fit is (a trial, a refit): epoch, step, elapsed time and an estimate.

The per-trial line appears when a trial ends; on a real dataset a trial can
take many minutes, so with ``train.verbose: 0`` (the default) the kit shows
its own progress inside each fit:

- on a terminal: one live line drawn by ``rich`` (which Keras itself
  depends on): the fit's name and epoch, a bar over every step of the fit,
  steps done, elapsed time and an estimate for the whole fit; it is erased
  when the fit ends, so the per-trial line prints on a clean line
  (Keras' ``Progbar`` shows numbers only and one bar per epoch);
- elsewhere (a log file, CI): one plain line every ``interval`` seconds
  (60 by default) of a fit that is still running, and nothing for fits
  shorter than that, so a log is not flooded with carriage returns.

``train.verbose: 1`` or ``2`` hands the display to Keras' ``fit`` instead;
``kerascnn search --quiet`` turns both off.
"""

from __future__ import annotations

import sys
import time

import keras

#: Seconds between plain lines when stdout is not a terminal.
INTERVAL = 60.0


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class FitProgress(keras.callbacks.Callback):
    """Progress of one fit, named ``label`` ("trial 3", "refit of trial 3 -> final_model.keras").

    Args:
        label: what is being fitted.
        interval: seconds between plain lines when stdout is not a terminal (default :data:`INTERVAL`).
        stream: where the lines go (default: ``sys.stdout`` when the fit starts).
        live: force the live line on or off (default: whether that stream is a terminal).

    It holds no stream until the fit starts: keras-tuner deep-copies a
    trial's callbacks, and an open file cannot be copied.
    """

    def __init__(self, label: str, interval: float | None = None, stream=None, live: bool | None = None):
        super().__init__()
        self.label, self.interval, self.stream, self.live = label, interval, stream, live
        self.bar = None
        self.epoch = 0

    def _out(self):
        return self.stream if self.stream is not None else sys.stdout

    def on_train_begin(self, logs=None):
        self.start = self.last = time.perf_counter()
        self.every = INTERVAL if self.interval is None else float(self.interval)
        self.epochs = int(self.params.get("epochs") or 1)
        self.steps = self.params.get("steps")  # None: the pipeline's length is unknown
        live = self.live if self.live is not None else bool(getattr(self._out(), "isatty", lambda: False)())
        if live:  # rich (a Keras dependency) draws the live line: bar, steps, elapsed, estimate; gone when done
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("  {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("~"),
                TimeRemainingColumn(),
                transient=True,
                console=Console(file=self._out()),
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self.task = self.bar.add_task(self._describe(), total=self.epochs * self.steps if self.steps else None)
            self.bar.start()

    def _describe(self) -> str:
        return f"{self.label}: epoch {self.epoch + 1}/{self.epochs}"

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        if self.bar is not None:
            self.bar.update(self.task, description=self._describe())

    def on_train_batch_end(self, batch, logs=None):
        done = self.epoch * (self.steps or 0) + batch + 1
        if self.bar is not None:
            self.bar.update(self.task, completed=done)
            return
        now = time.perf_counter()
        if now - self.last < self.every:
            return
        self.last = now
        elapsed = now - self.start
        line = f"  {self._describe()}"
        if self.steps:
            total = self.epochs * self.steps
            line += (
                f", step {batch + 1}/{self.steps}, {_duration(elapsed)} elapsed, "
                f"~{_duration(elapsed * (total - done) / done)} left"
            )
        else:
            line += f", step {batch + 1}, {_duration(elapsed)} elapsed"
        print(line, file=self._out(), flush=True)

    def on_train_end(self, logs=None):
        if self.bar is not None:  # transient: the live line is erased, the per-trial line prints on a clean line
            self.bar.stop()
            self.bar = None
