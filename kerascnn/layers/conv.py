"""``conv_block``: every convolution variant of the notes, written once.

A block is ``[pad] conv [bn] [act] [bn] [pool] [dropout]`` (the two ``bn``
slots are the batch-norm placements). :func:`conv_block_specs` validates the
arguments and returns the block as :class:`~kerascnn.geometry.LayerSpec`
objects, so :mod:`kerascnn.geometry` can check it before anything is built;
:func:`conv_block` builds those specs on a tensor. Rank-generic: a
``(batch, length, channels)`` input gets Conv1D layers, ``(batch, h, w, c)``
Conv2D and ``(batch, d, h, w, c)`` Conv3D (all ``channels_last``).

This module is also the one home of batch-norm placement
(:func:`norm_act_specs`), which dense blocks reuse.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from kerascnn.geometry import LayerSpec, dilated_kernel_size, explicit_padding
from kerascnn.layers.activations import fused_activation, resolve_activation
from kerascnn.layers.build import apply_specs
from kerascnn.layers.kernels import CLASSIC_KERNELS
from kerascnn.layers.pooling import pool_specs
from kerascnn.validation import check_choice, check_int, check_rate, int_tuple, invalid, is_int

CONV_TYPES = ("standard", "pointwise", "depthwise", "separable", "transposed")
BN_PLACEMENTS = ("before_activation", "after_activation", "none")
DROPOUT_TYPES = ("standard", "spatial")


def norm_act_specs(
    name: str, activation: Any, bn_placement: str, *, fuse: bool = True, bn_params: dict | None = None
) -> tuple[str | None, list[LayerSpec]]:
    """The layers that follow a conv or dense layer, in batch-norm order.

    ``before_activation`` gives ``BN -> act`` (Ioffe & Szegedy; the notes'
    usual order), ``after_activation`` gives ``act -> BN`` and ``none`` just
    ``act``. When the activation directly follows the weighted layer and Keras
    can fuse it, it is returned as the first element to pass to that layer
    (one layer fewer, as in keras.applications) instead of a separate spec.

    Returns:
        ``(fused_activation_or_None, specs)``.
    """
    check_choice("bn_placement", bn_placement, BN_PLACEMENTS)
    act_name, options = resolve_activation(activation)
    fused = fused_activation(activation) if fuse and bn_placement != "before_activation" else None
    act = []
    if act_name != "linear" and fused is None:
        act = [LayerSpec("activation", f"{name}_{act_name}", {"activation": act_name, "options": options})]
    bn = [LayerSpec("batch_norm", f"{name}_bn", dict(bn_params or {}))]
    if bn_placement == "before_activation":
        return None, bn + act
    if bn_placement == "after_activation":
        return fused, act + bn
    return fused, act


def _padding_pairs(padding, rank, kernel_size, dilation):
    """Explicit padding as ``((before, after), ...)`` per axis, or the Keras string."""
    if padding in ("valid", "same"):
        return padding
    if padding == "full":
        return tuple(explicit_padding("full", k, d) for k, d in zip(kernel_size, dilation))
    if is_int(padding) and padding >= 0:
        return ((int(padding), int(padding)),) * rank
    if isinstance(padding, (tuple, list)):
        items = list(padding)
        if rank == 1 and len(items) == 2 and all(is_int(p) for p in items):
            items = [tuple(items)]  # Keras' ZeroPadding1D form: (before, after)
        if len(items) == rank:
            pairs = []
            for p in items:
                pair = explicit_padding(p, 1) if (is_int(p) or isinstance(p, (tuple, list))) else None
                if pair is None:
                    break
                pairs.append(pair)
            else:
                return tuple(pairs)
    raise invalid(
        "padding",
        padding,
        f"'valid', 'same', 'full', a non-negative int, {rank} ints (one per axis) or {rank} (before, after) pairs",
    )


def conv_block_specs(
    filters: int | None = None,
    kernel_size: Any = None,
    strides: Any = 1,
    padding: Any = "same",
    dilation: Any = 1,
    conv_type: str = "standard",
    activation: Any = "relu",
    bn_placement: str = "none",
    dropout: float = 0.0,
    dropout_type: str = "standard",
    pool: str | None = "none",
    pool_size: Any = 2,
    pool_strides: Any = None,
    pool_padding: str = "valid",
    depth_multiplier: int = 1,
    output_padding: Any = None,
    use_bias: bool | None = None,
    kernel_initializer: Any = "glorot_uniform",
    kernel_regularizer: Any = None,
    bn_params: dict | None = None,
    rank: int = 2,
    name: str = "block",
) -> list[LayerSpec]:
    """Validate a conv block's arguments and describe it as layer specs.

    Args:
        filters: output channels. Required except for ``depthwise``, whose
            output has ``in_channels * depth_multiplier`` channels.
        kernel_size: int or per-axis tuple (``3``, ``(1, 3)``, ``(3, 1)``);
            defaults to 3, or 1 for ``pointwise``.
        strides: int or per-axis tuple.
        padding: ``"valid"``, ``"same"``, ``"full"`` (``N + F - 1`` at stride
            1), an int ``P`` on every side, one int per axis, or one
            ``(before, after)`` pair per axis. For ``transposed`` an explicit
            amount is cropped from the output, as in PyTorch's
            ``ConvTranspose``.
        dilation: int or per-axis tuple; Keras forbids dilation > 1 together
            with strides > 1.
        conv_type: ``standard``, ``pointwise`` (1×1), ``depthwise``,
            ``separable`` (depthwise then pointwise) or ``transposed``.
        activation: a name from :data:`~kerascnn.layers.activations.ACTIVATIONS`
            or ``{"name": ..., **options}`` (e.g. a leaky slope).
        bn_placement: ``before_activation``, ``after_activation`` or ``none``.
        dropout: rate in ``[0, 1)`` applied at the end of the block.
        dropout_type: ``standard`` or ``spatial`` (drops whole channels).
        pool: ``max``, ``avg``, ``global_max``, ``global_avg`` or ``none``.
        pool_size, pool_strides, pool_padding: the pooling window, its step
            (defaults to the window) and ``valid``/``same``.
        depth_multiplier: channels per input channel for depthwise/separable.
        output_padding: for ``transposed`` only, as in Keras.
        use_bias: defaults to ``False`` when BN directly follows the conv
            (its offset makes a bias redundant), else ``True``.
        kernel_initializer: a Keras initializer, or the name of a classic
            kernel (``laplacian``, ``gaussian``, ``sobel_x``, ...).
        kernel_regularizer: any Keras regularizer.
        bn_params: extra ``BatchNormalization`` arguments (``epsilon``,
            ``momentum``), so a builder can match a published model exactly.
        rank: number of spatial axes (1, 2 or 3).
        name: prefix of every layer name (``block1`` -> ``block1_conv``...).

    Raises:
        ValueError: naming the argument, the value received and what is allowed.
    """
    rank = check_choice("rank", rank, (1, 2, 3))
    conv_type = check_choice("conv_type", conv_type, CONV_TYPES)
    if not isinstance(name, str) or not name:
        raise invalid("name", name, "a non-empty string")

    if kernel_size is None:
        kernel_size = 1 if conv_type == "pointwise" else 3
    kernel_size = int_tuple("kernel_size", kernel_size, rank)
    if conv_type == "pointwise" and kernel_size != (1,) * rank:
        raise invalid("kernel_size", kernel_size, "1 for conv_type='pointwise' (a 1×1 convolution)")
    strides = int_tuple("strides", strides, rank)
    dilation = int_tuple("dilation", dilation, rank)
    if max(dilation) > 1 and max(strides) > 1:
        raise ValueError(
            "Invalid `dilation` with `strides`: Keras does not support dilation > 1 together with "
            f"strides > 1; use one or the other. Received: dilation={dilation}, strides={strides}"
        )
    if conv_type == "depthwise":
        if filters is not None:
            raise invalid(
                "filters",
                filters,
                "None for conv_type='depthwise' (it outputs in_channels * depth_multiplier channels; "
                "use depth_multiplier, or conv_type='separable' to choose the filters)",
            )
    else:
        filters = check_int("filters", filters)
    depth_multiplier = check_int("depth_multiplier", depth_multiplier)
    pads = _padding_pairs(padding, rank, kernel_size, dilation)
    if output_padding is not None:
        if conv_type != "transposed":
            raise invalid("output_padding", output_padding, "None unless conv_type='transposed'")
        output_padding = int_tuple("output_padding", output_padding, rank, min_value=0)
        if any(o >= s for o, s in zip(output_padding, strides)):
            raise invalid("output_padding", output_padding, f"values smaller than strides={strides}")
    dropout = check_rate("dropout", dropout)
    check_choice("dropout_type", dropout_type, DROPOUT_TYPES)
    check_choice("bn_placement", bn_placement, BN_PLACEMENTS)
    if use_bias is None:
        use_bias = bn_placement != "before_activation"
    elif not isinstance(use_bias, bool):
        raise invalid("use_bias", use_bias, "True, False or None (automatic)")
    if isinstance(kernel_initializer, str) and kernel_initializer in CLASSIC_KERNELS:
        if rank != 2 or kernel_size != (3, 3) or conv_type == "transposed":
            raise invalid(
                "kernel_initializer",
                kernel_initializer,
                f"a classic 3×3 kernel only on a 2D standard/depthwise conv with kernel_size=3 "
                f"(got rank={rank}, kernel_size={kernel_size}, conv_type={conv_type!r})",
            )
    # Pool arguments are checked here too, so a bad block fails before any layer exists.
    pooling = pool_specs(pool, pool_size, pool_strides, pool_padding, rank=rank, name=f"{name}_pool")

    fused, after = norm_act_specs(name, activation, bn_placement, bn_params=bn_params)
    conv = {
        "filters": filters,
        "kernel_size": kernel_size,
        "strides": strides,
        "dilation": dilation,
        "use_bias": use_bias,
        "activation": fused,
        "kernel_initializer": kernel_initializer,
        "kernel_regularizer": kernel_regularizer,
    }
    if conv_type in ("depthwise", "separable"):
        conv["depth_multiplier"] = depth_multiplier
    kind = {"standard": "conv", "pointwise": "conv"}.get(conv_type, conv_type)

    specs: list[LayerSpec] = []
    if kind == "transposed" and max(dilation) > 1:
        specs += _dilated_transpose_specs(name, conv, pads)
    elif kind == "transposed":
        conv["output_padding"] = output_padding
        if isinstance(pads, str):
            specs.append(LayerSpec("transposed", f"{name}_conv", {**conv, "padding": pads}))
        else:
            if output_padding is None:  # pin Keras' length to (N-1)S + span, PyTorch's
                conv["output_padding"] = (0,) * rank
            specs.append(LayerSpec("transposed", f"{name}_conv", {**conv, "padding": "valid"}))
            if any(sum(p) for p in pads):
                specs.append(LayerSpec("cropping", f"{name}_crop", {"pads": pads}))
    else:
        if not isinstance(pads, str):
            if any(sum(p) for p in pads):
                specs.append(LayerSpec("zero_padding", f"{name}_pad", {"pads": pads}))
            pads = "valid"
        specs.append(LayerSpec(kind, f"{name}_conv", {**conv, "padding": pads}))
    specs += after
    specs += pooling
    if dropout > 0:
        specs.append(LayerSpec("dropout", f"{name}_drop", {"rate": dropout, "spatial": dropout_type == "spatial"}))
    return specs


def _dilated_transpose_specs(name, conv, pads):
    """A stride-1 dilated transposed conv as the equivalent padded dilated conv.

    TensorFlow's CPU kernels reject dilated transposed convolutions, so we use
    the identity "transposed conv at stride 1 == conv over an input padded by
    ``span - 1`` on each side" (with a flipped kernel, which is learned anyway).
    Output shape and parameter count are the same as the transposed layer's.
    """
    if pads == "same":
        return [LayerSpec("conv", f"{name}_conv", {**conv, "padding": "same"})]
    rank = len(conv["kernel_size"])
    crops = ((0, 0),) * rank if pads == "valid" else pads
    net = [
        tuple(dilated_kernel_size(k, d) - 1 - c for c in pair)
        for k, d, pair in zip(conv["kernel_size"], conv["dilation"], crops)
    ]
    specs = []
    grow = tuple(tuple(max(v, 0) for v in pair) for pair in net)
    shrink = tuple(tuple(max(-v, 0) for v in pair) for pair in net)
    if any(sum(p) for p in grow):
        specs.append(LayerSpec("zero_padding", f"{name}_pad", {"pads": grow}))
    if any(sum(p) for p in shrink):
        specs.append(LayerSpec("cropping", f"{name}_crop", {"pads": shrink}))
    specs.append(LayerSpec("conv", f"{name}_conv", {**conv, "padding": "valid"}))
    return specs


def conv_block(x, filters=None, kernel_size=None, *, name: str = "block", **kwargs):
    """Apply a conv block to tensor ``x``; see :func:`conv_block_specs` for the arguments.

    The rank (1D/2D/3D) is read from ``x``. Returns the output tensor.
    """
    if not hasattr(x, "shape") or getattr(x, "shape", None) is None:
        raise invalid("x", x, "a Keras tensor of shape (batch, *spatial, channels), e.g. keras.Input((32, 32, 3))")
    rank = len(x.shape) - 2
    if rank not in (1, 2, 3):
        raise invalid("x", tuple(x.shape), "a tensor of shape (batch, *spatial, channels) with 1 to 3 spatial axes")
    specs = conv_block_specs(filters, kernel_size, rank=rank, name=name, **kwargs)
    return apply_specs(x, specs)


def keras_names(specs, *rules: tuple[str, str]) -> list:
    """``specs`` renamed to keras.applications' layer names: each name is rewritten by the first matching rule.

    A rule is ``(pattern, replacement)`` for :func:`re.fullmatch` / :func:`re.sub`, so
    ``("(.*)_dw_conv", r"\\1_dwconv")`` names ``block1a_dw_conv`` as keras does. The kit's
    blocks name their layers ``{block}_conv``, ``{block}_bn``, ``{block}_{activation}``; a twin
    keeps keras' names, which scripts look layers up by (``model.get_layer("block5_conv3")``).
    """
    compiled = [(re.compile(pattern), replacement) for pattern, replacement in rules]

    def rename(name):
        for pattern, replacement in compiled:
            if pattern.fullmatch(name):
                return pattern.sub(replacement, name)
        return name

    return [dataclasses.replace(spec, name=rename(spec.name)) for spec in specs]
