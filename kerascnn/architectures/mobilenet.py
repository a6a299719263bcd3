"""MobileNet v1 (Howard et al., 2017) and MobileNetV2 (Sandler et al., 2018).

v1 is a plain stack of depthwise-separable blocks (depthwise 3×3 -> BN ->
ReLU6 -> pointwise 1×1 -> BN -> ReLU6), so it is a sequential model the
geometry module describes exactly (``plan_model`` works). v2 stacks inverted
residuals: 1×1 expansion, depthwise 3×3, linear 1×1 projection, with a skip
when shapes allow. Both take a width multiplier ``alpha`` and match
keras.applications' parameter counts and weights. Where keras pads a
stride-2 depthwise conv explicitly with ``correct_pad`` (v2), ``"same"``
padding computes the identical result.

Small inputs: v1 pads stride-2 depthwise convs on the bottom/right only, as
keras does, so it needs 31×31 or more (checked, with the minimum); v2 builds
at any size.
"""

from __future__ import annotations

import keras
from keras import layers as L

from kerascnn.architectures._common import (
    branching_plan,
    check_input_shape,
    keras_names,
    keras_pad,
    planned,
    sequential_plan,
)
from kerascnn.architectures.registry import register_model
from kerascnn.layers.blocks import classifier_top, make_divisible
from kerascnn.layers.build import apply_specs, model_input
from kerascnn.layers.conv import conv_block_specs
from kerascnn.layers.heads import check_head_args, head_specs
from kerascnn.validation import check_int, check_positive

#: v1 blocks: (pointwise filters, depthwise stride).
MOBILENET_V1 = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)
#: v2 stages: (expansion t, output channels c, repeats n, first stride s), the paper's Table 2.
MOBILENET_V2 = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
V2_BN = {"epsilon": 1e-3, "momentum": 0.999}
#: The kit's block names -> keras.applications' (:func:`~kerascnn.architectures._common.keras_names`).
V1_NAMES = (
    ("conv1_conv", "conv1"),
    (r"conv_dw_(\d+)_pad", r"conv_pad_\1"),
    (r"(conv_[dp]w_\d+)_conv", r"\1"),
    ("(.*)_relu6", r"\1_relu"),
    ("top_dropout", "dropout"),
)
V2_NAMES = (
    ("Conv1_conv", "Conv1"),
    ("Conv1_bn", "bn_Conv1"),
    ("Conv1_relu6", "Conv1_relu"),
    ("Conv_1_conv", "Conv_1"),
    ("Conv_1_relu6", "out_relu"),
    ("(.*)_depthwise_pad", r"\1_pad"),
    ("(.*)_(expand|depthwise|project)_conv", r"\1_\2"),
    ("(.*)_(expand|depthwise|project)_bn", r"\1_\2_BN"),
    ("(.*)_(expand|depthwise|project)_relu6", r"\1_\2_relu"),
)


def keras_model_name(family: str, alpha: float, input_shape) -> str:
    """keras.applications' model name, e.g. ``mobilenetv2_1.00_224`` (``_None`` for an unknown size)."""
    return f"{family}_{alpha:0.2f}_{input_shape[0]}"


def _check_alpha(alpha):
    return check_positive("alpha", alpha, "a positive width multiplier (0.35, 0.5, 0.75, 1.0, 1.3, 1.4 are published)")


@register_model(family="mobilenet", default_input_shape=(224, 224, 3), keras_twin="MobileNet")
@planned
def mobilenet(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    input_tensor=None,
    *,
    alpha: float = 1.0,
    depth_multiplier: int = 1,
    kernel_size: int = 3,
    stem_strides: int = 2,
    activation="relu6",
    bn_placement: str = "before_activation",
    dropout: float = 1e-3,
    include_top: bool = True,
    pooling=None,
    classifier_activation="softmax",
    name: str | None = None,
):
    """MobileNet v1: 13 depthwise-separable blocks; ``alpha`` thins every layer.

    Args:
        alpha: width multiplier. depth_multiplier: depthwise channel multiplier.
        kernel_size: the depthwise kernel. stem_strides: 1 for small images.
        dropout: before the classifier (keras' default 1e-3).
    """
    input_shape = check_input_shape(input_shape, ranks=(2,))
    alpha = _check_alpha(alpha)
    k = check_int("kernel_size", kernel_size)
    norm = dict(activation=activation, bn_placement=bn_placement, use_bias=False)
    specs = conv_block_specs(int(32 * alpha), 3, strides=stem_strides, padding="same", name="conv1", **norm)
    for i, (filters, stride) in enumerate(MOBILENET_V1, start=1):
        pad = "same" if stride == 1 else ((k // 2 - 1, k // 2),) * 2  # keras: bottom/right only
        specs += conv_block_specs(
            None,
            k,
            strides=stride,
            padding=pad,
            conv_type="depthwise",
            depth_multiplier=depth_multiplier,
            name=f"conv_dw_{i}",
            **norm,
        )
        specs += conv_block_specs(int(filters * alpha), 1, conv_type="pointwise", name=f"conv_pw_{i}", **norm)
    specs += head_specs(
        include_top=include_top,
        num_classes=num_classes,
        pooling=pooling,
        classifier_activation=classifier_activation,
        flatten=False,
        dropout=dropout,
    )
    name = keras_model_name("mobilenet", alpha, input_shape) if name is None else name
    return sequential_plan(name, input_shape, keras_names(specs, *V1_NAMES))


@register_model(family="mobilenet", default_input_shape=(224, 224, 3), keras_twin="MobileNetV2")
@planned
def mobilenet_v2(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    input_tensor=None,
    *,
    alpha: float = 1.0,
    kernel_size: int = 3,
    stem_strides: int = 2,
    activation="relu6",
    bn_placement: str = "before_activation",
    dropout: float = 0.0,
    include_top: bool = True,
    pooling=None,
    classifier_activation="softmax",
    name: str | None = None,
):
    """MobileNetV2: inverted residual stages of :data:`MOBILENET_V2`.

    Args:
        alpha: width multiplier (channels rounded to multiples of 8).
        kernel_size: the depthwise kernel. stem_strides: 1 for small images.
        dropout: before the classifier (none in the paper).
    """
    input_shape = check_input_shape(input_shape, ranks=(2,))
    alpha = _check_alpha(alpha)
    k = check_int("kernel_size", kernel_size)
    check_head_args(num_classes, include_top, pooling, classifier_activation)
    norm = dict(activation=activation, bn_placement=bn_placement, use_bias=False, bn_params=V2_BN)
    linear = dict(norm, activation="linear")
    channels = make_divisible(32 * alpha)
    stem = conv_block_specs(channels, 3, strides=stem_strides, padding="same", name="Conv1", **norm)
    blocks, index, spine = [], 0, list(stem)
    for t, c, n, s in MOBILENET_V2:
        out = make_divisible(int(c * alpha))
        for r in range(n):
            stride = s if r == 0 else 1
            prefix = f"block_{index}" if index else "expanded_conv"
            expand = conv_block_specs(channels * t, 1, name=f"{prefix}_expand", **norm) if t != 1 else []
            pad = keras_pad(input_shape, spine + expand, k) if stride == 2 else "same"  # keras' block_N_pad
            main = (
                expand
                + conv_block_specs(
                    None, k, strides=stride, padding=pad, conv_type="depthwise", name=f"{prefix}_depthwise", **norm
                )
                + conv_block_specs(out, 1, name=f"{prefix}_project", **linear)
            )
            main = keras_names(main, *V2_NAMES)
            blocks.append((prefix, main, stride == 1 and channels == out))
            spine += main
            channels, index = out, index + 1
    last = make_divisible(1280 * alpha) if alpha > 1.0 else 1280
    tail = keras_names(conv_block_specs(last, 1, name="Conv_1", **norm), *V2_NAMES)
    stem = keras_names(stem, *V2_NAMES)
    name = keras_model_name("mobilenetv2", alpha, input_shape) if name is None else name

    def assemble(input_tensor):
        inputs, image = model_input(input_shape, input_tensor)
        x = apply_specs(image, stem)
        for prefix, main, skip in blocks:
            y = apply_specs(x, main)
            x = L.Add(name=f"{prefix}_add")([x, y]) if skip else y
        x = classifier_top(
            apply_specs(x, tail),
            include_top=include_top,
            num_classes=num_classes,
            pooling=pooling,
            classifier_activation=classifier_activation,
            dropout=dropout,
        )
        return keras.Model(inputs, x, name=name)

    return branching_plan(name, input_shape, keras_names(spine, *V2_NAMES) + tail, assemble)
