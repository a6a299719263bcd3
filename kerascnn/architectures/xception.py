"""Xception (Chollet, 2017), as keras.applications builds it.

The depthwise-separable idea taken to its end: every spatial convolution
after the two stem convs is separable (a depthwise k×k, then a 1×1 across
channels), in residual blocks. Entry flow: three blocks that halve the size
(128, 256, 728 channels, a strided 1×1 conv on the shortcut); middle flow:
eight blocks of three 728-channel separable convs on an identity shortcut;
exit flow: one more halving block (728 -> 1024) and two separable convs
(1536, 2048). At 299×299×3 and 1000 classes it has keras.applications'
22,910,480 parameters, layer names and weights.

Knobs: ``kernel_size`` (the separable convs' k, 3 in the paper),
``middle_blocks`` (8), ``activation``. Also builds on signals ``(L, C)``
with Conv1D and SeparableConv1D. keras.applications asks for 71×71 or more;
the geometry allows 7×7 (two valid 3×3 stem convs, then "same"-padded
halvings), so smaller inputs build (checked: a 5×5 input is refused with
the minimum).
"""

from __future__ import annotations

import keras
from keras import layers as L

from kerascnn.architectures._common import branching_plan, check_input_shape, keras_names, planned
from kerascnn.architectures.registry import register_model
from kerascnn.geometry import LayerSpec
from kerascnn.layers.activations import resolve_activation
from kerascnn.layers.blocks import classifier_top
from kerascnn.layers.build import apply_specs, model_input
from kerascnn.layers.conv import conv_block_specs
from kerascnn.layers.heads import check_head_args
from kerascnn.layers.pooling import pool_specs
from kerascnn.validation import check_int

#: Channels of the entry flow's three halving blocks.
ENTRY_WIDTHS = (128, 256, 728)


@register_model(family="xception", default_input_shape=(299, 299, 3), keras_twin="Xception", ranks=(1, 2))
@planned
def xception(
    input_shape=(299, 299, 3),
    num_classes: int = 1000,
    input_tensor=None,
    *,
    kernel_size: int = 3,
    middle_blocks: int = 8,
    activation="relu",
    dropout: float = 0.0,
    include_top: bool = True,
    pooling=None,
    classifier_activation="softmax",
    name: str = "xception",
):
    """Xception: entry, middle and exit flows of separable-conv residual blocks.

    Args:
        kernel_size: the separable convolutions' kernel (odd).
        middle_blocks: blocks in the middle flow (8 in the paper).
        activation: after each batch norm (ReLU in the paper).
        dropout: before the classifier (none in the paper).
    """
    input_shape = check_input_shape(input_shape, ranks=(1, 2))
    rank = len(input_shape) - 1
    k = check_int("kernel_size", kernel_size)
    middle = check_int("middle_blocks", middle_blocks, min_value=0)
    act_name, options = resolve_activation(activation)
    check_head_args(num_classes, include_top, pooling, classifier_activation)

    def act(layer_name):
        return LayerSpec("activation", layer_name, {"activation": act_name, "options": options})

    def conv_bn(filters, kernel, layer_name, conv_type="separable", strides=1, padding="same"):
        specs = conv_block_specs(
            filters,
            kernel,
            strides=strides,
            padding=padding,
            conv_type=conv_type,
            activation="linear",
            bn_placement="before_activation",
            use_bias=False,
            rank=rank,
            name=layer_name,
        )
        return keras_names(specs, ("(.*)_conv", r"\1"))

    def pool(block):
        return pool_specs("max", 3, 2, "same", rank=rank, name=f"block{block}_pool")

    def shortcut(block, filters):  # keras.applications leaves these two unnamed
        return conv_bn(filters, 1, f"block{block}_shortcut", conv_type="standard", strides=2)

    stem = (
        conv_bn(32, 3, "block1_conv1", conv_type="standard", strides=2, padding="valid")
        + [act("block1_conv1_act")]
        + conv_bn(64, 3, "block1_conv2", conv_type="standard", padding="valid")
        + [act("block1_conv2_act")]
    )
    blocks = []  # (block number, main specs, shortcut specs or None for identity)
    for block, width in enumerate(ENTRY_WIDTHS, start=2):
        first = [] if block == 2 else [act(f"block{block}_sepconv1_act")]
        main = (
            first
            + conv_bn(width, k, f"block{block}_sepconv1")
            + [act(f"block{block}_sepconv2_act")]
            + conv_bn(width, k, f"block{block}_sepconv2")
            + pool(block)
        )
        blocks.append((block, main, shortcut(block, width)))
    for block in range(5, 5 + middle):
        main = []
        for i in (1, 2, 3):
            main += [act(f"block{block}_sepconv{i}_act")] + conv_bn(728, k, f"block{block}_sepconv{i}")
        blocks.append((block, main, None))
    exit_block, last = 5 + middle, 6 + middle
    main = (
        [act(f"block{exit_block}_sepconv1_act")]
        + conv_bn(728, k, f"block{exit_block}_sepconv1")
        + [act(f"block{exit_block}_sepconv2_act")]
        + conv_bn(1024, k, f"block{exit_block}_sepconv2")
        + pool(exit_block)
    )
    blocks.append((exit_block, main, shortcut(exit_block, 1024)))
    tail = (
        conv_bn(1536, k, f"block{last}_sepconv1")
        + [act(f"block{last}_sepconv1_act")]
        + conv_bn(2048, k, f"block{last}_sepconv2")
        + [act(f"block{last}_sepconv2_act")]
    )

    def assemble(input_tensor):
        inputs, image = model_input(input_shape, input_tensor)
        x = apply_specs(image, stem)
        for block, main, short in blocks:
            residual = apply_specs(x, short) if short is not None else x
            x = L.Add(name=f"block{block}_add")([apply_specs(x, main), residual])
        x = classifier_top(
            apply_specs(x, tail),
            include_top=include_top,
            num_classes=num_classes,
            pooling=pooling,
            classifier_activation=classifier_activation,
            dropout=dropout,
        )
        return keras.Model(inputs, x, name=name)

    return branching_plan(name, input_shape, stem + [s for _, main, _ in blocks for s in main] + tail, assemble)
