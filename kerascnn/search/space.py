"""The search space: which knobs exist, their default spaces, and how a knob is declared.

A knob's setting follows the AutoKeras contract:

- ``None``: tuned over its default space (:data:`KNOBS`);
- a single value: fixed (``hp.Fixed``);
- a list: a custom ``hp.Choice``;
- ``{min, max, step, sampling}``: a custom ``hp.Int`` / ``hp.Float`` range.

Keras-tuner choices hold only ints, floats, strings and bools, so tuple
kernels are written as strings: ``"1x3"`` means ``(1, 3)``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Callable

from kerascnn import validation as v
from kerascnn.config import OPTIMIZERS
from kerascnn.validation import did_you_mean


@dataclass(frozen=True)
class Knob:
    """A tunable setting: its default space, where it applies and how a value is checked.

    A knob has no default value of its own: a layer or model knob's default is
    the builder's (its signature, :meth:`ModelInfo.defaults`), a training
    knob's is ``config.DEFAULTS["train"]``'s. One home each, so changing a
    builder's default changes what the search starts from.
    """

    space: Any  # a list of choices or a {min, max, step, sampling} dict
    scope: str  # "layer": per conv block; "model": per architecture; "train": fit/compile; "data"
    help: str = ""
    check: Callable[[str, Any], Any] | None = None  # (arg, value) -> raises ValueError naming arg


def _sizes(arg, value):
    """An int >= 1 or a per-axis tuple (written '1x3' in choices)."""
    value = _parse_sizes(arg, value) if isinstance(value, str) else value
    return v.int_tuple(arg, value, len(value) if isinstance(value, tuple) else 1)


def _parse_sizes(arg: str, text: str):
    """``"3"`` -> ``3``, ``"1x3"`` -> ``(1, 3)``; anything else names ``arg``."""
    try:
        parts = tuple(int(p) for p in text.split("x"))
    except ValueError:
        raise ValueError(f"Invalid `{arg}` value {text!r}: write tuples as '1x3'") from None
    return parts[0] if len(parts) == 1 else parts


def _choice_of(module: str, name: str):
    def check(arg, value):
        import importlib

        return v.check_choice(arg, value, getattr(importlib.import_module(module), name))

    return check


def _non_negative(arg, value):
    return v.check_int(arg, value, min_value=0)


def _padding(arg, value):
    from kerascnn.geometry import explicit_padding

    return explicit_padding(value, 1, arg=arg)


def _activation(arg, value):
    from kerascnn.layers.activations import resolve_activation

    return resolve_activation(value, arg=arg)


def _trainable(arg, value):
    from kerascnn.architectures.transfer import TRAINABLE_RULE, parse_trainable

    try:
        parse_trainable(value)
    except ValueError:
        raise v.invalid(arg, value, TRAINABLE_RULE) from None
    return value


def _head_pooling(arg, value):
    from kerascnn.architectures.transfer import POOLINGS

    return v.check_choice(arg, value, POOLINGS)


KNOBS: dict[str, Knob] = {
    # per conv block (independent per layer for simple_cnn)
    "kernel_size": Knob([3, 5], "layer", "kernel size; '1x3' for a 1×3 kernel", _sizes),
    "filters": Knob([16, 32, 64], "layer", "output channels", v.check_int),
    "strides": Knob([1, 2], "layer", "step of the kernel", _sizes),
    "padding": Knob(["same", "valid"], "layer", "valid, same or full", _padding),
    "dilation": Knob([1, 2], "layer", "dilation rate (not with strides > 1)", _sizes),
    "conv_type": Knob(
        ["standard", "separable"],
        "layer",
        "standard, pointwise, depthwise, separable",
        _choice_of("kerascnn.layers.conv", "CONV_TYPES"),
    ),
    "activation": Knob(["relu", "leaky_relu", "elu", "swish"], "layer", "activation function", _activation),
    "bn_placement": Knob(
        ["none", "before_activation", "after_activation"],
        "layer",
        "batch-norm placement",
        _choice_of("kerascnn.layers.conv", "BN_PLACEMENTS"),
    ),
    "pool": Knob(
        ["max", "avg", "none"], "layer", "pooling after the block", _choice_of("kerascnn.layers.pooling", "POOLS")
    ),
    "dropout": Knob({"min": 0.0, "max": 0.5, "step": 0.1}, "layer", "dropout rate", v.check_rate),
    # per architecture
    "conv_layers": Knob([1, 2, 3], "model", "number of conv blocks (simple_cnn)", v.check_int),
    "dense_layers": Knob([0, 1, 2], "model", "number of hidden dense layers (simple_cnn)", _non_negative),
    "dense_units": Knob([32, 64, 128], "model", "units per hidden dense layer", v.check_int),
    "dense_dropout": Knob({"min": 0.0, "max": 0.5, "step": 0.1}, "model", "dropout after dense layers", v.check_rate),
    # family knobs (the builders that take them; each defaults to the paper's value)
    "factorize": Knob([True, False], "model", "factorised 1×n, n×1 kernels (inception_v3)", v.check_bool),
    "middle_blocks": Knob([4, 8], "model", "middle-flow blocks (xception)", _non_negative),
    "fused_stages": Knob([0, 3], "model", "leading fused-MBConv stages (efficientnet_v2_*)", _non_negative),
    "drop_connect_rate": Knob(
        [0.0, 0.2], "model", "stochastic depth of the last block (efficientnet_*, efficientnet_v2_*)", v.check_rate
    ),
    "norm": Knob(
        ["layer", "batch"],
        "model",
        "layer or batch normalization (convnext_*)",
        _choice_of("kerascnn.architectures.convnext", "NORMS"),
    ),
    "drop_path_rate": Knob([0.0, 0.1], "model", "stochastic depth of the last block (convnext_*)", v.check_rate),
    "alpha": Knob([0.75, 1.0], "model", "width multiplier (mobilenet, mobilenet_v2, mobilenet_v3_*)", v.check_positive),
    "se_ratio": Knob(
        [0.0, 0.25],
        "model",
        "squeeze-excitation channels per channel, 0 = off (mobilenet_v3_*, efficientnet_*)",
        v.check_fraction,
    ),
    # transfer (model.architecture: transfer)
    "trainable": Knob(
        ["frozen", "all"], "model", "what fine-tuning trains: frozen, last_N layers, all (transfer)", _trainable
    ),
    "head_pooling": Knob(["avg", "max"], "model", "pooling under the backbone (transfer)", _head_pooling),
    "fine_tune_learning_rate": Knob(
        {"min": 1e-6, "max": 1e-4, "sampling": "log"}, "model", "fine-tuning learning rate (transfer)", v.check_positive
    ),
    # training
    "optimizer": Knob(list(OPTIMIZERS), "train", "optimizer", _choice_of("kerascnn.config", "OPTIMIZERS")),
    "learning_rate": Knob({"min": 1e-4, "max": 1e-2, "sampling": "log"}, "train", "learning rate", v.check_positive),
    "momentum": Knob({"min": 0.0, "max": 0.95, "step": 0.05}, "train", "SGD momentum", v.check_rate),
    "batch_size": Knob([32, 64, 128], "train", "batch size", v.check_int),
    # data
    "augment": Knob([False, True], "data", "switch the data.augmentation layers on", v.check_bool),
}
LAYER_KNOBS = tuple(k for k, v in KNOBS.items() if v.scope == "layer")
#: Knobs whose values may be tuple strings like "1x3".
TUPLE_KNOBS = ("kernel_size", "strides", "dilation")


def decode(knob: str, value: Any) -> Any:
    """A hyperparameter value as the builder wants it (``"1x3"`` -> ``(1, 3)``)."""
    if knob in TUPLE_KNOBS and isinstance(value, str):
        return _parse_sizes(f"search.space.{knob}", value)
    space = KNOBS[knob].space if knob in KNOBS else None
    if isinstance(space, list) and all(isinstance(v, bool) for v in space) and value in (0, 1):
        return bool(value)  # keras-tuner may hand a boolean choice back as 0 / 1
    return value


def applies_to(knob: str, architecture: str) -> bool:
    """Whether ``knob`` is a setting of ``architecture``'s builder."""
    from kerascnn.architectures import model_info

    spec = KNOBS[knob]
    if spec.scope in ("train", "data"):
        return True
    return knob in model_info(architecture).accepted_arguments()


def check_setting(knob: str, setting: Any) -> None:
    """Refuse a malformed knob setting, naming ``search.space.<knob>``."""
    where = f"search.space.{knob}"
    scalar = (numbers.Real, str, bool)
    check = KNOBS[knob].check if knob in KNOBS else None
    if setting is None or isinstance(setting, scalar):
        if setting is not None and check is not None:
            check(where, setting)
        return
    if isinstance(setting, list):
        if not setting or not all(isinstance(value, scalar) for value in setting):
            raise ValueError(
                f"Invalid `{where}`: a choice list needs numbers, strings or booleans "
                f"(tuples as '1x3'). Received: {where}={setting!r}"
            )
        if len(set(map(repr, setting))) != len(setting):
            raise ValueError(f"Invalid `{where}`: duplicate choices. Received: {where}={setting!r}")
        kinds = {
            "strings" if isinstance(x, str) else "true/false" if isinstance(x, bool) else "numbers" for x in setting
        }
        if len(kinds) > 1 and knob not in TUPLE_KNOBS:  # keras-tuner's Choice holds one type
            raise ValueError(
                f"Invalid `{where}`: the choices mix {' and '.join(sorted(kinds))}, and keras-tuner's "
                f"Choice holds one type. Search one kind per run (e.g. only names, or only numbers). "
                f"Received: {where}={setting!r}"
            )
        for value in setting:  # each choice is checked as a single value would be
            if check is not None:
                check(where, value)
        return
    if isinstance(setting, dict):
        unknown = set(setting) - {"min", "max", "step", "sampling"}
        if unknown or not {"min", "max"} <= set(setting):
            raise ValueError(
                f"Invalid `{where}`: a range is {{min, max[, step][, sampling]}}. Received: {where}={setting!r}"
            )
        lo, hi = setting["min"], setting["max"]
        if not all(v.is_number(x) for x in (lo, hi)) or lo >= hi:
            raise ValueError(
                f"Invalid `{where}`: min and max must be numbers with min < max. Received: {where}={setting!r}"
            )
        if setting.get("sampling", "linear") not in ("linear", "log", "reverse_log"):
            raise ValueError(
                f"Invalid `{where}.sampling`: allowed values are 'linear', 'log', 'reverse_log'. "
                f"Received: {setting.get('sampling')!r}"
            )
        if setting.get("sampling") == "log" and lo <= 0:
            raise ValueError(f"Invalid `{where}`: log sampling needs min > 0. Received: {where}={setting!r}")
        step = setting.get("step")
        if step is not None and (not v.is_number(step) or step <= 0):
            raise ValueError(f"Invalid `{where}.step`: expected a positive number. Received: {where}={setting!r}")
        if check is not None:  # both ends must be values the knob accepts
            check(f"{where}.min", lo)
            check(f"{where}.max", hi)
        return
    raise ValueError(
        f"Invalid `{where}`: expected null (default space), a value, a list or {{min, max}}. "
        f"Received: {where}={setting!r}"
    )


def check_space(space: dict, architectures) -> None:
    """Validate a ``search.space`` mapping against the knobs and the architectures."""
    for knob, setting in space.items():
        if knob not in KNOBS:
            raise ValueError(
                f"Unknown key `search.space.{knob}`{did_you_mean(knob, KNOBS)}. Searchable knobs: {', '.join(KNOBS)}"
            )
        check_setting(knob, setting)
        if not any(applies_to(knob, a) for a in architectures):
            raise ValueError(f"Invalid `search.space.{knob}`: it is not a setting of {', '.join(architectures)}")


def check_space_rank(space: dict, rank: int) -> None:
    """Refuse per-axis tuples (``"1x3"``) whose length is not the data's rank, naming the knob.

    A plain number means the same size on every axis (``kernel_size: 5`` is
    5, 5×5 or 5×5×5), so only tuples can disagree with the data.
    """
    what = f"{v.RANK_NAMES[rank]} ({rank} ax{'i' if rank == 1 else 'e'}s)" if rank in v.RANK_NAMES else f"{rank} axes"
    for knob in TUPLE_KNOBS:
        setting = space.get(knob)
        values = (
            setting
            if isinstance(setting, list)
            else [setting.get("min"), setting.get("max")]
            if isinstance(setting, dict)
            else [setting]
        )
        for value in values:
            parsed = decode(knob, value) if isinstance(value, str) else value
            if isinstance(parsed, (tuple, list)) and len(parsed) != rank:
                raise ValueError(
                    f"Invalid `search.space.{knob}`: {value!r} has {len(parsed)} entries, but the data "
                    f"are {what}: write one entry per axis, or a single number for every axis. "
                    f"Received: search.space.{knob}={setting!r}"
                )


def declare(hp, name: str, knob: str, setting: Any, default: Any):
    """Declare hyperparameter ``name`` for ``knob`` per ``setting`` and return its value.

    ``default`` is the owner's default (the builder's, the training
    config's): the value keras-tuner's first candidate takes. A knob tuned
    over its default space (``setting`` None) has that value added to the
    space, so the first candidate is the published model (LeNet's ``tanh``,
    VGG's 4,096 dense units); ``None`` (a builder's per-stage values, e.g.
    EfficientNet's kernel sizes) cannot be a choice, and the space's first
    value stands in.
    """
    if setting is None:
        setting = _with_default(KNOBS[knob].space, default)
    if isinstance(setting, list):
        if knob in TUPLE_KNOBS and len({type(v) for v in setting}) > 1:
            setting = [str(v) for v in setting]  # keras-tuner choices hold one type: 3 -> "3", "1x3"
            default = str(default)
        if len(setting) == 1:
            return hp.Fixed(name, setting[0])
        return hp.Choice(name, setting, default=default if default in setting else setting[0])
    if isinstance(setting, dict):
        lo, hi, step = setting["min"], setting["max"], setting.get("step")
        sampling = setting.get("sampling", "linear")
        is_int = all(isinstance(v, numbers.Integral) for v in (lo, hi)) and (
            step is None or isinstance(step, numbers.Integral)
        )
        default = default if isinstance(default, numbers.Real) and lo <= default <= hi else lo
        if is_int:
            return hp.Int(name, lo, hi, step=step or 1, sampling=sampling, default=int(default))
        return hp.Float(name, lo, hi, step=step, sampling=sampling, default=float(default))
    return hp.Fixed(name, setting)


def _with_default(space: Any, default: Any) -> Any:
    """A default space that holds ``default`` (numbers in order), where a choice list can hold it."""
    if not isinstance(space, list) or default is None or default in space or isinstance(default, (tuple, list)):
        return space
    numeric = all(v.is_number(x) for x in [*space, default])
    return sorted([*space, default]) if numeric else [default, *space]
