"""Shared builder plumbing: input checks, the geometry gate, and plans.

Every family is a pure *plan function* (arguments -> :class:`ModelPlan`)
turned into its builder by :func:`planned`. A plan ends in
:func:`sequential_plan` (the whole layer stack) or :func:`branching_plan`
(the downsampling path), both checked with :mod:`kerascnn.geometry`, so a
too-small input fails at once with the minimum size instead of a Keras
negative-dimension error from deep inside the graph, and the search and
``kerascnn models`` learn shapes and parameter counts without building.
"""

from __future__ import annotations

import functools
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kerascnn import geometry
from kerascnn.geometry import check_input_shape  # noqa: F401  (the builders import it from here)
from kerascnn.layers.build import build_sequential_model
from kerascnn.layers.conv import keras_names  # noqa: F401  (the builders import it from here)
from kerascnn.validation import invalid


class InputTooSmall(ValueError):
    """An input on which some feature map collapses; the message names the layer and the smallest input."""


def require_fit(model_name: str, input_shape: tuple, specs) -> list:
    """The trace of ``specs`` on ``input_shape``; :class:`InputTooSmall` naming the minimum input if they collapse."""
    report = geometry.check_fits(input_shape, specs)
    rank, channels = len(input_shape) - 1, input_shape[-1]
    if report.ok and None not in input_shape[:-1]:
        return report.table
    smallest = geometry.min_input_size(specs, channels, rank)
    if report.ok and smallest:  # sizes left to the data: some size must fit
        return report.table
    need = (
        f"the smallest input it accepts is {'×'.join([str(smallest)] * rank)}×{channels}"
        if smallest
        else "it accepts no input size up to 4096"
    )
    raise InputTooSmall(
        f"Invalid `input_shape` for {model_name}: too small, {need}. {report.reason} "
        f"Received: input_shape={tuple(input_shape)}"
    )


@dataclass(frozen=True)
class ModelPlan:
    """A registered model described and checked, not built: what :func:`plan_model` returns for every model.

    ``specs`` is the whole layer stack of a sequential model (shapes and the
    parameter count follow from it exactly, without a weight); a branching
    model (ResNet, DenseNet, U-Net...) has ``specs=None`` and only its checked
    downsampling path in ``spine``. :meth:`build` makes the Keras model.
    """

    name: str
    input_shape: tuple
    specs: tuple | None
    spine: tuple
    assemble: Callable = field(repr=False, compare=False)  # input_tensor -> keras.Model
    #: Set by the registry for a branching model: its count when published, and its key in the count cache.
    known_params: int | None = field(default=None, compare=False)
    count_key: str | None = field(default=None, repr=False, compare=False)
    #: The trace the check made (:func:`geometry.trace` of the specs, or of the spine): traced once per plan.
    table: tuple = field(default=(), repr=False, compare=False)

    @property
    def exact(self) -> bool:
        """Whether :meth:`count_params` is known without building."""
        return self.specs is not None

    def trace(self):
        """Per-layer shapes, parameters and receptive fields of the stack (the spine, if branching)."""
        return list(self.table)

    def count_params(self) -> int:
        """Exact from the specs; a branching model's published count, or it is built once to count it."""
        if self.specs is not None:
            return geometry.total_params(self.trace())
        if self.known_params is not None:
            return self.known_params
        if self.count_key not in _BUILT_COUNTS:
            _BUILT_COUNTS[self.count_key] = int(self.build().count_params())
        return _BUILT_COUNTS[self.count_key]

    def build(self, input_tensor=None):
        """The Keras model (on ``input_tensor``, if given)."""
        check_data_format()
        return self.assemble(input_tensor)


#: Parameters of each branching model in its published configuration (the registry's defaults), which
#: only building tells; ``tests/architectures/test_registry.py`` builds them to keep this file true, and
#: ``python tools/param_counts.py`` rewrites it.
PARAM_COUNTS: dict[str, int] = json.loads((Path(__file__).parent / "param_counts.json").read_text())
#: Counts of branching models built in this process, by arguments (``ModelPlan.count_key``).
_BUILT_COUNTS: dict[str, int] = {}


def sequential_plan(name: str, input_shape, specs) -> ModelPlan:
    """Check ``specs`` against ``input_shape`` with :mod:`kerascnn.geometry`; the plan of that stack."""
    input_shape = check_input_shape(input_shape)
    _check_name(name)
    specs = tuple(specs)
    table = tuple(require_fit(name, input_shape, specs))
    return ModelPlan(
        name,
        input_shape,
        specs,
        specs,
        lambda input_tensor: build_sequential_model(input_shape, specs, name=name, input_tensor=input_tensor),
        table=table,
    )


def branching_plan(name: str, input_shape, spine, assemble: Callable) -> ModelPlan:
    """The plan of a branching model: ``spine`` (its downsampling path) checked, ``assemble`` builds it.

    ``spine`` is the specs, in order, that the main path applies (branches
    that keep the size need not be listed); a too-small input fails here
    with the minimum size, before any layer exists.
    """
    _check_name(name)
    input_shape = tuple(input_shape)
    spine = tuple(spine)
    table = tuple(require_fit(name, input_shape, spine))
    return ModelPlan(name, input_shape, None, spine, assemble, table=table)


def check_data_format(source: str = "") -> None:
    """Refuse Keras set to ``channels_first``: the kit's networks, data and weights are ``channels_last``.

    keras.applications builds a channels-first network under that setting;
    the kit's specs, geometry and data pipelines are channels-last, so it
    says so in one line rather than build a different network in silence.
    ``source`` names a model whose own layers are channels-first (weights
    to copy from).
    """
    import keras

    if source:
        raise ValueError(
            f"Invalid `weights`: {source} has channels_first layers, and kerascnn's models are channels_last "
            "(their kernels and flattened features are laid out differently). Build it with "
            "keras.config.set_image_data_format('channels_last') first."
        )
    setting = keras.config.image_data_format()
    if setting != "channels_last":
        raise ValueError(
            f"Keras is set to image_data_format={setting!r} (keras.config.image_data_format(), from "
            "~/.keras/keras.json or keras.config.set_image_data_format), and kerascnn's builders, search and "
            'weights are channels_last: set "image_data_format": "channels_last" in keras.json, or call '
            "keras.config.set_image_data_format('channels_last') before building."
        )


def keras_pad(input_shape, specs_before, kernel_size: int) -> tuple:
    """keras.applications' ``correct_pad``: the zeros before a stride-2 ``valid`` conv, per spatial axis.

    ``(k//2 - 1, k//2)`` on an even or unknown size and ``(k//2, k//2)`` on an
    odd one: the same as ``"same"`` padding where the size is known, and what
    keras pads where it is not (a ``None`` input size), so a twin equals its
    keras.applications model at every size. ``specs_before`` leads from the
    input to the conv.
    """
    table = geometry.trace(input_shape, specs_before, strict=False) if specs_before else []
    spatial = table[-1].spatial_shape if table else tuple(input_shape[:-1])
    half = kernel_size // 2
    return tuple((half - (1 if n is None else 1 - n % 2), half) for n in spatial)


def _check_name(name) -> None:
    if not isinstance(name, str) or not name:
        raise invalid("name", name, "a non-empty string")


def all_layers(model):
    """Every layer of ``model`` in order, looking inside nested models."""
    import keras

    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def classifier_start(model) -> str | None:
    """The name of the first layer of ``model``'s classifier, or ``None`` for a model without one.

    The kit's and most keras.applications heads end in ``predictions``;
    MobileNetV3's classifier starts at its ``logits`` conv (``predictions``
    is only the softmax after it), ConvNeXt's is ``{name}_head_dense``.
    What feeds this layer is the model's features (a transfer backbone's cut).
    """
    for layer in model.layers:
        if layer.name in ("predictions", "logits") or layer.name == f"{model.name}_head_dense":
            return layer.name
    return None


def planned(plan_fn: Callable) -> Callable:
    """The builder of a plan function: same signature and docs, returns the built ``keras.Model``.

    The plan function validates its arguments and returns a
    :class:`ModelPlan` without building anything (``builder.plan``); its
    ``input_tensor`` argument is the builder's and is used only by
    :meth:`ModelPlan.build`.
    """
    signature = inspect.signature(plan_fn)

    @functools.wraps(plan_fn)
    def builder(*args, **kwargs):
        input_tensor = signature.bind_partial(*args, **kwargs).arguments.get("input_tensor")
        return plan_fn(*args, **kwargs).build(input_tensor)

    builder.plan = plan_fn
    return builder
