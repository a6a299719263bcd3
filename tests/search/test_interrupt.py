"""A Ctrl-C during a fit is held until the running training step ends (kerascnn.search.interrupt)."""

import os
import signal

import numpy as np
import pytest

import keras

from kerascnn.search.interrupt import StepInterrupt, deferred_during_fit


class _Steps(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.ended = 0

    def on_train_batch_end(self, batch, logs=None):
        self.ended += 1


class _Hook(keras.layers.Layer):
    def __init__(self, call):
        super().__init__()
        self.hook = call

    def call(self, x):
        return self.hook(x)

    def compute_output_shape(self, shape):
        return shape


def _model(call):
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2, activation="softmax")(_Hook(call)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


def test_ctrl_c_while_the_first_step_is_traced_stops_the_fit_after_that_step():
    """The signal arrives inside the traced Python of step 1 (where TensorFlow can mangle it into a TypeError)."""
    sent = []

    def call(x):  # runs while Keras traces the train step, not at every step
        if not sent and not isinstance(x, keras.KerasTensor):
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)
        return x

    steps = _Steps()
    x, y = np.zeros((64, 4), "float32"), np.zeros(64, "int32")
    previous = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with deferred_during_fit():
            _model(call).fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[steps, StepInterrupt()])
    assert sent and steps.ended == 1  # the traced step finished, the next one never started
    assert signal.getsignal(signal.SIGINT) is previous  # the handler is put back


def test_ctrl_c_outside_a_fit_is_raised_at_once():
    with pytest.raises(KeyboardInterrupt):
        with deferred_during_fit():
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs between bytecodes: long before this ends
                pass
            pytest.fail("not interrupted")
