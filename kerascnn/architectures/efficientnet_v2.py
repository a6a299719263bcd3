"""EfficientNetV2 B0–B3, S, M and L (Tan & Le, 2021), as keras.applications builds them.

EfficientNet's MBConv blocks, with the early stages made of *fused*-MBConv:
the 1×1 expansion and the depthwise k×k are one full k×k conv, which runs
faster on accelerators at high resolution where channels are few. Training
regularises with stochastic depth (``drop_connect_rate``, growing linearly
with depth, as in v1). B0–B3 share one stage table scaled by width and
depth; S, M and L have their own (:data:`STAGES`). At each variant's
reference input and 1000 classes the parameter counts, layer names and
weights are keras.applications' (7,200,312 for B0; 21,612,360 for S). The
input is scaled inside the model as keras does: B0–B3 normalise 0-255 pixels
with ImageNet's mean and variance, S/M/L map them to [-1, 1].

Knobs: ``fused_stages`` (how many leading stages are fused-MBConv; 3 in the
paper, 0 gives EfficientNet v1's all-depthwise blocks), ``drop_connect_rate``
(0.2), ``se_ratio`` (0.25 in the MBConv stages; 0 switches SE off),
``kernel_size`` (3), ``activation`` (swish). Also builds on signals ``(L, C)``.
"""

from __future__ import annotations

import math

import keras
from keras import layers as L

from kerascnn.architectures._common import branching_plan, check_input_shape, keras_names, planned
from kerascnn.architectures.efficientnet import CONV_INIT, mbconv_blocks
from kerascnn.architectures.registry import register_model, variant
from kerascnn.geometry import LayerSpec
from kerascnn.layers.activations import resolve_activation
from kerascnn.layers.blocks import classifier_top
from kerascnn.layers.build import apply_specs, model_input
from kerascnn.layers.conv import conv_block_specs
from kerascnn.layers.heads import check_head_args
from kerascnn.validation import check_bool, check_fraction, check_int, check_rate

#: Stages: (repeats, input channels, output channels, expansion, stride, squeeze-excite), kernels all 3×3.
#: The first three are fused-MBConv in every variant (keras' ``conv_type=1``), the rest MBConv.
B_STAGES = (
    (1, 32, 16, 1, 1, False),
    (2, 16, 32, 4, 2, False),
    (2, 32, 48, 4, 2, False),
    (3, 48, 96, 4, 2, True),
    (5, 96, 112, 6, 1, True),
    (8, 112, 192, 6, 2, True),
)
STAGES = {
    "s": (
        (2, 24, 24, 1, 1, False),
        (4, 24, 48, 4, 2, False),
        (4, 48, 64, 4, 2, False),
        (6, 64, 128, 4, 2, True),
        (9, 128, 160, 6, 1, True),
        (15, 160, 256, 6, 2, True),
    ),
    "m": (
        (3, 24, 24, 1, 1, False),
        (5, 24, 48, 4, 2, False),
        (5, 48, 80, 4, 2, False),
        (7, 80, 160, 4, 2, True),
        (14, 160, 176, 6, 1, True),
        (18, 176, 304, 6, 2, True),
        (5, 304, 512, 6, 1, True),
    ),
    "l": (
        (4, 32, 32, 1, 1, False),
        (7, 32, 64, 4, 2, False),
        (7, 64, 96, 4, 2, False),
        (10, 96, 192, 4, 2, True),
        (19, 192, 224, 6, 1, True),
        (25, 224, 384, 6, 2, True),
        (7, 384, 640, 6, 1, True),
    ),
    **{b: B_STAGES for b in ("b0", "b1", "b2", "b3")},
}
#: variant: (width, depth, reference input size).
SCALING = {
    "b0": (1.0, 1.0, 224),
    "b1": (1.0, 1.1, 240),
    "b2": (1.1, 1.2, 260),
    "b3": (1.2, 1.4, 300),
    "s": (1.0, 1.0, 384),
    "m": (1.0, 1.0, 480),
    "l": (1.0, 1.0, 480),
}
BN = {"momentum": 0.9}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_VARIANCE = (0.229**2, 0.224**2, 0.225**2)


def round_filters(channels: float) -> int:
    """keras' EfficientNetV2 rounding: to the nearest multiple of 8 (v1's 10% rule does not apply)."""
    return int(max(8, int(channels + 4) // 8 * 8))


@planned
def efficientnet_v2(
    size: str = "s",
    input_shape=(384, 384, 3),
    num_classes: int = 1000,
    input_tensor=None,
    *,
    fused_stages: int = 3,
    drop_connect_rate: float = 0.2,
    se_ratio: float = 0.25,
    kernel_size: int = 3,
    activation="swish",
    dropout: float = 0.2,
    include_preprocessing: bool = True,
    include_top: bool = True,
    pooling=None,
    classifier_activation="softmax",
    name: str | None = None,
):
    """Family builder: the stage table of ``size`` (b0–b3, s, m, l), scaled as keras does.

    Args:
        fused_stages: leading stages built of fused-MBConv blocks (3 in the paper).
        drop_connect_rate: stochastic depth of the last block.
        se_ratio: squeeze channels per block-input channel in the stages that
            have squeeze-and-excitation (0 removes it).
        kernel_size: every block's k×k kernel (3 in the paper).
        dropout: before the classifier.
        include_preprocessing: scale 0-255 pixels inside the model, as keras.
    """
    if size not in SCALING:
        raise ValueError(f"Invalid `size`: expected one of {sorted(SCALING)}. Received: size={size!r}")
    input_shape = check_input_shape(input_shape, ranks=(1, 2))
    rank = len(input_shape) - 1
    table = STAGES[size]
    fused_stages = check_int("fused_stages", fused_stages, min_value=0)
    if fused_stages > len(table):
        raise ValueError(
            f"Invalid `fused_stages`: EfficientNetV2-{size.upper()} has {len(table)} stages. "
            f"Received: fused_stages={fused_stages}"
        )
    drop_connect_rate = check_rate("drop_connect_rate", drop_connect_rate)
    se_ratio = check_fraction("se_ratio", se_ratio)
    k = check_int("kernel_size", kernel_size)
    dropout = check_rate("dropout", dropout)
    check_bool("include_preprocessing", include_preprocessing)
    check_head_args(num_classes, include_top, pooling, classifier_activation)
    act_name = resolve_activation(activation)[0]
    names = (
        ("(.*)_dw_conv", r"\1_dwconv2"),
        ("(.*)_dw_bn", r"\1_bn"),
        (f"(.*)_dw_{act_name}", r"\1_activation"),
        (f"(.*)_{act_name}", r"\1_activation"),
    )
    width, depth, _ = SCALING[size]
    norm = dict(bn_placement="before_activation", use_bias=False, kernel_initializer=CONV_INIT, bn_params=BN, rank=rank)

    def conv(filters, kernel, block, act=activation, **kwargs):
        return keras_names(conv_block_specs(filters, kernel, activation=act, name=block, **norm, **kwargs), *names)

    stem = conv(round_filters(table[0][1] * width), 3, "stem", strides=2)
    repeats = [int(math.ceil(depth * stage[0])) for stage in table]
    total, index, blocks, spine = float(sum(repeats)), 0, [], list(stem)
    for i, ((_, c_in, c_out, t, s, se), n) in enumerate(zip(table, repeats)):
        c_in, c_out = round_filters(c_in * width), round_filters(c_out * width)
        for j in range(n):
            stride, fin = (s, c_in) if j == 0 else (1, c_out)
            prefix = f"block{i + 1}{chr(97 + j)}"
            if i < fused_stages:  # one full k×k conv expands (or, without expansion, projects)
                main = conv(fin * t, k, f"{prefix}_expand", strides=stride) if t != 1 else []
                project = (
                    conv(c_out, 1, f"{prefix}_project", act="linear")
                    if t != 1
                    else conv(c_out, k, f"{prefix}_project", strides=stride)
                )
            else:
                main = (conv(fin * t, 1, f"{prefix}_expand") if t != 1 else []) + conv(
                    None, k, f"{prefix}_dw", strides=stride, conv_type="depthwise"
                )
                project = conv(c_out, 1, f"{prefix}_project", act="linear")
            skip = stride == 1 and fin == c_out
            rate = drop_connect_rate * index / total
            if skip and rate > 0:
                project.append(LayerSpec("dropout", f"{prefix}_drop", {"rate": rate, "per_sample": True}))
            squeeze = max(1, int(fin * se_ratio)) if se and se_ratio > 0 else 0
            blocks.append((prefix, main, squeeze, project, skip))
            spine += main + project
            index += 1
    top = conv(round_filters(1280 * width), 1, "top")
    spine += top
    if name is None:
        name = f"efficientnetv2-{size}"
    imagenet_scaling = size.startswith("b") and input_shape[-1] == 3  # keras' rule

    def assemble(input_tensor):
        inputs, image = model_input(input_shape, input_tensor)
        x = image
        if include_preprocessing and imagenet_scaling:
            x = L.Rescaling(1.0 / 255)(x)  # unnamed, as in keras: a user's own "rescaling" may come before
            x = L.Normalization(mean=IMAGENET_MEAN, variance=IMAGENET_VARIANCE)(x)
        elif include_preprocessing:
            x = L.Rescaling(1.0 / 128.0, offset=-1)(x)
        x = apply_specs(x, stem)
        x = mbconv_blocks(x, blocks, activation)
        x = classifier_top(
            apply_specs(x, top),
            include_top=include_top,
            num_classes=num_classes,
            pooling=pooling,
            classifier_activation=classifier_activation,
            dropout=dropout,
        )
        return keras.Model(inputs, x, name=name)

    return branching_plan(name, input_shape, spine, assemble)


def _register(size: str):
    width, depth, resolution = SCALING[size]
    builder = variant(
        efficientnet_v2,
        f"efficientnet_v2_{size}",
        model_name=f"efficientnetv2-{size}",
        description=f"EfficientNetV2-{size.upper()}: fused-MBConv then MBConv stages, {resolution}×{resolution}.",
        size=size,
    )
    return register_model(
        builder,
        family="efficientnet",
        default_input_shape=(resolution, resolution, 3),
        base=efficientnet_v2,
        keras_twin=f"EfficientNetV2{size.upper()}",
        ranks=(1, 2),
    )


efficientnet_v2_b0 = _register("b0")
efficientnet_v2_b1 = _register("b1")
efficientnet_v2_b2 = _register("b2")
efficientnet_v2_b3 = _register("b3")
efficientnet_v2_s = _register("s")
efficientnet_v2_m = _register("m")
efficientnet_v2_l = _register("l")
