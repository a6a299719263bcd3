"""``simple_cnn``: INPUT -> [CONV -> ACT -> POOL] x N -> [FC -> ACT] x M -> FC.

The notes' basic architecture, with every layer variant exposed, on 1D, 2D or
3D inputs. Its default is the notes' example flow: 32×32×3 -> conv 16 (3×3,
same) -> max pool -> conv 32 -> max pool -> flatten (2,048) -> FC 128 -> FC
``num_classes`` softmax.
"""

from __future__ import annotations

import inspect
from typing import Any

from kerascnn.architectures._common import check_input_shape, planned, sequential_plan
from kerascnn.architectures.registry import register_model
from kerascnn.layers.conv import conv_block_specs
from kerascnn.layers.heads import head_specs, normalize_dense_layers
from kerascnn.validation import check_int, check_keys, invalid, is_int

#: Per-layer keys a ``conv_layers`` dict may set (every conv_block argument).
CONV_LAYER_KEYS = tuple(p for p in inspect.signature(conv_block_specs).parameters if p not in ("rank", "name"))


def _conv_layer_settings(conv_layers: Any, filters: Any, shared: dict) -> list[dict]:
    """``conv_layers`` as one dict of conv_block arguments per layer."""
    if is_int(conv_layers):
        count = check_int("conv_layers", conv_layers, min_value=0)
        per_layer: list[dict] = [{} for _ in range(count)]
    elif isinstance(conv_layers, (list, tuple)):
        per_layer = [dict(check_keys(f"conv_layers[{i}]", d, CONV_LAYER_KEYS)) for i, d in enumerate(conv_layers)]
    else:
        raise invalid("conv_layers", conv_layers, "a number of layers or a list of per-layer dicts")
    if is_int(filters):
        base = check_int("filters", filters)
        widths = [base * 2**i for i in range(len(per_layer))]
    elif isinstance(filters, (list, tuple)) and len(filters) == len(per_layer):
        widths = [check_int(f"filters[{i}]", f) for i, f in enumerate(filters)]
    else:
        raise invalid("filters", filters, f"an int (doubled at each layer) or a list of {len(per_layer)} ints")
    return [{**shared, "filters": w, **layer} for w, layer in zip(widths, per_layer)]


def block_settings(kwargs: dict) -> list[dict]:
    """Each conv block's settings for ``simple_cnn(**kwargs)`` (:attr:`ModelInfo.blocks`)."""
    shared = {k: kwargs[k] for k in CONV_LAYER_KEYS if k in kwargs and k != "filters"}
    return _conv_layer_settings(kwargs["conv_layers"], kwargs["filters"], shared)


@register_model(family="simple", default_input_shape=(32, 32, 3), blocks=block_settings, ranks=(1, 2, 3))
@planned
def simple_cnn(
    input_shape=(32, 32, 3),
    num_classes: int = 10,
    input_tensor=None,
    *,
    conv_layers: Any = 2,
    filters: Any = 16,
    kernel_size: Any = 3,
    strides: Any = 1,
    padding: Any = "same",
    dilation: Any = 1,
    conv_type: str = "standard",
    activation: Any = "relu",
    bn_placement: str = "none",
    dropout: float = 0.0,
    dropout_type: str = "standard",
    pool: str = "max",
    pool_size: Any = 2,
    pool_strides: Any = None,
    dense_layers: Any = 1,
    dense_units: int = 128,
    dense_dropout: float = 0.0,
    include_top: bool = True,
    pooling: str | None = None,
    classifier_activation: str | None = "softmax",
    name: str = "simple_cnn",
):
    """The notes' conv -> act -> pool stack with dense layers on top.

    Args:
        input_shape: ``(length, c)``, ``(h, w, c)`` or ``(d, h, w, c)``: the
            rank picks Conv1D, Conv2D or Conv3D.
        num_classes: output units.
        conv_layers: number of conv blocks, or a list of per-block dicts of
            conv_block arguments (``[{"kernel_size": 5}, {"strides": 2}]``)
            that override the shared settings below.
        filters: first block's filters, doubled at each block (16, 32, ...),
            or one value per block.
        kernel_size, strides, padding, dilation, conv_type, activation,
        bn_placement, dropout, dropout_type, pool, pool_size, pool_strides:
            shared conv block settings (see
            :func:`kerascnn.layers.conv_block_specs`).
        dense_layers: number of hidden dense layers, a list of unit counts, or
            a list of dense block dicts.
        dense_units: units of each hidden dense layer when given as a count.
        dense_dropout: dropout after each hidden dense layer.
        include_top, pooling, classifier_activation, name: the shared builder
            keywords (see :func:`kerascnn.layers.head_specs`).

    Raises:
        ValueError: a bad argument, or an input too small for the conv stack
            (the message names the collapsing layer and the minimum size).
    """
    input_shape = check_input_shape(input_shape)
    rank = len(input_shape) - 1
    shared = dict(
        kernel_size=kernel_size,
        strides=strides,
        padding=padding,
        dilation=dilation,
        conv_type=conv_type,
        activation=activation,
        bn_placement=bn_placement,
        dropout=dropout,
        dropout_type=dropout_type,
        pool=pool,
        pool_size=pool_size,
        pool_strides=pool_strides,
    )
    specs = []
    for i, settings in enumerate(_conv_layer_settings(conv_layers, filters, shared), start=1):
        if settings.get("conv_type") == "depthwise":
            settings["filters"] = None
        specs += conv_block_specs(**settings, rank=rank, name=f"block{i}")
    dense = normalize_dense_layers(
        dense_layers,
        units=dense_units,
        defaults={"activation": activation, "bn_placement": bn_placement, "dropout": dense_dropout},
    )
    specs += head_specs(
        include_top=include_top,
        num_classes=num_classes,
        pooling=pooling,
        classifier_activation=classifier_activation,
        dense_layers=dense,
    )
    return sequential_plan(name, input_shape, specs)
