"""``LayerScale``: a learned per-channel scale on a residual branch (Touvron et al., 2021).

ConvNeXt multiplies each block's output by a vector initialised near zero
(1e-6), so a deep stack starts close to the identity and each block grows
its say as it trains. keras.applications defines the same layer inside its
ConvNeXt module, unregistered; this one is registered with Keras, so a
model holding it saves and loads as a ``.keras`` file, and holds the same
weight (``gamma``) that keras' ConvNeXt weights copy into.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="kerascnn")
class LayerScale(keras.layers.Layer):
    """``x * gamma``, with one ``gamma`` per channel (the last axis), initialised to ``init_values``."""

    def __init__(self, init_values: float = 1e-6, projection_dim: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.init_values = float(init_values)
        self.projection_dim = projection_dim

    def build(self, input_shape):
        channels = self.projection_dim or input_shape[-1]
        self.gamma = self.add_weight(
            name="gamma", shape=(channels,), initializer=keras.initializers.Constant(self.init_values), trainable=True
        )

    def call(self, x):
        return x * keras.ops.cast(self.gamma, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}
