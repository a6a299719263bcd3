"""Augmentation layers for every rank: what Keras' image layers do, for signals and volumes too.

Keras' ``RandomFlip`` / ``RandomTranslation`` take images only. These take
``(batch, *spatial, channels)`` of any rank, use only ``keras.ops`` and
``keras.random`` (so they run on every backend), are active only in
training, and are registered, so a model holding them saves to and loads
from ``.keras`` after ``import kerascnn``.
"""

from __future__ import annotations

import keras
from keras import ops


def _per_sample(values, ndim: int):
    """``(batch,)`` values shaped to broadcast over a ``ndim`` tensor."""
    return ops.reshape(values, (-1,) + (1,) * (ndim - 1))


class _Augmentation(keras.layers.Layer):
    """A layer that changes its input in training only, with its own seeded random stream.

    Subclasses say how in ``augment(x)``.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training:
            return inputs
        return self.augment(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="kerascnn")
class RandomShift(_Augmentation):
    """Shift each sample by up to ``factor`` of its length along every spatial axis, filling with zeros.

    A signal of length 40 with ``factor=0.1`` moves by -4..4 steps; a volume
    moves independently along depth, height and width.
    """

    def __init__(self, factor: float, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = float(factor)

    def augment(self, x):
        batch = ops.shape(x)[0]
        for axis in range(1, len(x.shape) - 1):
            n = x.shape[axis]
            most = int(self.factor * n)
            if most < 1:
                continue
            shift = ops.cast(ops.floor(keras.random.uniform((batch,), -most, most + 1, seed=self.generator)), "int32")
            src = ops.arange(n, dtype="int32")[None, :] - shift[:, None]  # where each output step reads from
            inside = ops.cast((src >= 0) & (src < n), x.dtype)
            shape = (-1,) + tuple(n if i == axis else 1 for i in range(1, len(x.shape)))
            index = ops.broadcast_to(ops.reshape(ops.clip(src, 0, n - 1), shape), ops.shape(x))
            x = ops.take_along_axis(x, index, axis=axis) * ops.reshape(inside, shape)
        return x

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="kerascnn")
class RandomAxisFlip(_Augmentation):
    """Reverse each sample along each of ``axes`` (spatial axes, 1 = the first) with probability 1/2."""

    def __init__(self, axes, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.axes = tuple(int(a) for a in axes)

    def augment(self, x):
        batch = ops.shape(x)[0]
        for axis in self.axes:
            flip = _per_sample(keras.random.uniform((batch,), seed=self.generator) < 0.5, len(x.shape))
            x = ops.where(flip, ops.flip(x, axis=axis), x)
        return x

    def get_config(self):
        return {**super().get_config(), "axes": list(self.axes)}


@keras.saving.register_keras_serializable(package="kerascnn")
class RandomAmplitude(_Augmentation):
    """Multiply each sample by a factor drawn from ``[1 - factor, 1 + factor]`` (amplitude scaling)."""

    def __init__(self, factor: float, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = float(factor)

    def augment(self, x):
        scale = keras.random.uniform((ops.shape(x)[0],), 1 - self.factor, 1 + self.factor, seed=self.generator)
        return x * ops.cast(_per_sample(scale, len(x.shape)), x.dtype)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
