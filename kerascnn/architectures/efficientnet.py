"""EfficientNet-B0…B7 (Tan & Le, 2019), as keras.applications builds them.

The B0 stages (:data:`EFFICIENTNET_B0`) are scaled by compound scaling:
``width`` multiplies channels (rounded to multiples of 8), ``depth``
multiplies the repeats of every stage (rounded up), ``resolution`` is each
variant's reference input. A block is MBConv: 1×1 expansion, depthwise k×k,
squeeze-and-excitation, linear 1×1 projection, and stochastic depth on the
residual (the drop rate grows linearly with depth to ``drop_connect_rate``).
The input is rescaled and normalised inside the model, as in keras (so
parameter counts, 5,330,571 for B0, and weights are the same).

Small inputs: every downsampling is "same"-padded, so any input builds;
``stem_strides=1`` keeps more detail on 32×32 or 8×8 images.
"""

from __future__ import annotations

import math

import keras
from keras import layers as L

from kerascnn.architectures._common import branching_plan, check_input_shape, keras_names, keras_pad, planned
from kerascnn.architectures.registry import register_model, variant
from kerascnn.geometry import LayerSpec
from kerascnn.layers.blocks import classifier_top, make_divisible, squeeze_excite
from kerascnn.layers.build import apply_specs, model_input
from kerascnn.layers.conv import conv_block_specs
from kerascnn.layers.heads import check_head_args
from kerascnn.validation import check_bool, check_fraction, check_positive, check_rate

#: B0 stages: (kernel, repeats, input channels, output channels, expansion, stride).
EFFICIENTNET_B0 = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
)
#: variant: (width, depth, resolution, top dropout), the paper's compound-scaling table.
SCALING = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
}
#: keras.applications' initialisers (from the reference TPU implementation).
CONV_INIT = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)
#: The kit's block names -> keras.applications' (:func:`~kerascnn.architectures._common.keras_names`).
KERAS_NAMES = (
    ("stem_pad", "stem_conv_pad"),
    ("(.*)_dw_pad", r"\1_dwconv_pad"),
    ("(.*)_dw_conv", r"\1_dwconv"),
    ("(.*)_dw_bn", r"\1_bn"),
    ("(.*)_dw_swish", r"\1_activation"),
    ("(.*)_swish", r"\1_activation"),
)


@planned
def efficientnet(
    width: float = 1.0,
    depth: float = 1.0,
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    input_tensor=None,
    *,
    dropout: float = 0.2,
    drop_connect_rate: float = 0.2,
    se_ratio: float = 0.25,
    kernel_size: int | None = None,
    stem_strides: int = 2,
    activation="swish",
    bn_placement: str = "before_activation",
    include_preprocessing: bool = True,
    imagenet_normalization: bool = False,
    include_top: bool = True,
    pooling=None,
    classifier_activation="softmax",
    name: str = "efficientnet",
):
    """Family builder: B0's stages scaled by ``width`` and ``depth``.

    Args:
        dropout: before the classifier. drop_connect_rate: stochastic depth
            of the last block. se_ratio: squeeze channels per input channel
            (0 removes squeeze-and-excitation).
        kernel_size: one depthwise kernel for every stage (default: B0's 3/5).
        include_preprocessing: ``Rescaling(1/255)`` and ``Normalization``
            inside the model (keras'); inputs are then raw 0-255 pixels.
        imagenet_normalization: divide by ImageNet's std after normalising,
            which keras adds for its ImageNet weights (``weights="imagenet"``
            sets it).
    """
    input_shape = check_input_shape(input_shape, ranks=(2,))
    width = check_positive("width", width, "a positive scaling coefficient")
    depth = check_positive("depth", depth, "a positive scaling coefficient")
    drop_connect_rate = check_rate("drop_connect_rate", drop_connect_rate)
    se_ratio = check_fraction("se_ratio", se_ratio)
    check_bool("include_preprocessing", include_preprocessing)
    check_bool("imagenet_normalization", imagenet_normalization)
    check_head_args(num_classes, include_top, pooling, classifier_activation)
    norm = dict(activation=activation, bn_placement=bn_placement, use_bias=False, kernel_initializer=CONV_INIT)

    def filters(c):
        return make_divisible(c * width)

    stem_pad = keras_pad(input_shape, [], 3) if stem_strides == 2 else "same"
    stem = conv_block_specs(filters(32), 3, strides=stem_strides, padding=stem_pad, name="stem", **norm)
    repeats = [int(math.ceil(depth * stage[1])) for stage in EFFICIENTNET_B0]
    total, index, blocks, spine = float(sum(repeats)), 0, [], list(stem)
    for i, ((k, _, c_in, c_out, t, s), n) in enumerate(zip(EFFICIENTNET_B0, repeats)):
        c_in, c_out, k = filters(c_in), filters(c_out), kernel_size or k
        for j in range(n):
            stride, fin = (s, c_in) if j == 0 else (1, c_out)
            prefix = f"block{i + 1}{chr(97 + j)}"
            expand = conv_block_specs(fin * t, 1, name=f"{prefix}_expand", **norm) if t != 1 else []
            pad = keras_pad(input_shape, spine + expand, k) if stride == 2 else "same"  # keras' dwconv_pad
            depthwise = conv_block_specs(
                None, k, strides=stride, padding=pad, conv_type="depthwise", name=f"{prefix}_dw", **norm
            )
            project = conv_block_specs(c_out, 1, name=f"{prefix}_project", **dict(norm, activation="linear"))
            skip = stride == 1 and fin == c_out
            rate = drop_connect_rate * index / total
            if skip and rate > 0:
                project.append(LayerSpec("dropout", f"{prefix}_drop", {"rate": rate, "per_sample": True}))
            squeeze = max(1, int(fin * se_ratio)) if se_ratio > 0 else 0
            main, project = keras_names(expand + depthwise, *KERAS_NAMES), keras_names(project, *KERAS_NAMES)
            blocks.append((prefix, main, squeeze, project, skip))
            spine += main + project
            index += 1
    top_conv = keras_names(conv_block_specs(filters(1280), 1, name="top", **norm), *KERAS_NAMES)
    stem = keras_names(stem, *KERAS_NAMES)
    spine = keras_names(spine, *KERAS_NAMES) + top_conv

    def assemble(input_tensor):
        inputs, image = model_input(input_shape, input_tensor)
        x = image
        if include_preprocessing:
            x = L.Rescaling(1.0 / 255.0)(x)  # unnamed, as in keras: a user's own "rescaling" may come before
            x = L.Normalization(axis=-1)(x)
            if imagenet_normalization:
                x = L.Rescaling([1.0 / math.sqrt(sd) for sd in IMAGENET_STDDEV_RGB], name="rescaling_imagenet")(x)
        x = apply_specs(x, stem)
        x = mbconv_blocks(x, blocks, activation)
        x = classifier_top(
            apply_specs(x, top_conv),
            include_top=include_top,
            num_classes=num_classes,
            pooling=pooling,
            classifier_activation=classifier_activation,
            dropout=dropout,
        )
        return keras.Model(inputs, x, name=name)

    return branching_plan(name, input_shape, spine, assemble)


def mbconv_blocks(x, blocks, activation):
    """Apply MBConv blocks, each ``(prefix, main specs, squeeze channels, projection specs, residual?)``.

    The specs before squeeze-and-excitation (expansion, depthwise or fused
    conv), the SE gate (``squeeze`` 0: none), the projection (with its
    stochastic depth), then the residual add: EfficientNet's and
    EfficientNetV2's block, with keras' ``{prefix}_se_*`` and ``{prefix}_add`` names.
    """
    for prefix, main, squeeze, project, skip in blocks:
        y = apply_specs(x, main)
        if squeeze:
            y = squeeze_excite(y, squeeze, activation=activation, kernel_initializer=CONV_INIT, name=f"{prefix}_se")
        y = apply_specs(y, project)
        x = L.Add(name=f"{prefix}_add")([y, x]) if skip else y
    return x


def _register(key: str):
    width, depth, size, dropout = SCALING[key]
    name = f"efficientnet_{key}"
    builder = variant(
        efficientnet,
        name,
        model_name=f"efficientnet{key}",
        description=f"EfficientNet-{key.upper()}: width {width}, depth {depth}, {size}×{size}.",
        width=width,
        depth=depth,
        dropout=dropout,
    )
    return register_model(
        builder,
        family="efficientnet",
        default_input_shape=(size, size, 3),
        base=efficientnet,
        keras_twin=f"EfficientNet{key.upper()}",
    )


efficientnet_b0 = _register("b0")
efficientnet_b1 = _register("b1")
efficientnet_b2 = _register("b2")
efficientnet_b3 = _register("b3")
efficientnet_b4 = _register("b4")
efficientnet_b5 = _register("b5")
efficientnet_b6 = _register("b6")
efficientnet_b7 = _register("b7")
