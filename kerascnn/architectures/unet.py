"""U-Net (Ronneberger et al., 2015): an encoder-decoder for per-pixel labels.

The contracting path repeats two 3×3 convs and a 2×2 max pool, doubling the
filters at each of ``depth`` levels; the expanding path upsamples with a 2×2
stride-2 transposed conv, concatenates the encoder map of the same level (the
skip connection, centre-cropped to fit) and applies two 3×3 convs. A 1×1 conv
gives a softmax (or sigmoid) per pixel.

Defaults are the paper's: unpadded convs on a 572×572×1 tile, giving a
388×388 map of 2 classes, 31,030,658 parameters. ``padding="same"`` is the
common variant whose output has the input's size; it needs sizes divisible by
``2**depth`` (checked, with the nearest valid sizes). With ``"valid"`` the
smallest input is computed by :mod:`kerascnn.geometry` and stated in the
error.
"""

from __future__ import annotations

import keras
from keras import layers as L

from kerascnn.architectures._common import branching_plan, check_input_shape, planned
from kerascnn.architectures.registry import register_model
from kerascnn.geometry import LayerSpec
from kerascnn.layers.build import apply_specs, model_input
from kerascnn.layers.conv import conv_block_specs
from kerascnn.layers.heads import check_head_args
from kerascnn.layers.pooling import pool_specs
from kerascnn.validation import check_choice, check_int, check_rate


@register_model(family="unet", default_input_shape=(572, 572, 1))
@planned
def unet(
    input_shape=(572, 572, 1),
    num_classes: int = 2,
    input_tensor=None,
    *,
    depth: int = 4,
    filters: int = 64,
    kernel_size: int = 3,
    padding: str = "valid",
    activation="relu",
    bn_placement: str = "none",
    dropout: float = 0.0,
    include_top: bool = True,
    pooling=None,
    classifier_activation="softmax",
    name: str = "unet",
):
    """U-Net with ``depth`` poolings and ``filters`` at the first level.

    Args:
        padding: ``valid`` (the paper: output smaller than input, skips
            cropped) or ``same`` (output the size of the input).
        bn_placement: ``none`` (the paper) or a batch-norm placement.
        dropout: at the end of the contracting path (the paper uses dropout
            there without giving the rate).
        include_top: the 1×1 per-pixel classifier; without it the decoder's
            features are returned (``pooling`` may reduce them to a vector).
        classifier_activation: ``softmax`` (one class per pixel), ``sigmoid``
            (binary or multi-label masks) or ``linear``.
    """
    input_shape = check_input_shape(input_shape, ranks=(2,))
    depth = check_int("depth", depth)
    filters = check_int("filters", filters)
    padding = check_choice("padding", padding, ("valid", "same"))
    dropout = check_rate("dropout", dropout)
    check_head_args(num_classes, include_top, pooling, classifier_activation)
    if padding == "same":
        step = 2**depth
        for size in input_shape[:-1]:
            if size is not None and size % step:
                raise ValueError(
                    f"Invalid `input_shape` for {name}: with padding='same' the height and width must be multiples "
                    f"of 2**depth = {step} so every skip connection fits (nearest: {size // step * step or step} "
                    f"or {(size // step + 1) * step}). Received: input_shape={input_shape}"
                )
    elif any(size is None for size in input_shape[:-1]):
        raise ValueError(
            f"Invalid `input_shape` for {name}: padding='valid' crops the skip connections, which needs "
            f"a fixed height and width. Received: input_shape={input_shape}"
        )
    conv = dict(activation=activation, bn_placement=bn_placement, padding=padding)

    def double_conv(width, prefix):
        return conv_block_specs(width, kernel_size, name=f"{prefix}_conv1", **conv) + conv_block_specs(
            width, kernel_size, name=f"{prefix}_conv2", **conv
        )

    encoder = [double_conv(filters * 2**i, f"enc{i + 1}") for i in range(depth)]
    pools = [pool_specs("max", 2, 2, name=f"enc{i + 1}_pool") for i in range(depth)]
    bottom = double_conv(filters * 2**depth, "bottleneck")
    if dropout:
        bottom = bottom + [LayerSpec("dropout", "bottleneck_drop", {"rate": dropout, "spatial": False})]
    decoder = []
    for i in reversed(range(depth)):
        up = conv_block_specs(
            filters * 2**i,
            2,
            strides=2,
            padding="valid",
            conv_type="transposed",
            activation="linear",
            name=f"dec{i + 1}_up",
        )
        decoder.append((i, up, double_conv(filters * 2**i, f"dec{i + 1}")))
    spine = [s for e, p in zip(encoder, pools) for s in e + p] + bottom
    spine += [s for _, up, convs in decoder for s in up + convs]

    def assemble(input_tensor):
        inputs, image = model_input(input_shape, input_tensor)
        x, skips = image, []
        for enc, pool in zip(encoder, pools):
            skips.append(apply_specs(x, enc))
            x = apply_specs(skips[-1], pool)
        x = apply_specs(x, bottom)
        for i, up, convs in decoder:
            x = apply_specs(x, up)
            skip = skips[i]
            crop = [skip.shape[a] - x.shape[a] for a in (1, 2)]
            if any(crop):  # centre crop, the larger half at the bottom/right
                skip = L.Cropping2D(tuple((c // 2, c - c // 2) for c in crop), name=f"dec{i + 1}_crop")(skip)
            x = apply_specs(L.Concatenate(name=f"dec{i + 1}_concat")([skip, x]), convs)
        if include_top:
            x = apply_specs(x, conv_block_specs(num_classes, 1, activation="linear", name="classifier"))
            # float32 keeps the per-pixel softmax stable under mixed precision
            x = L.Activation(classifier_activation or "linear", dtype="float32", name="predictions")(x)
        elif pooling is not None:
            x = (L.GlobalAveragePooling2D if pooling == "avg" else L.GlobalMaxPooling2D)(name=f"{pooling}_pool")(x)
        return keras.Model(inputs, x, name=name)

    return branching_plan(name, input_shape, spine, assemble)
