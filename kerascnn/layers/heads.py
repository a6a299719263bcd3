"""Dense blocks and output heads, shared by every classifier builder.

The head follows keras.applications: with ``include_top`` the features are
flattened (or globally pooled), pass through the dense blocks and end in a
``predictions`` layer; without it, ``pooling`` optionally reduces the last
feature map to a vector.
"""

from __future__ import annotations

from typing import Any, Sequence

from kerascnn.geometry import LayerSpec
from kerascnn.layers.conv import BN_PLACEMENTS, norm_act_specs
from kerascnn.validation import check_bool, check_choice, check_int, check_rate, invalid, is_int

#: The usual ones: softmax (one class of K), sigmoid (binary with 1 unit, or multi-label), linear/None
#: (logits, or regression). Any Keras activation name or a callable is accepted too, as in keras.applications.
CLASSIFIER_ACTIVATIONS = ("softmax", "sigmoid", "linear", None)


def check_classifier_activation(value: Any) -> Any:
    """``None`` (logits), a Keras activation name, or a callable: keras.applications' contract."""
    if value is None or callable(value):
        return value
    if isinstance(value, str):
        import keras

        try:
            keras.activations.get(value)
            return value
        except (ValueError, TypeError):
            pass
    raise invalid(
        "classifier_activation",
        value,
        "None (logits), a Keras activation name such as 'softmax', 'sigmoid' or 'linear', or a callable",
    )


POOLINGS = (None, "avg", "max")


def dense_block_specs(
    units: int,
    activation: Any = "relu",
    bn_placement: str = "none",
    dropout: float = 0.0,
    use_bias: bool | None = None,
    *,
    name: str = "fc",
) -> list[LayerSpec]:
    """``Dense -> [BN/act in the chosen order] -> [Dropout]`` as specs."""
    units = check_int("units", units)
    dropout = check_rate("dropout", dropout)
    check_choice("bn_placement", bn_placement, BN_PLACEMENTS)
    if use_bias is None:
        use_bias = bn_placement != "before_activation"
    fused, after = norm_act_specs(name, activation, bn_placement)
    specs = [LayerSpec("dense", name, {"units": units, "activation": fused, "use_bias": use_bias})] + after
    if dropout > 0:
        specs.append(LayerSpec("dropout", f"{name}_drop", {"rate": dropout, "spatial": False}))
    return specs


def normalize_dense_layers(dense_layers: Any, *, units: int = 128, defaults: dict | None = None) -> list[dict]:
    """``dense_layers`` as a list of per-layer dicts.

    Accepts a count (``2`` -> two layers of ``units``), a list of unit counts
    (``[256, 128]``) or a list of dicts of :func:`dense_block_specs` arguments;
    ``defaults`` fill what a dict leaves out.
    """
    defaults = dict(defaults or {})
    if is_int(dense_layers):
        check_int("dense_layers", dense_layers, min_value=0)
        return [{"units": units, **defaults} for _ in range(dense_layers)]
    if isinstance(dense_layers, (list, tuple)):
        out = []
        for i, item in enumerate(dense_layers):
            if is_int(item):
                out.append({**defaults, "units": item})
            elif isinstance(item, dict):
                out.append({"units": units, **defaults, **item})
            else:
                raise invalid(f"dense_layers[{i}]", item, "a unit count or a dict of dense block arguments")
        return out
    raise invalid("dense_layers", dense_layers, "a count, a list of unit counts or a list of dicts")


def check_head_args(num_classes, include_top, pooling, classifier_activation) -> None:
    """Validate the shared head keywords (used by every builder)."""
    check_bool("include_top", include_top)
    check_choice("pooling", pooling, POOLINGS)
    if not include_top:
        return
    check_int("num_classes", num_classes)
    check_classifier_activation(classifier_activation)
    if classifier_activation == "softmax" and num_classes == 1:
        raise ValueError(
            "Invalid `classifier_activation`: softmax over a single unit always outputs 1. For a "
            "binary task use classifier_activation='sigmoid' with num_classes=1, or softmax with "
            "num_classes=2. Received: classifier_activation='softmax', num_classes=1"
        )


def head_specs(
    *,
    include_top: bool,
    num_classes: int,
    pooling: str | None,
    classifier_activation: str | None,
    dense_layers: Sequence[dict] = (),
    flatten: bool = True,
    name_prefix: str = "fc",
    dropout: float = 0.0,
) -> list[LayerSpec]:
    """The top of a classifier as specs.

    Args:
        include_top: add the classifier; otherwise only ``pooling`` applies.
        num_classes: output units.
        pooling: with ``include_top=False``: ``None`` (keep the feature map),
            ``"avg"`` or ``"max"`` (global pooling to a vector).
        classifier_activation: ``None`` for logits (a linear layer), a Keras
            activation name (``softmax``, ``sigmoid``...) or a callable.
        dense_layers: dicts of :func:`dense_block_specs` arguments, in order.
        flatten: flatten the feature map before the dense layers (VGG,
            LeNet); ``False`` uses global average pooling instead.
        name_prefix: dense layers are named ``{prefix}1``, ``{prefix}2``...
        dropout: rate of a dropout layer between the features and the dense
            layers (MobileNet's and EfficientNet's ``top_dropout``).
    """
    check_head_args(num_classes, include_top, pooling, classifier_activation)
    dropout = check_rate("dropout", dropout)
    if not include_top:
        return [] if pooling is None else [LayerSpec("global_pool", f"{pooling}_pool", {"pool": pooling})]
    specs = [LayerSpec("flatten", "flatten") if flatten else LayerSpec("global_pool", "avg_pool", {"pool": "avg"})]
    if dropout > 0:
        specs.append(LayerSpec("dropout", "top_dropout", {"rate": dropout, "spatial": False}))
    for i, kwargs in enumerate(dense_layers, start=1):
        specs += dense_block_specs(**{"name": f"{name_prefix}{i}", **kwargs})
    act = "linear" if classifier_activation is None else classifier_activation
    # float32 outputs keep softmax stable under mixed precision (Keras' advice); no effect otherwise
    specs.append(
        LayerSpec(
            "dense", "predictions", {"units": num_classes, "activation": act, "use_bias": True, "dtype": "float32"}
        )
    )
    return specs
