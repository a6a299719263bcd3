"""Experiment files: load YAML, apply ``--set`` overrides, validate, resolve, save.

The schema below is the single description of what an experiment may say.
Validation runs before any data is loaded or model built: an unknown or
misspelt key is refused with its full path and a "did you mean"; a wrong type
or value names what is allowed. The resolved config (defaults filled in) is
what gets saved into the run directory.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from kerascnn import rundir
from kerascnn.validation import did_you_mean, is_int, is_number

TUNERS = ("random", "bayesian", "hyperband", "grid")
PRUNING = ("none", "median")
#: Learning-rate schedules over a fit's epochs (``train.lr_schedule``).
LR_SCHEDULES = ("constant", "cosine")
#: Optimizer names an experiment may use -> their ``keras.optimizers`` class.
OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad"}
#: Optimizers that take ``train.momentum``.
MOMENTUM_OPTIMIZERS = ("sgd", "rmsprop")
SOURCES = ("digits", "mnist1d", "shapes3d", "mnist", "fashion_mnist", "cifar10", "cifar100", "image_folder", "npz",
           "arrays")
#: What the arrays hold (``data.layout``): ``auto`` reads it off the shape where that leaves no doubt.
LAYOUTS = ("auto", "signals", "images", "volumes")
#: How long a refit trains (``search.refit_epochs``): the trial's best epoch, or every epoch of ``train.epochs``.
REFIT_EPOCHS = ("best", "all")
#: scikit-learn models scored beside the search on the same split (``search.baselines``).
BASELINES = ("svc", "logistic_regression", "mlp")

DATA_DEFAULTS = {
    "source": "digits",
    "path": None,
    "layout": "auto",
    "validation_split": 0.15,
    "test_split": 0.2,
    "image_size": [64, 64],
    "color_mode": "rgb",
    "subset": None,
    "scale": "auto",
    "allow_download": True,
    "augmentation": {},
    "cache": True,
    "x_key": "x",
    "y_key": "y",
    "skip_bad_images": False,
}

DEFAULTS = {
    "name": "experiment",
    "seed": 0,
    "data": DATA_DEFAULTS,
    "model": {"architecture": "simple_cnn", "params": {}},
    "search": {
        "tuner": "random",
        "max_trials": 10,
        "objective": "val_f1_macro",
        "space": {},
        "constraints": {"max_params": None, "max_rejections": 1000},
        "executions_per_trial": 1,
        "hyperband_factor": 3,
        "worker_timeout": 600,
        "pruning": "none",
        "pruning_warmup_epochs": 5,
        "pruning_min_trials": 3,
        "refit": True,
        "refit_seeds": 1,
        "refit_epochs": "best",
        "ensemble": 0,
        "cv_folds": None,
        "baselines": ["svc"],
    },
    "train": {
        "epochs": 10,
        "batch_size": 64,
        "optimizer": "adam",
        "learning_rate": 0.001,
        "lr_schedule": "constant",
        "momentum": 0.9,
        "early_stopping": None,
        "verbose": 0,
        "mixed_precision": False,
        "jit_compile": "auto",
        "steps_per_execution": "auto",
        "profile_batch": 0,
        "strategy": None,
    },
}


class ConfigError(ValueError):
    """An experiment file that cannot run, with the key path in the message."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader reading ``1e-3`` as a number.

    PyYAML follows YAML 1.1, where a float needs a dot (``1.0e-3``), so the
    usual way to write a learning rate would arrive as the string ``"1e-3"``.
    This is YAML 1.2's float rule.
    """


_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                   |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                   |\.[0-9_]+(?:[eE][-+][0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)
                   |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def yaml_load(text: str):
    """YAML as experiment files mean it (``1e-3`` is a number)."""
    return yaml.load(text, Loader=_Loader)


# --- tiny type checkers: (predicate, description) -------------------------------
def _int(min_value=None):
    return (lambda v: is_int(v) and (min_value is None or v >= min_value),
            "an integer" + ("" if min_value is None else f" >= {min_value}"))


def _frac(low_open=True):
    return (lambda v: is_number(v) and (0 < v < 1 if low_open else 0 <= v < 1),
            "a number in (0, 1)" if low_open else "a number in [0, 1)")


def _choice(options):
    return (lambda v: v in options, "one of " + ", ".join(map(repr, options)))


def _optional(check):
    return (lambda v: v is None or check[0](v), check[1] + " or null")


_STR = (lambda v: isinstance(v, str) and v != "", "a non-empty string")


def _is_name(v):
    try:
        return bool(rundir.check_name(v))
    except ValueError:
        return False


_NAME = (_is_name, rundir.NAME_RULE)
_BOOL = (lambda v: isinstance(v, bool), "true or false")
_DICT = (lambda v: isinstance(v, dict), "a mapping")
_POS_NUM = (lambda v: is_number(v) and v > 0, "a positive number")

SCHEMA = {
    "name": _NAME,
    "seed": _int(0),
    "data": {
        "source": _choice(SOURCES),
        "path": _optional(_STR),
        "layout": _choice(LAYOUTS),
        "validation_split": _frac(),
        "test_split": _frac(low_open=False),
        "image_size": (lambda v: isinstance(v, list) and len(v) == 2 and all(is_int(s) and s > 0 for s in v),
                       "[height, width]"),
        "color_mode": _choice(("rgb", "grayscale")),
        "subset": _optional(_int(2)),
        "scale": (lambda v: v in ("auto", "none") or (is_number(v) and v > 0), "'auto', 'none' or a positive divisor"),
        "allow_download": _BOOL,
        "augmentation": {
            "flip": _optional(_choice(("horizontal", "vertical", "horizontal_and_vertical", "depth", "all"))),
            "rotation": _optional(_frac(low_open=False)),
            "translation": _optional(_frac(low_open=False)),
            "zoom": _optional(_frac(low_open=False)),
            "contrast": _optional(_frac(low_open=False)),
            "amplitude": _optional(_frac(low_open=False)),
            "noise": _optional((lambda v: is_number(v) and v >= 0, "a standard deviation >= 0")),
        },
        "cache": _BOOL,
        "x_key": _STR,
        "y_key": _STR,
        "skip_bad_images": _BOOL,
    },
    "model": {
        "architecture": (lambda v: isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(s, str) for s in v)),
                         "a registry name or a list of names"),
        "params": _DICT,
    },
    "search": {
        "tuner": _choice(TUNERS),
        "max_trials": _int(1),
        "objective": _STR,
        "space": _DICT,
        "constraints": {"max_params": _optional(_int(1)), "max_rejections": _int(1)},
        "executions_per_trial": _int(1),
        "hyperband_factor": _int(2),
        "worker_timeout": _POS_NUM,
        "pruning": _choice(PRUNING),
        "pruning_warmup_epochs": _int(0),
        "pruning_min_trials": _int(1),
        "refit": _BOOL,
        "refit_seeds": _int(1),
        "refit_epochs": _choice(REFIT_EPOCHS),
        "ensemble": (lambda v: is_int(v) and (v == 0 or v >= 2),
                     "0 (off) or the number of top trials to average, >= 2"),
        "cv_folds": _optional(_int(2)),
        "baselines": (lambda v: isinstance(v, list) and len(set(v)) == len(v) and all(b in BASELINES for b in v),
                      "a list of distinct names from " + ", ".join(map(repr, BASELINES))),
    },
    "train": {
        "epochs": _int(1),
        "batch_size": _int(1),
        "optimizer": _choice(OPTIMIZERS),
        "learning_rate": _POS_NUM,
        "lr_schedule": _choice(LR_SCHEDULES),
        "momentum": _frac(low_open=False),
        "early_stopping": _optional(_int(1)),
        "verbose": _choice((0, 1, 2)),
        "mixed_precision": (lambda v: v in (True, False, "float16", "bfloat16") and not is_int(v),
                            "false, true (bfloat16 where the GPU has it, else float16), 'float16' or 'bfloat16'"),
        "jit_compile": (lambda v: v in ("auto", True, False) and not is_int(v), "'auto', true or false"),
        "steps_per_execution": (lambda v: v == "auto" or (is_int(v) and v >= 1),
                                "'auto' (1 on a CPU, a whole epoch per call on a GPU) or an integer >= 1"),
        "profile_batch": (lambda v: (is_int(v) and v >= 0) or (isinstance(v, list) and len(v) == 2
                                     and all(is_int(b) and b >= 1 for b in v) and v[0] <= v[1]),
                          "0 (off), a batch number, or [first, last] batches"),
        "strategy": _optional(_choice(("mirrored",))),
    },
}


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ("params", "space"):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _validate(config: dict, schema: dict, path: str = "") -> None:
    for key, value in config.items():
        where = f"{path}{key}"
        if key not in schema:
            raise ConfigError(f"Unknown key `{where}`{did_you_mean(key, schema)}. "
                              f"Allowed keys{' in ' + path.rstrip('.') if path else ''}: {', '.join(schema)}")
        rule = schema[key]
        if isinstance(rule, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"`{where}` must be a mapping with keys {', '.join(rule)}. Received: {where}={value!r}")
            _validate(value, rule, where + ".")
        elif not rule[0](value):
            raise ConfigError(f"Invalid `{where}`: expected {rule[1]}. Received: {where}={value!r}")


def with_defaults(raw: dict) -> dict:
    """``raw`` with every missing key filled from :data:`DEFAULTS` (no validation)."""
    return _merge(DEFAULTS, raw)


def resolve(raw: dict | None) -> dict:
    """Validate a raw experiment dict and fill in defaults.

    Checks the registry names, fixed builder params, search space knobs and
    objective too, so a typo anywhere fails before data is loaded.
    """
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"An experiment must be a mapping of sections; received {type(raw).__name__}")
    _validate(raw, SCHEMA)
    config = _merge(DEFAULTS, raw)
    _check_semantics(config)
    return config


def _check_semantics(config: dict) -> None:
    from kerascnn.architectures import list_models, model_info
    from kerascnn.architectures.registry import argument_hint
    from kerascnn.evaluation.metrics import objective_names
    from kerascnn.search.space import check_space

    archs = config["model"]["architecture"]
    archs = [archs] if isinstance(archs, str) else archs
    for name in archs:
        if name not in list_models():
            raise ConfigError(f"Invalid `model.architecture`: unknown model {name!r}{did_you_mean(name, list_models())}. "
                              f"Registered: {', '.join(list_models())}")
    for key in config["model"]["params"]:
        # the data decides the input and the classes; weights and input tensors are Python objects, not YAML
        accepted = (set().union(*(model_info(a).accepted_arguments() for a in archs))
                    - {"input_shape", "input_tensor", "num_classes"})
        if key not in accepted:
            raise ConfigError(f"Unknown key `model.params.{key}`{argument_hint(key, accepted)}: not an argument of "
                              f"{', '.join(archs)}. Allowed: {', '.join(sorted(accepted))}")
    try:
        check_space(config["search"]["space"], archs)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    objective = config["search"]["objective"]
    if objective not in objective_names():
        raise ConfigError(f"Invalid `search.objective`{did_you_mean(objective, objective_names())}: "
                          f"allowed objectives are {', '.join(objective_names())}. Received: search.objective={objective!r}")
    search = config["search"]
    if search["cv_folds"] and config["train"]["strategy"]:
        raise ConfigError(f"`search.cv_folds` ({search['cv_folds']}) and `train.strategy` "
                          f"({config['train']['strategy']!r}) cannot be combined: each fold trains its own model "
                          "outside keras-tuner's distribution scope. Set one of them to null.")
    if search["refit_seeds"] > 1 and not search["refit"]:
        raise ConfigError(f"`search.refit_seeds` ({search['refit_seeds']}) averages refits of the best trial, so it "
                          "needs `search.refit: true`. Set search.refit: true, or search.refit_seeds: 1.")
    data = config["data"]
    if data["source"] in ("image_folder", "npz") and not data["path"]:
        raise ConfigError(f"`data.path` is required for data.source={data['source']!r}")


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
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"Invalid --set {text!r}: the value is not valid YAML ({problem}); quote strings "
                          "and write lists as [a, b], e.g. --set search.space.kernel_size=\"[3, 5]\"") from None


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``--set key.path=value`` strings to a raw experiment dict."""
    raw = copy.deepcopy(raw or {})
    if not isinstance(raw, dict):
        raise ConfigError(f"An experiment must be a mapping of sections (name, data, model, search, train); "
                          f"received a {type(raw).__name__}")
    for text in overrides or []:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"Invalid --set {text!r}: {part} is not a section")
        node[path[-1]] = value
    return raw


def load(path: str | Path, overrides: list[str] | None = None) -> dict:
    """Read an experiment file, apply overrides, validate and resolve it.

    ``path`` is a YAML file, or the name of an experiment that ships with the
    kit (``digits``, ``mnist1d``...: :mod:`kerascnn.experiments`), found from
    any folder; a file of that name in the current folder wins.
    """
    from kerascnn import experiments

    path = Path(path)
    if not path.is_file() and experiments.path(str(path)) is not None:
        path = experiments.path(str(path))
    if not path.is_file():
        raise ConfigError(f"Experiment file not found: {path} (the experiments that ship with the kit: "
                          f"{', '.join(experiments.names())}; `kerascnn experiments` lists them)")
    try:
        raw = yaml_load(path.read_text())
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a text file: an experiment is a YAML file") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: an experiment must be a mapping of sections (name, data, model, search, "
                          f"train); the file holds a {type(raw).__name__}")
    return resolve(apply_overrides(raw or {}, overrides or []))


def save(config: dict, path: str | Path) -> None:
    """Write a resolved config atomically, as the run directory's ``config.yaml``."""
    rundir.write_config(Path(path), config)
