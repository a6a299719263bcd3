"""Ctrl-C lands between training steps, never inside Keras' or TensorFlow's own code.

TensorFlow traces a model's first step in Python code called back from C++;
a ``KeyboardInterrupt`` raised there can come back out as an unrelated error
(seen: ``TypeError: Failed to convert elements of (None,) to Tensor``).
keras-tuner then records an ordinary failed trial and goes on, so a Ctrl-C
did not stop the search and a good trial was marked FAILED.

While a search runs (:func:`deferred_during_fit`), the first Ctrl-C that
arrives during a fit is held until the current training step ends and is
raised from a callback (:class:`StepInterrupt`), where nothing catches it.
Outside a fit, and at a second Ctrl-C, it is raised at once as usual.
"""

from __future__ import annotations

import contextlib
import signal
import threading

import keras

_state = {"fits": 0, "pending": False}


@contextlib.contextmanager
def deferred_during_fit():
    """Install the deferring SIGINT handler (main thread only; the previous handler comes back after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if _state["fits"] and not _state["pending"]:
            _state["pending"] = True  # raised by StepInterrupt once the running step is done
            return
        _reset()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
        _raise_pending()
    finally:
        signal.signal(signal.SIGINT, previous)
        _reset()


def _reset() -> None:
    _state.update(fits=0, pending=False)


def _raise_pending() -> None:
    if _state["pending"]:
        _reset()
        raise KeyboardInterrupt


class StepInterrupt(keras.callbacks.Callback):
    """Raises a held Ctrl-C at the next step or epoch boundary of the fit it watches.

    It uses ``on_train_batch_begin``, which Keras always calls in the main
    thread, so Keras' asynchronous dispatch of batch-end callbacks stays on.
    """

    def on_train_begin(self, logs=None):
        _raise_pending()
        _state["fits"] += 1

    def on_train_batch_begin(self, batch, logs=None):
        _raise_pending()

    def on_epoch_end(self, epoch, logs=None):
        _raise_pending()

    def on_train_end(self, logs=None):
        _state["fits"] = max(0, _state["fits"] - 1)
        _raise_pending()
