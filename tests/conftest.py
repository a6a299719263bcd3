"""Shared test helpers: quiet TensorFlow, fixed seeds, a gradient check."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

import keras


@pytest.fixture(scope="session", autouse=True)
def _keras_home(tmp_path_factory):
    """The tests' Keras cache (datasets, decoded-image caches) is their own, never the user's ``~/.keras``."""
    old = os.environ.get("KERAS_HOME")
    os.environ["KERAS_HOME"] = str(tmp_path_factory.mktemp("keras_home"))
    yield
    if old is None:
        os.environ.pop("KERAS_HOME", None)
    else:
        os.environ["KERAS_HOME"] = old


@pytest.fixture(autouse=True)
def _seed_and_clear():
    """Every test starts from a fixed seed and a fresh Keras name scope.

    ``free_memory=False``: Keras' default also runs ``gc.collect()``, 0.3 s a
    test (2.5 minutes of the default suite); Python's collector runs anyway.
    """
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session(free_memory=False)


def forward_backward(model, batch_size=2, seed=0, training=True):
    """One forward and backward pass on random inputs, on whichever Keras backend runs the tests.

    Returns the outputs and a ``{weight path: gradient}`` dict for the loss
    ``mean(y ** 2)``: TensorFlow's tape, ``jax.grad`` of the model's
    stateless call, or PyTorch's autograd.
    """
    rng = np.random.default_rng(seed)
    shape = (batch_size,) + tuple(model.input_shape[1:])
    x = rng.standard_normal(shape).astype("float32")
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in model.trainable_variables]
        frozen = [v.value for v in model.non_trainable_variables]

        def loss(weights):
            y, _ = model.stateless_call(weights, frozen, x, training=training)
            return jnp.mean(jnp.square(y)), y

        grads, y = jax.jit(jax.grad(loss, has_aux=True))(trainable)  # one compile, not one per op
    elif backend == "torch":
        import torch

        model.zero_grad()
        y = model(x, training=training)
        torch.mean(torch.square(y)).backward()
        grads = [None if w.value.grad is None else w.value.grad.detach().cpu() for w in model.trainable_weights]
        y = y.detach().cpu()
    else:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            y = model(x, training=training)
            loss = tf.reduce_mean(tf.square(y))
        grads = tape.gradient(loss, model.trainable_weights)
    return np.asarray(y), {w.path: g for w, g in zip(model.trainable_weights, grads)}


def assert_trainable(model, batch_size=2):
    """No NaN in the outputs; every trainable weight gets a finite gradient, and a non-zero one.

    Non-zero is checked in inference mode: in training mode a batch norm whose
    output reaches another batch norm through linear layers only (MobileNetV2's
    projections, EfficientNet's) is shift- and scale-invariant, so its
    ``beta``/``gamma`` gradients are exactly zero by construction.
    """
    for training in (True, False):
        y, grads = forward_backward(model, batch_size, training=training)
        assert np.all(np.isfinite(y)), "non-finite outputs"
        assert grads, "model has no trainable weights"
        for path, g in grads.items():
            assert g is not None, f"no gradient reaches {path}"
            g = np.asarray(g)
            assert np.all(np.isfinite(g)), f"non-finite gradient for {path}"
            if not training:
                assert np.any(g != 0), f"zero gradient for {path}"
    return y
