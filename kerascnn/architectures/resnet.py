"""ResNet v1 (He et al., 2015) and pre-activation ResNet v2 (He et al., 2016).

Stages are data (:data:`RESNET_DEPTHS`: blocks per stage); a block is a list
of conv-block specs on the main path plus an optional projection shortcut.

- ``resnet18``/``resnet34`` (basic blocks) follow the paper and torchvision:
  no conv bias before batch norm, 3×3 stride on the first block of a stage;
  11,689,512 and 21,797,672 trainable parameters.
- ``resnet50/101/152`` (bottleneck) and ``resnet50_v2/101_v2/152_v2`` follow
  keras.applications layer for layer (same names, biases, ``epsilon=1.001e-5``,
  stride on the first 1×1 for v1 and on the last block of a stage for v2), so
  they have its parameter counts and take its weights.

Every variant builds on signals ``(L, C)``, images and volumes ``(D, H, W, C)``:
the input's rank picks Conv1D/2D/3D (keras.applications' twins are the 2D ones).

Small inputs: nothing in a ResNet collapses (every downsampling is padded), so
any input builds; for 32×32 or 8×8 images the documented adaptation is the
CIFAR stem ``stem_kernel_size=3, stem_strides=1, stem_pool=False``, which
keeps the spatial detail the ImageNet stem throws away.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers as L

from kerascnn.architectures._common import branching_plan, check_input_shape, planned
from kerascnn.architectures.registry import register_model, variant
from kerascnn.geometry import LayerSpec
from kerascnn.layers.blocks import classifier_top, residual_add
from kerascnn.layers.build import apply_specs, model_input
from kerascnn.layers.conv import conv_block_specs, norm_act_specs
from kerascnn.layers.heads import check_head_args
from kerascnn.layers.pooling import pool_specs
from kerascnn.validation import check_bool, check_choice, check_int, check_positive, invalid

RESNET_DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
RESNET_WIDTHS = (64, 128, 256, 512)
BLOCKS = ("basic", "bottleneck")
#: keras.applications' batch-norm epsilon for ResNets.
BN = {"epsilon": 1.001e-5}
_MAX_POOL = {1: L.MaxPooling1D, 2: L.MaxPooling2D, 3: L.MaxPooling3D}


def _stage_plan(depths, widths, preact):
    """``(stage, block index, filters, stride)`` for every block.

    v1 downsamples in the first block of stages 3-5; keras' v2 in the last
    block of stages 2-4 (the same total stride).
    """
    plan = []
    for s, (depth, width) in enumerate(zip(depths, widths)):
        for b in range(1, depth + 1):
            if preact:
                stride = 2 if (b == depth and s < len(depths) - 1) else 1
            else:
                stride = 2 if (b == 1 and s > 0) else 1
            plan.append((s + 2, b, width, stride))
    return plan


def _block_specs(
    kind, preact, filters, stride, in_channels, *, kernel_size, activation, bn_placement, use_bias, rank, name
):
    """``(main path specs, shortcut specs or None, needs identity pooling)`` of one block."""
    out = filters * (4 if kind == "bottleneck" else 1)
    common = dict(bn_params=BN, use_bias=use_bias, bn_placement=bn_placement, activation=activation, rank=rank)
    if preact:  # BN -> act happen before the block's convs; convs followed by BN have no bias
        bn = dict(bn_params=BN, bn_placement="before_activation", activation=activation, use_bias=use_bias, rank=rank)
        last = dict(bn_params=BN, bn_placement="none", activation="linear", use_bias=use_bias, rank=rank)
        pad = kernel_size // 2
        if kind == "bottleneck":
            main = (
                conv_block_specs(filters, 1, name=f"{name}_1", **bn)
                + conv_block_specs(filters, kernel_size, strides=stride, padding=pad, name=f"{name}_2", **bn)
                + conv_block_specs(out, 1, name=f"{name}_3", **last)
            )
        else:
            main = conv_block_specs(
                filters, kernel_size, strides=stride, padding=pad, name=f"{name}_1", **bn
            ) + conv_block_specs(out, kernel_size, padding="same", name=f"{name}_2", **last)
        project = in_channels != out
        shortcut = conv_block_specs(out, 1, strides=stride, name=f"{name}_0", **last) if project else None
        return main, shortcut
    linear = dict(common, activation="linear")
    if kind == "bottleneck":  # keras.applications: stride on the first 1×1
        main = (
            conv_block_specs(filters, 1, strides=stride, padding="valid", name=f"{name}_1", **common)
            + conv_block_specs(filters, kernel_size, padding="same", name=f"{name}_2", **common)
            + conv_block_specs(out, 1, name=f"{name}_3", **linear)
        )
    else:  # the paper / torchvision: symmetric padding, stride on the first 3×3
        main = conv_block_specs(
            filters, kernel_size, strides=stride, padding=kernel_size // 2, name=f"{name}_1", **common
        ) + conv_block_specs(out, kernel_size, padding=kernel_size // 2, name=f"{name}_2", **linear)
    project = stride != 1 or in_channels != out
    shortcut = (
        conv_block_specs(out, 1, strides=stride, padding="valid", name=f"{name}_0", **linear) if project else None
    )
    return main, shortcut


@planned
def resnet(
    depths: Sequence[int],
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    input_tensor=None,
    *,
    block: str = "bottleneck",
    preact: bool = False,
    widths: Sequence[int] = RESNET_WIDTHS,
    width_multiplier: float = 1.0,
    kernel_size: int = 3,
    stem_kernel_size: int = 7,
    stem_strides: int = 2,
    stem_pool: bool = True,
    activation="relu",
    bn_placement: str = "before_activation",
    use_bias: bool | None = None,
    dropout: float = 0.0,
    include_top: bool = True,
    pooling=None,
    classifier_activation="softmax",
    name: str = "resnet",
):
    """Family builder: ``depths[i]`` residual blocks in stage ``i``.

    Args:
        block: ``basic`` (two 3×3) or ``bottleneck`` (1×1, 3×3, 1×1 ×4).
        preact: pre-activation (v2): batch norm and activation before each
            conv, no activation after the addition, one BN at the end.
        widths: filters of the stages (bottleneck outputs are 4× this);
            ``width_multiplier`` scales them.
        kernel_size: the blocks' spatial kernel (odd).
        stem_kernel_size, stem_strides, stem_pool: the stem (7, 2, 3×3/2 max
            pool in the paper); ``3, 1, False`` is the CIFAR stem.
        bn_placement: for v1 blocks, ``before_activation`` (the paper),
            ``after_activation`` or ``none``; v2 fixes it by construction.
        use_bias: conv biases; ``None`` means only where no batch norm
            follows (keras' v1 builders pass ``True``, as keras.applications).
        dropout: before the classifier.
    """
    input_shape = check_input_shape(input_shape)
    rank = len(input_shape) - 1
    check_choice("block", block, BLOCKS)
    check_bool("preact", preact)
    check_bool("stem_pool", stem_pool)
    kernel_size = check_int("kernel_size", kernel_size)
    if kernel_size % 2 == 0:
        raise invalid("kernel_size", kernel_size, "an odd size, so a block keeps its input's size")
    if len(widths) != len(depths):
        raise ValueError(f"Invalid `widths`: one per stage ({len(depths)}). Received: widths={tuple(widths)}")
    width_multiplier = check_positive("width_multiplier", width_multiplier)
    widths = [max(1, int(round(check_int(f"widths[{i}]", w) * width_multiplier))) for i, w in enumerate(widths)]
    depths = [check_int(f"depths[{i}]", d) for i, d in enumerate(depths)]
    check_head_args(num_classes, include_top, pooling, classifier_activation)
    stem_width = max(1, int(round(64 * width_multiplier)))

    stem_norm = "none" if preact else bn_placement
    stem = conv_block_specs(
        stem_width,
        stem_kernel_size,
        strides=stem_strides,
        padding=stem_kernel_size // 2,
        activation="linear" if preact else activation,
        bn_placement=stem_norm,
        use_bias=True if preact and use_bias is None else use_bias,
        bn_params=BN,
        rank=rank,
        name="conv1",
    )
    if stem_pool:
        stem += [LayerSpec("zero_padding", "pool1_pad", {"pads": ((1, 1),) * rank})]
        stem += pool_specs("max", 3, 2, rank=rank, name="pool1_pool")

    blocks, channels = [], stem_width
    for stage, b, width, stride in _stage_plan(depths, widths, preact):
        bname = f"conv{stage}_block{b}"
        main, shortcut = _block_specs(
            block,
            preact,
            width,
            stride,
            channels,
            kernel_size=kernel_size,
            activation=activation,
            bn_placement=bn_placement,
            use_bias=use_bias,
            rank=rank,
            name=bname,
        )
        blocks.append((bname, stride, main, shortcut))
        channels = width * (4 if block == "bottleneck" else 1)
    spine = stem + [s for _, _, main, _ in blocks for s in main]

    def assemble(input_tensor):
        inputs, image = model_input(input_shape, input_tensor)
        x = apply_specs(image, stem)
        for bname, stride, main, shortcut in blocks:
            if preact:
                _, pre = norm_act_specs(f"{bname}_preact", activation, "before_activation", bn_params=BN)
                preact_x = apply_specs(x, pre)
                if shortcut is not None:
                    short = apply_specs(preact_x, shortcut)
                else:
                    short = _MAX_POOL[rank](1, strides=stride, name=f"{bname}_skip")(x) if stride > 1 else x
                x = residual_add(short, apply_specs(preact_x, main), name=bname)
            else:
                short = apply_specs(x, shortcut) if shortcut is not None else x
                x = residual_add(short, apply_specs(x, main), activation=activation, name=bname)
        if preact:
            _, post = norm_act_specs("post", activation, "before_activation", bn_params=BN)
            x = apply_specs(x, post)
        x = classifier_top(
            x,
            include_top=include_top,
            num_classes=num_classes,
            pooling=pooling,
            classifier_activation=classifier_activation,
            dropout=dropout,
        )
        return keras.Model(inputs, x, name=name)

    return branching_plan(name, input_shape, spine, assemble)


def _register(key: str, depth: int, kind: str, preact: bool, description: str, keras_twin: str | None = None, **fixed):
    builder = variant(
        resnet,
        key,
        description,
        model_name=keras_twin.lower() if keras_twin else None,
        depths=RESNET_DEPTHS[depth],
        block=kind,
        preact=preact,
        **fixed,
    )
    return register_model(
        builder, family="resnet", default_input_shape=(224, 224, 3), base=resnet, keras_twin=keras_twin, ranks=(1, 2, 3)
    )


resnet18 = _register("resnet18", 18, "basic", False, "ResNet-18: basic blocks (2, 2, 2, 2); 11.69M parameters.")
resnet34 = _register("resnet34", 34, "basic", False, "ResNet-34: basic blocks (3, 4, 6, 3); 21.80M parameters.")
resnet50 = _register(
    "resnet50",
    50,
    "bottleneck",
    False,
    "ResNet-50: bottleneck blocks (3, 4, 6, 3), as keras.applications.ResNet50.",
    "ResNet50",
    use_bias=True,
)
resnet101 = _register(
    "resnet101",
    101,
    "bottleneck",
    False,
    "ResNet-101: bottleneck blocks (3, 4, 23, 3), as keras.applications.ResNet101.",
    "ResNet101",
    use_bias=True,
)
resnet152 = _register(
    "resnet152",
    152,
    "bottleneck",
    False,
    "ResNet-152: bottleneck blocks (3, 8, 36, 3), as keras.applications.ResNet152.",
    "ResNet152",
    use_bias=True,
)
resnet50_v2 = _register(
    "resnet50_v2",
    50,
    "bottleneck",
    True,
    "Pre-activation ResNet-50 (v2), as keras.applications.ResNet50V2.",
    "ResNet50V2",
)
resnet101_v2 = _register(
    "resnet101_v2",
    101,
    "bottleneck",
    True,
    "Pre-activation ResNet-101 (v2), as keras.applications.ResNet101V2.",
    "ResNet101V2",
)
resnet152_v2 = _register(
    "resnet152_v2",
    152,
    "bottleneck",
    True,
    "Pre-activation ResNet-152 (v2), as keras.applications.ResNet152V2.",
    "ResNet152V2",
)
