"""The one home of activation lookup.

An activation is given by name (``"relu"``, ``"leaky_relu"``...) or as a dict
with options (``{"name": "leaky_relu", "negative_slope": 0.2}``), which is what
YAML experiments and the search can express. :func:`resolve_activation`
validates and normalises it; :func:`activation_layer` makes the Keras layer.
"""

from __future__ import annotations

from typing import Any

import keras

from kerascnn.validation import check_choice, invalid

#: Activations every block accepts (``softmax`` is for output heads).
ACTIVATIONS = (
    "relu",
    "relu6",
    "leaky_relu",
    "prelu",
    "elu",
    "selu",
    "gelu",
    "swish",
    "sigmoid",
    "hard_sigmoid",
    "hard_swish",
    "tanh",
    "softmax",
    "linear",
)
_ALIASES = {"silu": "swish", "none": "linear", "identity": "linear", None: "linear"}
#: Options each parametrised activation takes, with defaults. The leaky slope
#: defaults to 0.1, the value the lecture notes use (``F.leaky_relu(x, 0.1)``).
_OPTIONS = {"leaky_relu": {"negative_slope": 0.1}, "elu": {"alpha": 1.0}, "prelu": {}}
#: Activations Keras can fuse into a Conv/Dense layer (no weights, no options).
FUSABLE = ("relu", "relu6", "elu", "selu", "gelu", "swish", "sigmoid", "hard_sigmoid", "hard_swish", "tanh", "softmax")


def resolve_activation(activation: Any, arg: str = "activation") -> tuple[str, dict]:
    """Validate an activation spec and return ``(name, options)``.

    Raises:
        ValueError: unknown name, unknown option, or a malformed spec.
    """
    options: dict = {}
    if isinstance(activation, dict):
        if "name" not in activation:
            raise invalid(
                arg, activation, "a dict with a 'name' key, e.g. {'name': 'leaky_relu', 'negative_slope': 0.2}"
            )
        options = {k: v for k, v in activation.items() if k != "name"}
        activation = activation["name"]
    if isinstance(activation, str):
        activation = activation.lower()
    name = _ALIASES.get(activation, activation)
    if not isinstance(name, str):
        raise invalid(arg, activation, f"one of {', '.join(ACTIVATIONS)} or a dict with 'name'")
    check_choice(arg, name, ACTIVATIONS)
    allowed = _OPTIONS.get(name, {})
    for key, value in options.items():
        if key not in allowed:
            raise invalid(f"{arg}.{key}", value, f"an option of {name!r}: {sorted(allowed) or 'none'}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid(f"{arg}.{key}", value, "a number")
    return name, {**allowed, **options}


def fused_activation(activation: Any) -> str | None:
    """The Keras activation string to fuse into a conv/dense layer, if possible.

    Fusing (``Conv2D(..., activation="relu")``) is what keras.applications do;
    it saves a layer per block. Returns ``None`` for ``linear`` and for
    activations that need their own layer (with weights or options).
    """
    name, options = resolve_activation(activation)
    if name in FUSABLE and not options:
        return "silu" if name == "swish" else name
    return None


def activation_layer(activation: Any, name: str | None = None, rank: int | None = None):
    """A Keras layer applying ``activation``, or ``None`` for ``linear``.

    Args:
        activation: name or ``{"name": ..., **options}``.
        name: layer name.
        rank: number of spatial axes of the input (0 for dense features).
            PReLU then learns one slope per channel, shared over space, as
            in He et al. (2015).
    """
    key, options = resolve_activation(activation)
    if key == "linear":
        return None
    if key == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=options["negative_slope"], name=name)
    if key == "prelu":
        shared = list(range(1, rank + 1)) if rank else None
        return keras.layers.PReLU(shared_axes=shared, name=name)
    if key == "elu":
        return keras.layers.ELU(alpha=options["alpha"], name=name)
    return keras.layers.Activation("silu" if key == "swish" else key, name=name)
