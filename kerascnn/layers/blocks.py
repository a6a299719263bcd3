"""Pieces that several architecture families share, written once.

Family modules describe their stages as data and assemble them from
:func:`~kerascnn.layers.conv.conv_block_specs`; what they have in common
beyond a conv block lives here: channel rounding, squeeze-and-excitation,
residual merges and the classifier head applied to a tensor.
"""

from __future__ import annotations

from keras import layers as L

from kerascnn.geometry import LayerSpec
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


#: keras.applications' two ways of writing squeeze-and-excitation, as layer names (``{n}`` is the block's
#: ``name``): EfficientNet squeezes to a vector and reshapes it, with the activation fused into the reducing
#: conv; MobileNetV3 keeps the pooled dims and gives the reducing activation its own layer.
SE_STYLES = {
    "efficientnet": {"squeeze": "{n}_squeeze", "reshape": "{n}_reshape", "reduce": "{n}_reduce", "expand": "{n}_expand",
                     "excite": "{n}_excite"},
    "mobilenet_v3": {"squeeze": "{n}_avg_pool", "reduce": "{n}_conv", "reduce_act": "{n}_relu", "expand": "{n}_conv_1",
                     "excite": "{n}_mul"},
}  # fmt: skip


def squeeze_excite(
    x,
    squeeze_filters: int,
    *,
    activation="swish",
    gate="sigmoid",
    kernel_initializer="glorot_uniform",
    name: str = "se",
    style: str = "efficientnet",
):
    """Squeeze-and-excitation (Hu et al.): rescale channels by a gate computed from their means.

    ``activation`` follows the reducing 1×1 conv, ``gate`` (sigmoid, or
    MobileNetV3's hard sigmoid) the expanding one; ``style`` picks the
    keras.applications family whose layers and names it reproduces
    (:data:`SE_STYLES`). Rank-generic: signals and volumes pool over their axes.
    """
    names = {part: pattern.format(n=name) for part, pattern in SE_STYLES[style].items()}
    channels, rank = x.shape[-1], len(x.shape) - 2
    pool = getattr(L, f"GlobalAveragePooling{rank}D")
    if "reshape" in names:
        se = pool(name=names["squeeze"])(x)
        se = L.Reshape((1,) * rank + (channels,), name=names["reshape"])(se)
    else:
        se = pool(keepdims=True, name=names["squeeze"])(x)
    separate = "reduce_act" in names
    for filters, act, part in ((squeeze_filters, activation, "reduce"), (channels, gate, "expand")):
        specs = conv_block_specs(
            filters,
            1,
            activation="linear" if separate and part == "reduce" else act,
            use_bias=True,
            kernel_initializer=kernel_initializer,
            rank=rank,
            name=names[part],
        )
        if separate and part == "reduce":
            specs.append(LayerSpec("activation", names["reduce_act"], {"activation": act}))
        se = apply_specs(se, keras_names(specs, ("(.*)_conv", r"\1")))
    return L.Multiply(name=names["excite"])([x, se])


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
