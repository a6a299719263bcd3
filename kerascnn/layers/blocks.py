"""Pieces that several architecture families share, written once.

Family modules describe their stages as data and assemble them from
:func:`~kerascnn.layers.conv.conv_block_specs`; what they have in common
beyond a conv block lives here: channel rounding, squeeze-and-excitation,
residual merges and the classifier head applied to a tensor.
"""

from __future__ import annotations

from keras import layers as L

from kerascnn.layers.activations import activation_layer
from kerascnn.layers.build import apply_specs
from kerascnn.layers.conv import conv_block_specs, keras_names
from kerascnn.layers.heads import head_specs


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, losing at most 10%.

    The rule of MobileNetV2 and EfficientNet (and their keras.applications
    code), so width multipliers give the published channel counts.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return int(rounded)


def squeeze_excite(
    x, squeeze_filters: int, *, activation="swish", kernel_initializer="glorot_uniform", name: str = "se"
):
    """Squeeze-and-excitation (Hu et al.): rescale channels by a gate computed from their means."""
    channels, rank = x.shape[-1], len(x.shape) - 2
    # keras.applications' layers and names: squeeze to a vector, reshape, two 1×1 convs named without "_conv"
    se = L.GlobalAveragePooling2D(name=f"{name}_squeeze")(x)
    se = L.Reshape((1,) * rank + (channels,), name=f"{name}_reshape")(se)
    for filters, act, part in ((squeeze_filters, activation, "reduce"), (channels, "sigmoid", "expand")):
        specs = conv_block_specs(
            filters, 1, activation=act, use_bias=True, kernel_initializer=kernel_initializer, name=f"{name}_{part}"
        )
        se = apply_specs(se, keras_names(specs, ("(.*)_conv", r"\1")))
    return L.Multiply(name=f"{name}_excite")([x, se])


def residual_add(shortcut, x, *, activation=None, name: str = "block"):
    """``shortcut + x``, then the activation if any (ResNet v1 adds before its ReLU)."""
    out = L.Add(name=f"{name}_add" if activation is not None else f"{name}_out")([shortcut, x])
    layer = activation_layer(activation, name=f"{name}_out", rank=len(out.shape) - 2) if activation else None
    return layer(out) if layer is not None else out


def classifier_top(
    x, *, include_top: bool, num_classes: int, pooling, classifier_activation, dropout: float = 0.0, dense_layers=()
):
    """The shared head on a feature-map tensor: global average pooling, dropout, ``predictions``."""
    return apply_specs(
        x,
        head_specs(
            include_top=include_top,
            num_classes=num_classes,
            pooling=pooling,
            classifier_activation=classifier_activation,
            dense_layers=dense_layers,
            flatten=False,
            dropout=dropout,
        ),
    )
