"""The TensorFlow-free TensorBoard callback: Keras' per-epoch scalars, and the backend's profiler."""

import numpy as np
import pytest

import keras

from kerascnn.evaluation import tensorboard as tb


def _scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {
        tag: [float(tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
        for tag in acc.Tags()["tensors"]
    }


@pytest.mark.backend
def test_the_callback_writes_what_keras_tensorboard_writes_per_epoch(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 4)).astype("float32"), rng.integers(0, 2, 32)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    board = tb.TensorBoard(tmp_path, profile_batch=1)
    history = model.fit(x, y, validation_data=(x, y), epochs=3, batch_size=8, verbose=0, callbacks=[board]).history
    train, validation = _scalars(tmp_path / "train"), _scalars(tmp_path / "validation")
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(train)
    assert {"epoch_loss", "epoch_accuracy"} <= set(validation) and "epoch_learning_rate" not in validation
    np.testing.assert_allclose(train["epoch_loss"], history["loss"], rtol=1e-6)
    np.testing.assert_allclose(validation["epoch_loss"], history["val_loss"], rtol=1e-6)
    np.testing.assert_allclose(train["epoch_learning_rate"], [0.05] * 3, rtol=1e-6)
    # the first batch traced by the backend's profiler, where TensorBoard's profile plugins look
    if keras.backend.backend() == "jax":
        assert list((tmp_path / "train" / "plugins" / "profile").rglob("*.xplane.pb"))
    elif keras.backend.backend() == "torch":
        assert list((tmp_path / "train").glob("*.pt.trace.json"))


def test_keras_own_callback_on_tensorflow_the_kit_s_elsewhere(tmp_path):
    callback = tb.tensorboard_callback(tmp_path, profile_batch=0)
    assert type(callback).__name__ == "TensorBoard"  # keras-tuner gives either its per-trial folder
    expected = keras.callbacks.TensorBoard if keras.backend.backend() == "tensorflow" else tb.TensorBoard
    assert type(callback) is expected
