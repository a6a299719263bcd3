"""The model registry: ``@register_model``, ``create_model``, ``list_models``.

timm-style: every builder is a plain function returning a ``keras.Model``;
variants are one-line functions that fix a few arguments of a family builder.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import inspect
import json
from dataclasses import dataclass, field
from typing import Callable

from kerascnn.validation import RANK_NAMES, did_you_mean

_REGISTRY: dict[str, "ModelInfo"] = {}


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model without building it."""

    name: str
    family: str
    builder: Callable
    default_input_shape: tuple
    description: str = ""
    #: The family builder whose keyword arguments the variant accepts.
    base: Callable | None = field(default=None, compare=False)
    #: The keras.applications model with the same architecture (and weights layout), if any.
    keras_twin: str | None = None
    #: A variant's values for its base's arguments (VGG-16's depths, EfficientNet-B3's dropout).
    fixed: dict = field(default_factory=dict, compare=False)
    #: For families with per-block settings (simple_cnn): ``blocks(builder kwargs) -> [dict per block]``,
    #: the settings each block gets from the builder's own rules (filters doubling), so a search
    #: can start each block's knobs from them.
    blocks: Callable | None = field(default=None, compare=False)
    #: Spatial ranks the builder takes: 1 (signals, Conv1D), 2 (images), 3 (volumes, Conv3D).
    ranks: tuple = (2,)

    def accepted_arguments(self) -> list[str]:
        params = inspect.signature(self.base or self.builder).parameters.values()
        keyword = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if self.base is not None:  # a variant fixes the base's required arguments (e.g. depths)
            keyword = [p for p in keyword if p.default is not p.empty]
        return [p.name for p in keyword] + ["weights"]

    def defaults(self) -> dict:
        """The builder's default argument values (what the published model uses): the one source of defaults.

        For a variant: its base's defaults with the variant's ``fixed`` values.
        """
        params = inspect.signature(self.base or self.builder).parameters.values()
        return {**{p.name: p.default for p in params if p.default is not p.empty}, **self.fixed}


def register_model(
    fn: Callable | None = None,
    *,
    family: str | None = None,
    default_input_shape: tuple | None = None,
    base: Callable | None = None,
    name: str | None = None,
    keras_twin: str | None = None,
    blocks: Callable | None = None,
    ranks: tuple = (2,),
):
    """Decorator adding a builder to the registry under its function name.

    Args:
        family: group shown by ``kerascnn models`` (default: the module name).
        default_input_shape: the reference input, e.g. ``(224, 224, 3)``.
        base: for one-line variants, the family builder whose arguments they take.
        name: registry name, when it differs from the function name.
        keras_twin: the ``keras.applications`` function building the same
            network (``"ResNet50"``); enables ``weights="imagenet"`` from the
            Keras cache and the parity tests.
        ranks: the input ranks it builds (1 signals, 2 images, 3 volumes).
    """

    def wrap(f):
        key = name or f.__name__
        if key in _REGISTRY:
            raise ValueError(f"A model named {key!r} is already registered (by {_REGISTRY[key].builder.__module__}).")
        doc = inspect.getdoc(f) or ""
        _REGISTRY[key] = ModelInfo(
            name=key,
            family=family or f.__module__.rsplit(".", 1)[-1],
            builder=f,
            default_input_shape=tuple(default_input_shape or ()),
            description=doc.splitlines()[0] if doc else "",
            base=base,
            keras_twin=keras_twin,
            fixed=dict(getattr(f, "fixed", {})),
            blocks=blocks,
            ranks=tuple(ranks),
        )
        return f

    return wrap(fn) if fn is not None else wrap


def variant(base: Callable, name: str, description: str, *, model_name: str | None = None, **fixed) -> Callable:
    """A one-line variant of a family builder: ``base`` with ``fixed`` arguments (the user may override them).

    Register it with :func:`register_model` (``base=base``); the registry then
    knows the variant's own defaults (:meth:`ModelInfo.defaults`) without
    calling it. ``model_name`` names the Keras model when it differs from the
    registry name (a keras.applications twin's ``efficientnetb0``).
    """
    fixed = {**fixed, "name": model_name or name}

    def builder(**kwargs):
        return base(**{**fixed, **kwargs})

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = description
    builder.__module__ = base.__module__
    builder.fixed = fixed
    if hasattr(base, "plan"):
        builder.plan = lambda **kwargs: base.plan(**{**fixed, **kwargs})
    return builder


def list_models(pattern: str | None = None, family: str | None = None) -> list[str]:
    """Registered names, sorted; ``pattern`` is a shell-style filter (``"vgg*"``)."""
    names = sorted(_REGISTRY)
    if family is not None:
        names = [n for n in names if _REGISTRY[n].family == family]
    if pattern is not None:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    return names


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of ``name``; an unknown name lists the registered ones."""
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown model {name!r}{did_you_mean(name, _REGISTRY)}. "
            f"Registered models: {', '.join(list_models())}. Received: name={name!r}"
        )
    return _REGISTRY[name]


def create_model(name: str, /, **kwargs):
    """Build a registered model.

    Arguments left as ``None`` are dropped so the builder's defaults apply,
    except ``classifier_activation=None``, which means logits as in
    keras.applications. ``input_shape`` defaults to the shape of
    ``input_tensor`` when one is given, else to the model's reference input.
    ``name`` is positional-only, so ``name=`` in ``kwargs`` names the Keras model.

    ``weights`` starts the model from existing weights, never downloading:
    a ``keras.Model`` (e.g. a keras.applications model you built), a
    ``.keras`` model file, a ``.weights.h5`` file, a keras.applications
    ``.h5`` weights file, a torchvision/timm ``.safetensors`` or ``.pth``
    state dict (``resnet18``, ``resnet34``), or ``"imagenet"`` for models
    whose published weights file is already in the Keras cache (see
    :mod:`kerascnn.architectures.weights` and
    :mod:`kerascnn.architectures.torch_weights`).

    Raises:
        ValueError: unknown model name, or an argument the builder does not take.
        FileNotFoundError: a weights file that is not on disk (with where to put it).
    """
    info = model_info(name)
    kwargs = _arguments(info, kwargs)
    weights = kwargs.pop("weights", None)
    if weights is None:
        return info.builder(**kwargs)
    from kerascnn.architectures import weights as weights_lib

    source = weights_lib.check_weights(weights, info)  # before building anything
    if source == "imagenet":
        kwargs = {**weights_lib.imagenet_kwargs(info), **kwargs}
    model = info.builder(**kwargs)
    weights_lib.load_into(model, source, info, kwargs)
    return model


#: Arguments an earlier release took -> (the argument that replaced it, how to write the old value).
RENAMED = {"batch_norm": ("bn_placement", "batch_norm=True is bn_placement='before_activation'")}


def argument_hint(key: str, accepted) -> str:
    """The hint after an unknown argument: what replaced it (:data:`RENAMED`), else a did-you-mean, else ``""``."""
    new_name, how = RENAMED.get(key, (None, None))
    return f" (renamed to `{new_name}`: {how})" if new_name in accepted else did_you_mean(key, accepted)


def check_model_settings(architectures: list[str], params: dict) -> None:
    """An experiment's ``model`` section: registered names, and ``params`` that their builders take.

    The data decide the input and the classes, so ``input_shape``,
    ``input_tensor`` and ``num_classes`` are not experiment arguments. A
    builder with a ``check_params(params)`` attribute checks its own settings
    here too, before any data are read.
    """
    for name in architectures:
        if name not in _REGISTRY:
            raise ValueError(
                f"Invalid `model.architecture`: unknown model {name!r}{did_you_mean(name, _REGISTRY)}. "
                f"Registered: {', '.join(list_models())}"
            )
    accepted = set().union(*(model_info(a).accepted_arguments() for a in architectures)) - {
        "input_shape",
        "input_tensor",
        "num_classes",
    }
    for key in params:
        if key not in accepted:
            raise ValueError(
                f"Unknown key `model.params.{key}`{argument_hint(key, accepted)}: not an argument of "
                f"{', '.join(architectures)}. Allowed: {', '.join(sorted(accepted))}"
            )
    for name in architectures:  # a builder's own cheap checks of its settings (a transfer's backbone exists)
        check = getattr(model_info(name).builder, "check_params", None)
        if check is not None:
            check(params)


def _arguments(info: ModelInfo, kwargs: dict) -> dict:
    """``create_model``'s arguments checked and completed: ``None`` dropped, ``input_shape`` filled in."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None or k == "classifier_activation"}
    if "classes" in kwargs:  # keras.applications' name for it
        classes = kwargs.pop("classes")
        if kwargs.setdefault("num_classes", classes) != classes:
            raise ValueError(
                f"Invalid `classes` for model {info.name!r}: it is keras.applications' name for `num_classes`, "
                f"and both are given with different values. Received: classes={classes!r}, "
                f"num_classes={kwargs['num_classes']!r}"
            )
    accepted = info.accepted_arguments()
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise ValueError(
            f"Unknown argument `{unknown[0]}`{argument_hint(unknown[0], accepted)} for model {info.name!r}. "
            f"Accepted arguments: {', '.join(accepted)}. Received: {', '.join(f'{k}={kwargs[k]!r}' for k in unknown)}"
        )
    tensor = kwargs.get("input_tensor")
    if tensor is not None:  # keras.applications: the shape comes from the tensor; a different one is an error
        shape = tuple(getattr(tensor, "shape", (None,))[1:])
        if kwargs.get("input_shape") is not None and tuple(kwargs["input_shape"]) != shape:
            raise ValueError(
                f"Invalid `input_shape` for model {info.name!r}: input_tensor has shape {shape}. "
                f"Received: input_shape={tuple(kwargs['input_shape'])}"
            )
        kwargs["input_shape"] = shape
    if "input_shape" not in kwargs:
        kwargs["input_shape"] = _default_input_shape(info, kwargs)
    check_rank(info, kwargs["input_shape"])
    if info.keras_twin:
        _check_static_top(info, kwargs)
    return kwargs


def _include_top(info: ModelInfo, kwargs: dict) -> bool:
    return kwargs.get("include_top", info.defaults().get("include_top", False)) is not False


def _default_input_shape(info: ModelInfo, kwargs: dict) -> tuple:
    """The input when none is given: keras.applications' for a twin without its top, else the reference input.

    A twin with ``include_top=False`` takes any size, as keras.applications'
    does: ``(None, None, 3)``, the spatial sizes left to the data.
    """
    shape = tuple(info.default_input_shape)
    if info.keras_twin and not _include_top(info, kwargs):
        return (None,) * (len(shape) - 1) + shape[-1:]
    return shape


def _check_static_top(info: ModelInfo, kwargs: dict) -> None:
    """keras.applications' rule: a classifier top needs every spatial size (VGG's ``fc1`` is sized by it)."""
    shape = tuple(kwargs["input_shape"])
    if _include_top(info, kwargs) and None in shape[:-1]:
        raise ValueError(
            f"Invalid `input_shape` for model {info.name!r}: with include_top=True it needs a static input "
            'size, as in keras.applications ("If `include_top` is True, you should specify a static '
            '`input_shape`"); give every size, or include_top=False for a model of any size. '
            f"Received: input_shape={shape}"
        )


_RANK_SHAPES = {
    r: f"{name} {shape}" for (r, name), shape in zip(RANK_NAMES.items(), ("(L, C)", "(H, W, C)", "(D, H, W, C)"))
}


def check_rank(info: ModelInfo, input_shape) -> None:
    """Refuse an input whose rank the builder has no form for, naming the families that have one."""
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 2:
        return  # the builder's own input check names what is wrong
    rank = len(input_shape) - 1
    if rank in _RANK_SHAPES and rank not in info.ranks:
        families = sorted({i.family for i in _REGISTRY.values() if rank in i.ranks})
        raise ValueError(
            f"Invalid `input_shape` for model {info.name!r}: it builds only "
            f"{' and '.join(_RANK_SHAPES[r] for r in info.ranks)}, not {_RANK_SHAPES[rank]}; families "
            f"that build {RANK_NAMES[rank]}: {', '.join(families)}. "
            f"Received: input_shape={tuple(input_shape)}"
        )


def plan_model(name: str, /, **kwargs):
    """Validate ``create_model(name, **kwargs)`` and describe the model without building it.

    Returns:
        A :class:`~kerascnn.architectures._common.ModelPlan`, for every
        registered model: input shape, the checked layer specs (the whole
        stack of a sequential model, the downsampling path of a branching
        one), ``trace()``, ``count_params()`` and ``build()``. A sequential
        model's parameters are counted from its specs; a branching model's are
        known for its published configuration (``param_counts.json``) and
        otherwise counted by building it once per set of arguments in this
        process. ``weights`` is not looked at.

    Raises:
        ValueError: the same errors ``create_model`` raises, including an
            input too small for the model.
    """
    from kerascnn.architectures import _common

    info = model_info(name)
    kwargs = _arguments(info, kwargs)
    kwargs.pop("weights", None)
    plan_fn = getattr(info.builder, "plan", None)
    if plan_fn is None:  # a builder registered by a user, returning a keras.Model: planned by building it
        model = info.builder(**kwargs)
        return _common.ModelPlan(name, tuple(model.input_shape[1:]), None, (), lambda input_tensor: model)
    key = _count_key(info, kwargs)
    plan = plan_fn(**kwargs)
    if plan.specs is None:
        published = _common.PARAM_COUNTS if key == _count_key(info, {}) else {}
        plan = dataclasses.replace(plan, count_key=key, known_params=published.get(name))
    return plan


def _count_key(info: ModelInfo, kwargs: dict) -> str:
    """One string per distinct model: the builder's defaults completed by ``kwargs``."""
    arguments = {**info.defaults(), "input_shape": info.default_input_shape, **kwargs}
    arguments.pop("input_tensor", None)
    arguments["input_shape"] = tuple(arguments["input_shape"])
    return json.dumps([info.name, sorted(arguments.items())], default=repr)
