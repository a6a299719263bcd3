"""The experiment, typed: :class:`Experiment` and its sections, loaded from YAML and validated once.

Each field of the section dataclasses below carries its default and its rule
(:func:`setting`): they are the only defaults the kit has, and the only
description of what an experiment may say. Building an :class:`Experiment`
(from Python, or from a YAML mapping with :meth:`Experiment.from_dict` /
:func:`load`) checks every value; an unknown or misspelt key is refused with
its full path and a "did you mean"; a wrong type or value names what is
allowed.

What only other modules can judge (registry names, builder arguments, search
knobs, metric names) is checked by those modules, called once from the entry
(:func:`kerascnn.search.run.check_experiment`): this module imports nothing
of the kit above :mod:`kerascnn.validation`.

``to_dict()`` is the resolved experiment as the run directory's
``config.yaml`` holds it (same keys, same order), so runs made before the
typed form keep resuming.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

import yaml

from kerascnn import experiments
from kerascnn.validation import NAME_RULE, RANK_NAMES, check_name, did_you_mean, is_finite, is_int, is_number, shown

TUNERS = ("random", "bayesian", "hyperband", "grid")
PRUNING = ("none", "median")
#: Learning-rate schedules over a fit's epochs (``train.lr_schedule``).
LR_SCHEDULES = ("constant", "cosine")
#: Optimizer names an experiment may use -> their ``keras.optimizers`` class.
OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad"}
#: Optimizers that take ``train.momentum``.
MOMENTUM_OPTIMIZERS = ("sgd", "rmsprop")
SOURCES = (
    "digits",
    "mnist1d",
    "shapes3d",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "image_folder",
    "npz",
    "arrays",
)
#: What the arrays hold (``data.layout``): ``auto`` reads it off the shape where that leaves no doubt.
LAYOUTS = ("auto", *RANK_NAMES.values())
#: How long a refit trains (``search.refit_epochs``): the trial's best epoch, or every epoch of ``train.epochs``.
REFIT_EPOCHS = ("best", "all")
#: scikit-learn models scored beside the search on the same split (``search.baselines``).
BASELINES = ("svc", "logistic_regression", "mlp")


class ConfigError(ValueError):
    """An experiment that cannot run, with the key path in the message."""


# --- rules: (predicate, what is allowed) ----------------------------------------------------------------------
Rule = tuple[Callable[[Any], bool], str]


def _int(min_value: int | None = None) -> Rule:
    return (
        lambda v: is_int(v) and (min_value is None or v >= min_value),
        "an integer" + ("" if min_value is None else f" >= {min_value}"),
    )


def _frac(low_open: bool = True) -> Rule:
    return (
        lambda v: is_number(v) and (0 < v < 1 if low_open else 0 <= v < 1),
        "a number in (0, 1)" if low_open else "a number in [0, 1)",
    )


def _choice(options) -> Rule:
    return (lambda v: not isinstance(v, (list, dict)) and v in options, "one of " + ", ".join(map(repr, options)))


def _optional(rule: Rule) -> Rule:
    return (lambda v: v is None or rule[0](v), rule[1] + " or null")


def _is_name(v: Any) -> bool:
    try:
        return bool(check_name(v))
    except ValueError:
        return False


_STR: Rule = (lambda v: isinstance(v, str) and v != "", "a non-empty string")
_NAME: Rule = (_is_name, NAME_RULE)
_BOOL: Rule = (lambda v: isinstance(v, bool), "true or false")
_DICT: Rule = (lambda v: isinstance(v, dict), "a mapping")
_POS_NUM: Rule = (lambda v: is_finite(v) and v > 0, "a positive (finite) number")

#: ``data.augmentation``: a mapping of its own (only the keys given are saved), each key with its rule.
AUGMENTATION: dict[str, Rule] = {
    "flip": _optional(_choice(("horizontal", "vertical", "horizontal_and_vertical", "depth", "all"))),
    "rotation": _optional(_frac(low_open=False)),
    "translation": _optional(_frac(low_open=False)),
    "zoom": _optional(_frac(low_open=False)),
    "contrast": _optional(_frac(low_open=False)),
    "amplitude": _optional(_frac(low_open=False)),
    "noise": _optional((lambda v: is_number(v) and v >= 0, "a standard deviation >= 0")),
}


def setting(default: Any, rule: Rule | dict) -> Any:
    """A section field: its default (the kit's only one) and its rule (or a mapping's per-key rules)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata={"rule": rule})
    return field(default=default, metadata={"rule": rule})


def _check_mapping(value: Any, rules: dict[str, Rule], where: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"`{where}` must be a mapping with keys {', '.join(rules)}. Received: {where}={shown(value)}")
    for key, item in value.items():
        if key not in rules:
            raise ConfigError(
                f"Unknown key `{where}.{key}`{did_you_mean(key, rules)}. Allowed keys in {where}: {', '.join(rules)}"
            )
        if not rules[key][0](item):
            raise ConfigError(
                f"Invalid `{where}.{key}`: expected {rules[key][1]}. Received: {where}.{key}={shown(item)}"
            )


S = TypeVar("S", bound="Section")


class Section:
    """A section of the experiment: a frozen dataclass whose fields carry rules; checked when built."""

    _where = ""  # its key path, e.g. "search.constraints"

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            kind = _SECTIONS.get(str(f.type))
            if kind is not None and not isinstance(getattr(self, f.name), kind):  # Experiment(train={...})
                object.__setattr__(self, f.name, kind.from_dict(getattr(self, f.name)))
            value, rule = getattr(self, f.name), f.metadata.get("rule")
            where = f"{self._where}.{f.name}" if self._where else f.name
            if isinstance(rule, dict):
                _check_mapping(value, rule, where)
            elif rule is not None and not isinstance(value, Section) and not rule[0](value):
                raise ConfigError(f"Invalid `{where}`: expected {rule[1]}. Received: {where}={shown(value)}")

    @classmethod
    def from_dict(cls: type[S], raw: "Mapping | Section | None") -> S:
        """The section a YAML mapping describes: missing keys take their defaults, unknown keys are refused."""
        raw = {} if raw is None else raw
        if isinstance(raw, cls):
            return raw
        where = cls._where
        names = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
        if not isinstance(raw, Mapping):
            raise ConfigError(
                f"`{where}` must be a mapping with keys {', '.join(names)}. Received: {where}={shown(raw)}"
                if where
                else f"An experiment must be a mapping of sections ({', '.join(names)}); received {type(raw).__name__}"
            )
        values = {}
        for key, value in raw.items():
            if key not in names:
                path = f"{where}.{key}" if where else key
                raise ConfigError(
                    f"Unknown key `{path}`{did_you_mean(key, names)}. "
                    f"Allowed keys{' in ' + where if where else ''}: {', '.join(names)}"
                )
            kind = _SECTIONS.get(str(names[key].type))
            values[key] = kind.from_dict(value) if kind is not None else copy.deepcopy(value)
        return cls(**values)

    @classmethod
    def of(cls: type[S], value: "S | Mapping | None") -> S:
        """``value`` as this section: itself, a mapping checked and completed, or the defaults (``None``)."""
        return cls.from_dict(value)

    def to_dict(self) -> dict:
        """The section as YAML holds it (nested sections as mappings, field order kept)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class DataSettings(Section):
    """``data``: where the samples come from and how they are split, scaled and augmented."""

    _where = "data"
    source: str = setting("digits", _choice(SOURCES))
    path: str | None = setting(None, _optional(_STR))
    layout: str = setting("auto", _choice(LAYOUTS))
    validation_split: float = setting(0.15, _frac())
    test_split: float = setting(0.2, _frac(low_open=False))
    image_size: list = setting(
        [64, 64],
        (lambda v: isinstance(v, list) and len(v) == 2 and all(is_int(s) and s > 0 for s in v), "[height, width]"),
    )
    color_mode: str = setting("rgb", _choice(("rgb", "grayscale")))
    subset: int | None = setting(None, _optional(_int(2)))
    scale: Any = setting(
        "auto", (lambda v: v in ("auto", "none") or (is_number(v) and v > 0), "'auto', 'none' or a positive divisor")
    )
    allow_download: bool = setting(True, _BOOL)
    augmentation: dict = setting({}, AUGMENTATION)
    #: Image folders: decode once into a cache keyed by what produced it (true: under the Keras cache;
    #: a string: that folder), or decode every epoch (false).
    cache: Any = setting(True, (lambda v: isinstance(v, bool) or _STR[0](v), "true, false or a folder path"))
    x_key: str = setting("x", _STR)
    y_key: str = setting("y", _STR)
    skip_bad_images: bool = setting(False, _BOOL)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.source in ("image_folder", "npz") and not self.path:
            raise ConfigError(f"`data.path` is required for data.source={self.source!r}")


@dataclass(frozen=True)
class ModelSettings(Section):
    """``model``: the architecture(s) searched and fixed builder arguments."""

    _where = "model"
    architecture: Any = setting(
        "simple_cnn",
        (
            lambda v: isinstance(v, str) or (isinstance(v, list) and bool(v) and all(isinstance(s, str) for s in v)),
            "a registry name or a list of names",
        ),
    )
    params: dict = setting({}, _DICT)

    @property
    def architectures(self) -> list[str]:
        """``architecture`` as a list (one name or several to choose from)."""
        return [self.architecture] if isinstance(self.architecture, str) else list(self.architecture)


@dataclass(frozen=True)
class Constraints(Section):
    """``search.constraints``: what rejects a candidate before training, and when to stop drawing."""

    _where = "search.constraints"
    max_params: int | None = setting(None, _optional(_int(1)))
    max_rejections: int = setting(1000, _int(1))
    max_failures: int = setting(3, _int(1))


@dataclass(frozen=True)
class SearchSettings(Section):
    """``search``: the tuner, its budget and space, pruning, and what is made once it has chosen."""

    _where = "search"
    tuner: str = setting("random", _choice(TUNERS))
    max_trials: int = setting(10, _int(1))
    #: Wall-clock seconds for the whole command (search, refit, ensemble, results), planned by
    #: :mod:`kerascnn.budget`; ``null``: no limit but ``max_trials``.
    max_seconds: float | None = setting(None, _optional(_POS_NUM))
    objective: str = setting("val_f1_macro", _STR)
    space: dict = setting({}, _DICT)
    constraints: Constraints = field(default_factory=lambda: Constraints())
    executions_per_trial: int = setting(1, _int(1))
    hyperband_factor: int = setting(3, _int(2))
    worker_timeout: float = setting(600, _POS_NUM)
    pruning: str = setting("none", _choice(PRUNING))
    pruning_warmup_epochs: int = setting(5, _int(0))
    pruning_min_trials: int = setting(3, _int(1))
    refit: bool = setting(True, _BOOL)
    refit_seeds: int = setting(1, _int(1))
    refit_epochs: str = setting("best", _choice(REFIT_EPOCHS))
    ensemble: int = setting(
        0, (lambda v: is_int(v) and (v == 0 or v >= 2), "0 (off) or the number of top trials to average, >= 2")
    )
    cv_folds: int | None = setting(None, _optional(_int(2)))
    baselines: list = setting(
        ["svc"],
        (
            lambda v: (
                isinstance(v, list) and all(isinstance(b, str) and b in BASELINES for b in v) and len(set(v)) == len(v)
            ),
            "a list of distinct names from " + ", ".join(map(repr, BASELINES)),
        ),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.refit_seeds > 1 and not self.refit:
            raise ConfigError(
                f"`search.refit_seeds` ({self.refit_seeds}) averages refits of the best trial, so it "
                "needs `search.refit: true`. Set search.refit: true, or search.refit_seeds: 1."
            )


@dataclass(frozen=True)
class TrainSettings(Section):
    """``train``: how each candidate is trained (the searched training knobs start from these values)."""

    _where = "train"
    epochs: int = setting(10, _int(1))
    batch_size: int = setting(64, _int(1))
    optimizer: str = setting("adam", _choice(OPTIMIZERS))
    learning_rate: float = setting(0.001, _POS_NUM)
    lr_schedule: str = setting("constant", _choice(LR_SCHEDULES))
    momentum: float = setting(0.9, _frac(low_open=False))
    early_stopping: int | None = setting(None, _optional(_int(1)))
    verbose: int = setting(0, (lambda v: is_int(v) and v in (0, 1, 2), "one of 0, 1, 2"))
    mixed_precision: Any = setting(
        False,
        (
            lambda v: v in (True, False, "float16", "bfloat16") and not is_int(v),
            "false, true (bfloat16 where the GPU has it, else float16), 'float16' or 'bfloat16'",
        ),
    )
    jit_compile: Any = setting(
        "auto", (lambda v: v in ("auto", True, False) and not is_int(v), "'auto', true or false")
    )
    steps_per_execution: Any = setting(
        "auto",
        (
            lambda v: v == "auto" or (is_int(v) and v >= 1),
            "'auto' (1 on a CPU, a whole epoch per call on a GPU) or an integer >= 1",
        ),
    )
    profile_batch: Any = setting(
        0,
        (
            lambda v: (
                (is_int(v) and v >= 0)
                or (isinstance(v, list) and len(v) == 2 and all(is_int(b) and b >= 1 for b in v) and v[0] <= v[1])
            ),
            "0 (off), a batch number, or [first, last] batches",
        ),
    )
    strategy: str | None = setting(None, _optional(_choice(("mirrored",))))


@dataclass(frozen=True)
class Experiment(Section):
    """One experiment: what ``config.yaml`` in a run directory holds, typed.

    >>> Experiment().search.objective
    'val_f1_macro'
    >>> Experiment.from_dict({"train": {"epochs": 3}}).train.epochs
    3
    """

    name: str = setting("experiment", _NAME)
    seed: int = setting(0, _int(0))
    data: DataSettings = field(default_factory=lambda: DataSettings())
    model: ModelSettings = field(default_factory=lambda: ModelSettings())
    search: SearchSettings = field(default_factory=lambda: SearchSettings())
    train: TrainSettings = field(default_factory=lambda: TrainSettings())

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.search.cv_folds and self.train.strategy:
            raise ConfigError(
                f"`search.cv_folds` ({self.search.cv_folds}) and `train.strategy` "
                f"({self.train.strategy!r}) cannot be combined: each fold trains its own model "
                "outside keras-tuner's distribution scope. Set one of them to null."
            )

    def replace(self, **sections: Any) -> "Experiment":
        """A copy with whole sections or top-level values replaced (checked again)."""
        return dataclasses.replace(self, **sections)


#: Field type names (``from __future__ import annotations`` keeps them as strings) -> their section class.
_SECTIONS: dict[str, type[Section]] = {
    "DataSettings": DataSettings,
    "ModelSettings": ModelSettings,
    "SearchSettings": SearchSettings,
    "TrainSettings": TrainSettings,
    "Constraints": Constraints,
    "'Constraints'": Constraints,
}

#: The defaults as a mapping, read off the dataclasses (their one home), for code that merges mappings.
DEFAULTS: dict = Experiment().to_dict()


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader reading ``1e-3`` as a number.

    PyYAML follows YAML 1.1, where a float needs a dot (``1.0e-3``), so the
    usual way to write a learning rate would arrive as the string ``"1e-3"``.
    This is YAML 1.2's float rule.
    """


_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                   |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                   |\.[0-9_]+(?:[eE][-+][0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)
                   |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


#: The most values an experiment may hold once YAML's aliases (``*name``) are expanded: a real experiment holds
#: a few hundred; a 500-byte "billion laughs" file holds billions.
MAX_YAML_VALUES = 100_000


def yaml_load(text: str) -> Any:
    """YAML as experiment files mean it (``1e-3`` is a number); refuses alias bombs before building anything."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        values = _expanded_size(node, {})
        if values > MAX_YAML_VALUES:
            raise ConfigError(
                f"the YAML holds {values:,} values once its aliases (*name) are expanded, more than the "
                f"{MAX_YAML_VALUES:,} an experiment may hold: write the values out instead of nesting aliases"
            )
        return loader.construct_document(node)
    except RecursionError:
        raise ConfigError("the YAML is nested too deeply to be an experiment") from None
    finally:
        loader.dispose()


def _expanded_size(node, seen: dict) -> int:
    """How many values ``node`` stands for with every alias expanded (each shared node counted once per use)."""
    if id(node) in seen:
        return seen[id(node)]
    seen[id(node)] = 1  # a node that contains itself (a recursive alias) counts once
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, seen) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, seen) + _expanded_size(v, seen) for k, v in node.value)
    else:
        size = 1
    seen[id(node)] = size
    return size


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ("params", "space"):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def with_defaults(raw: dict) -> dict:
    """``raw`` with every missing key filled from the defaults (no validation): how a saved config compares."""
    return _merge(DEFAULTS, raw)


def resolve(raw: "Mapping | Experiment | None") -> Experiment:
    """The :class:`Experiment` a raw mapping describes (checked, defaults filled in); an Experiment as it is."""
    return Experiment.from_dict(raw)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.epochs=3"`` -> ``(["train", "epochs"], 3)``; the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"Invalid --set {text!r}: expected key.path=value, e.g. train.epochs=3")
    key, value = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"Invalid --set {text!r}: empty key path")
    try:
        return path, yaml_load(value) if value.strip() else None
    except ConfigError as err:
        raise ConfigError(f"Invalid --set {text[:80]!r}: {err}") from None
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(
            f"Invalid --set {text!r}: the value is not valid YAML ({problem}); quote strings "
            'and write lists as [a, b], e.g. --set search.space.kernel_size="[3, 5]"'
        ) from None


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``--set key.path=value`` strings to a raw experiment mapping."""
    raw = copy.deepcopy(raw or {})
    if not isinstance(raw, dict):
        raise ConfigError(
            f"An experiment must be a mapping of sections (name, data, model, search, train); "
            f"received a {type(raw).__name__}"
        )
    for text in overrides or []:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"Invalid --set {text!r}: {part} is not a section")
        node[path[-1]] = value
    return raw


def load(path: str | Path, overrides: list[str] | None = None) -> Experiment:
    """Read an experiment file, apply overrides, and return the checked :class:`Experiment`.

    ``path`` is a YAML file, or the name of an experiment that ships with the
    kit (``digits``, ``mnist1d``...: :mod:`kerascnn.experiments`), found from
    any folder; a file of that name in the current folder wins.
    """
    path = Path(path)
    shipped = experiments.path(str(path))
    if not path.is_file() and shipped is not None:
        path = shipped
    if not path.is_file():
        raise ConfigError(
            f"Experiment file not found: {path} (the experiments that ship with the kit: "
            f"{', '.join(experiments.names())}; `kerascnn experiments` lists them)"
        )
    try:
        raw = yaml_load(path.read_text())
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a text file: an experiment is a YAML file") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: an experiment must be a mapping of sections (name, data, model, search, "
            f"train); the file holds a {type(raw).__name__}"
        )
    return Experiment.from_dict(apply_overrides(raw or {}, overrides or []))
