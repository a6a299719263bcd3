"""``CNNHyperModel``: every registry architecture and layer variant as a keras-tuner HyperModel.

Usable with any keras-tuner tuner in your own script::

    hypermodel = CNNHyperModel((8, 8, 1), 10, kernel_size=[3, 5], filters=None)
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=5)
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=3)

Knob settings follow :mod:`kerascnn.search.space` (``None`` tuned, a value
fixed, a list or range replacing the default space). Knobs of one
architecture live in ``hp.conditional_scope("architecture", [name])`` and a
conv block's knobs in ``hp.conditional_scope("conv_layers", ...)``, so a
trial records only the knobs that applied to it.
"""

from __future__ import annotations

import copy
import functools
import json
from collections import OrderedDict
from contextlib import nullcontext
from dataclasses import dataclass, field

import keras
import keras_tuner as kt

from kerascnn import device
from kerascnn.architectures import model_info, plan_model
from kerascnn.architectures._common import InputTooSmall, ModelPlan
from kerascnn.architectures.registry import check_rank
from kerascnn.config import MOMENTUM_OPTIMIZERS, OPTIMIZERS, Experiment, TrainSettings
from kerascnn.evaluation.metrics import ClassAccuracy, ClassCrossentropy
from kerascnn.search import training
from kerascnn.search.space import KNOBS, LAYER_KNOBS, check_space, check_space_rank, declare, decode

#: Training knobs whose unsearched value comes from ``train`` (:class:`kerascnn.config.TrainSettings`).
TRAIN_KNOBS = ("optimizer", "learning_rate", "momentum", "batch_size", "epochs")
#: The experiment's defaults (their one home: :mod:`kerascnn.config`): architecture and objective.
_DEFAULT = Experiment()
#: Candidates kept resolved per hypermodel (a trial's check, build, fit and refit share one).
_CANDIDATES_KEPT = 32


@dataclass(frozen=True)
class Rejection:
    """Why a candidate is not trained: its kind (what ``summary.json`` counts) and the full reason."""

    COLLAPSE, BUDGET, INVALID = "feature map collapses", "over parameter budget", "invalid arguments"

    kind: str
    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Candidate:
    """One candidate, resolved once: what the search's check made and build, fit and refit reuse.

    ``plan`` is the checked, unbuilt model (:class:`~kerascnn.architectures._common.ModelPlan`):
    its geometry was traced by the check, and :meth:`CNNHyperModel.build` builds from it.
    """

    architecture: str
    arguments: dict  # builder arguments: model.params as given, searched knobs from the hyperparameters
    training: dict  # optimizer, learning_rate, momentum, batch_size, epochs, lr_schedule, augment
    plan: ModelPlan = field(repr=False)


def _key(hp) -> str:
    """A candidate's identity: its hyperparameter values, and the space ``hp`` already declares.

    The space is part of it because keras-tuner learns the space from what
    :meth:`CNNHyperModel.build` declares: an ``hp`` that lacks it is resolved
    (declared into) again, not served from the cache.
    """
    return json.dumps([sorted(hp.values.items()), sorted(h.name for h in hp.space)], default=repr)


class CNNHyperModel(kt.HyperModel):
    """Build CNNs from the registry with tuned knobs.

    Args:
        input_shape: ``channels_last`` input shape, e.g. ``(8, 8, 1)``.
        num_classes: output classes (softmax head).
        architecture: a registry name, or a list of names to choose from (default: the experiment's, simple_cnn).
        space: knob -> setting (see :mod:`kerascnn.search.space`).
        params: fixed builder arguments (``{"conv_layers": 3}``) for knobs not searched.
        tune_unlisted: tune every applicable knob missing from ``space`` over
            its default space (the AutoKeras default, ``True``); ``False``
            leaves them to ``params`` and the builder's defaults (experiment files).
        train: the experiment's ``train`` section (:class:`kerascnn.config.TrainSettings`, or a
            mapping of its keys): ``optimizer``, ``learning_rate``, ``momentum``, ``batch_size`` and
            ``epochs`` when not searched, ``lr_schedule`` (see
            :class:`~kerascnn.search.training.CosineAnnealing`) for every fit.
        augmentation: ``data.augmentation`` settings; applied when the
            ``augment`` knob is on (always, if it is not searched).
        data: a :class:`kerascnn.data.Dataset`, used by :meth:`fit` when no
            arrays are passed.
        replicas: devices of ``train.strategy: mirrored`` (``tf.distribute`` or
            ``keras.distribution``); the batch size is per replica, so each
            step takes ``batch_size * replicas`` samples.
        cv_folds: score each candidate by stratified K-fold cross-validation
            over ``data``'s train+validation samples (see :meth:`fit`);
            ``objective`` gets its standard deviation over the folds too.
        **knobs: knob settings, merged into ``space``.
    """

    def __init__(
        self,
        input_shape,
        num_classes,
        architecture=None,
        *,
        space=None,
        params=None,
        tune_unlisted=True,
        train=None,
        augmentation=None,
        data=None,
        seed=0,
        replicas=1,
        cv_folds=None,
        objective=None,
        name=None,
        _space_checked=False,
        **knobs,
    ):
        super().__init__(name=name, tunable=True)
        self.input_shape, self.num_classes = tuple(input_shape), int(num_classes)
        architecture = _DEFAULT.model.architecture if architecture is None else architecture
        self.architectures = [architecture] if isinstance(architecture, str) else list(architecture)
        for arch in self.architectures:  # unknown names, and a rank the family has no form for, fail here
            check_rank(model_info(arch), self.input_shape)
        self.space = {**(space or {}), **knobs}
        if not _space_checked:  # an experiment's space was checked at the run's entry (check_experiment)
            check_space(self.space, self.architectures)
        self.params = dict(params or {})
        self.tune_unlisted = tune_unlisted
        self.train = TrainSettings.of(train)
        self.augmentation, self.data, self.seed = dict(augmentation or {}), data, seed
        self.rank = len(self.input_shape) - 1
        if self.augmentation:  # a setting the data's rank has no form for fails now, not in the first trial
            from kerascnn.data import augmentation_layers

            augmentation_layers(self.augmentation, seed=seed, rank=self.rank)
        check_space_rank(self.space, self.rank)
        self.replicas = replicas  # mirrored replicas: batch_size is per replica
        self.progress = False  # run_search turns on the kit's progress line inside each fit
        self.cv_folds, self.objective = cv_folds, _DEFAULT.search.objective if objective is None else objective
        self._candidates: OrderedDict[str, Candidate] = OrderedDict()
        self._kit_names: set[str] = set()  # the hyperparameters this hypermodel declared (a subclass's must differ)

    def __init_subclass__(cls, **kwargs):
        """A subclass's own ``build``/``fit`` (keras-tuner's guides) get an ``hp`` that refuses the kit's names.

        Otherwise ``hp.Choice("batch_size", [32, 96])`` after ``super().build(hp)``
        would silently return the kit's ``batch_size``, and 96 would never be tried.
        """
        super().__init_subclass__(**kwargs)
        for method in ("build", "fit"):
            if method in cls.__dict__:
                setattr(cls, method, _with_user_hp(cls.__dict__[method]))

    @classmethod
    def for_experiment(cls, experiment, dataset, replicas: int = 1) -> "CNNHyperModel":
        """The hypermodel of a checked experiment (:func:`kerascnn.search.run.check_experiment`) on ``dataset``.

        Takes the typed sections as they are: the space is not checked a second time.
        """
        return cls(
            dataset.input_shape,
            dataset.num_classes,
            experiment.model.architecture,
            space=experiment.search.space,
            params=experiment.model.params,
            tune_unlisted=False,
            train=experiment.train,
            augmentation=experiment.data.augmentation,
            data=dataset,
            seed=experiment.seed,
            replicas=replicas,
            cv_folds=experiment.search.cv_folds,
            objective=experiment.search.objective,
            _space_checked=True,
        )

    # ----- knob resolution (shared by build and the candidate check) -----
    def _knob(self, hp, name, knob, fallback):
        """Declare ``knob`` if it is searched, else return the fixed value."""
        if knob in self.space:
            return decode(knob, declare(hp, name, knob, self.space[knob], default=fallback))
        if self.tune_unlisted:
            return decode(knob, declare(hp, name, knob, None, default=fallback))
        return fallback

    def _searched(self, knob):
        return knob in self.space or self.tune_unlisted

    def candidate(self, hp) -> Candidate:
        """The candidate ``hp`` describes, resolved and planned once (then reused for the same values).

        Declares the hyperparameters into ``hp`` the first time (keras-tuner
        learns the space from that), checks the builder arguments and traces
        the geometry (:func:`kerascnn.plan_model`); raises ``ValueError``
        (:class:`~kerascnn.architectures._common.InputTooSmall` for a
        collapsing feature map) if it cannot be built.
        """
        hp = getattr(hp, "kit_hp", hp)
        key = _key(hp)
        found = self._candidates.get(key)
        if found is not None:
            self._candidates.move_to_end(key)
            return found
        before = {h.name for h in hp.space}
        arch, kwargs, training = self.resolve(hp)
        self._kit_names.update({h.name for h in hp.space} - before)
        plan = plan_model(arch, input_shape=self.input_shape, num_classes=self.num_classes, **kwargs)
        made = Candidate(arch, kwargs, training, plan)
        self._candidates[_key(hp)] = made  # as declared: the key a trial's build and fit will ask with
        while len(self._candidates) > _CANDIDATES_KEPT:
            self._candidates.popitem(last=False)
        return made

    def resolve(self, hp):
        """Declare the hyperparameters of one candidate into ``hp``; ``(architecture, builder arguments, training)``.

        Not checked against the input (:meth:`candidate` plans it too).
        """
        if len(self.architectures) > 1:
            arch = hp.Choice("architecture", self.architectures, default=self.architectures[0])
            with hp.conditional_scope("architecture", [arch]), hp.name_scope(arch):
                kwargs = self._arch_kwargs(hp, arch)
        else:
            arch = self.architectures[0]
            kwargs = self._arch_kwargs(hp, arch)
        return arch, kwargs, self._training(hp)

    def _arch_kwargs(self, hp, arch):
        """Builder arguments of one candidate: ``params`` as given, searched knobs from ``hp``.

        A searched knob's default (keras-tuner's first candidate) is the
        builder's own (:meth:`ModelInfo.defaults`) unless ``params`` sets it.
        """
        info = model_info(arch)
        accepted = set(info.accepted_arguments())
        params = {k: v for k, v in self.params.items() if k in accepted}
        if info.blocks is not None:
            return self._per_block_kwargs(hp, info, params)
        defaults = {**info.defaults(), **params}
        for knob in KNOBS:
            if KNOBS[knob].scope in ("layer", "model") and knob in accepted and self._searched(knob):
                params[knob] = self._knob(hp, knob, knob, defaults.get(knob))
        return params

    def _per_block_kwargs(self, hp, info, params):
        """A family with per-block settings (simple_cnn): the number of blocks, then each block's knobs.

        Each block's defaults come from the builder's own rule
        (``ModelInfo.blocks``: simple_cnn doubles ``filters`` at each block).
        """
        defaults = {**info.defaults(), **params}
        fixed = defaults["conv_layers"]
        given = list(fixed) if isinstance(fixed, list) else None  # per-block dicts in model.params
        if given is None and self._searched("conv_layers"):
            count = self._knob(hp, "conv_layers", "conv_layers", fixed)
            depths = _possible_values(self.space.get("conv_layers", KNOBS["conv_layers"].space), count)
        else:
            count = len(given) if given else fixed
            depths = [count]
        block_defaults = info.blocks({**defaults, "conv_layers": given or count})
        layers = []
        for i, block in enumerate(block_defaults, start=1):
            layer = dict(given[i - 1]) if given else {}
            # block i exists only when conv_layers >= i: its knobs are recorded only then
            scope = (
                hp.conditional_scope("conv_layers", [d for d in depths if d >= i]) if len(depths) > 1 else nullcontext()
            )
            with scope, hp.name_scope(f"block{i}"):
                for knob in LAYER_KNOBS:
                    if self._searched(knob) and knob in block:
                        layer[knob] = self._knob(hp, knob, knob, block[knob])
            layers.append(layer)
        kwargs = {k: v for k, v in params.items() if k != "conv_layers"}
        kwargs["conv_layers"] = layers
        for knob in KNOBS:
            if KNOBS[knob].scope == "model" and knob != "conv_layers" and knob in defaults and self._searched(knob):
                kwargs[knob] = self._knob(hp, knob, knob, defaults[knob])
        return kwargs

    def _training(self, hp):
        t = {k: getattr(self.train, k) for k in (*TRAIN_KNOBS, "lr_schedule")}
        t["optimizer"] = self._knob(hp, "optimizer", "optimizer", t["optimizer"])
        t["learning_rate"] = self._knob(hp, "learning_rate", "learning_rate", t["learning_rate"])
        if t["optimizer"] in MOMENTUM_OPTIMIZERS and self._searched("momentum"):
            scope = (
                hp.conditional_scope("optimizer", list(MOMENTUM_OPTIMIZERS))
                if self._searched("optimizer")
                else nullcontext()
            )
            with scope:
                t["momentum"] = self._knob(hp, "momentum", "momentum", t["momentum"])
        t["batch_size"] = self._knob(hp, "batch_size", "batch_size", t["batch_size"])
        t["augment"] = bool(self.augmentation) and (
            self._knob(hp, "augment", "augment", False) if self._searched("augment") else True
        )
        return t

    # ----- the candidate check used by the search's oracle -----
    def check_candidate(self, hp, max_params=None) -> "Rejection | None":
        """``None`` if the candidate can be built within budget, else the :class:`Rejection`.

        Works on the unbuilt plan (:func:`kerascnn.plan_model`): no weights are
        allocated for a rejected candidate. An accepted one stays resolved for
        the trial's build and fit (:meth:`candidate`).
        """
        try:
            plan = self.candidate(copy.deepcopy(hp)).plan
        except InputTooSmall as err:
            return Rejection(Rejection.COLLAPSE, f"invalid: {err}")
        except ValueError as err:
            return Rejection(Rejection.INVALID, f"invalid: {err}")
        if max_params:
            params = plan.count_params()
            if not plan.exact and plan.known_params is None:  # a branching model was built to be counted
                keras.backend.clear_session()
            if params > max_params:
                return Rejection(
                    Rejection.BUDGET, f"over budget: {params:,} parameters > constraints.max_params={max_params:,}"
                )
        return None

    def check_defaults(self) -> None:
        """Raise ``ValueError`` if the default candidate (every knob at its default) cannot be built.

        keras-tuner builds that candidate before the first trial, so a fixed
        setting that breaks it is an error in the experiment, not a rejection.
        """
        self.candidate(kt.HyperParameters())

    # ----- keras-tuner API -----
    def build(self, hp):
        hp = getattr(hp, "kit_hp", hp)
        made = self.candidate(hp)
        arch, training = made.architecture, made.training
        model = made.plan.build()
        if training["augment"] and self.augmentation:
            from kerascnn.data import augmentation_layers

            inputs = keras.Input(self.input_shape, name="image")
            x = inputs
            for layer in augmentation_layers(self.augmentation, seed=self.seed, rank=self.rank):
                x = layer(x)
            model = keras.Model(inputs, model(x), name=f"{arch}_augmented")
        self._compile(model, training)
        return model

    def _compile(self, model, training):
        """Compile with the (possibly tuned) optimizer; override to change loss or metrics."""
        opt_cls = getattr(keras.optimizers, OPTIMIZERS[training["optimizer"]])
        kwargs = {"learning_rate": training["learning_rate"]}
        if training["optimizer"] in MOMENTUM_OPTIMIZERS:
            kwargs["momentum"] = training["momentum"]
        # Every variable is created now, eagerly: the metric as an instance (not the string "accuracy",
        # which Keras turns into a metric inside its traced build step) and the optimizer's slots.
        # Otherwise memory grows trial after trial (see kerascnn/memory.py).
        model.compile(
            optimizer=opt_cls(**kwargs),
            loss=ClassCrossentropy(),  # integer labels or one-hot rows, as keras-tuner's guides pass them
            metrics=[ClassAccuracy(name="accuracy")],
            jit_compile=device.jit_compile(self.train),
            steps_per_execution=device.steps_per_execution(self.train, self._steps_per_epoch(training)),
        )
        model.optimizer.build(model.trainable_variables)

    def _steps_per_epoch(self, training) -> int:
        if self.data is None:
            return 1
        return -(-len(self.data.y_train) // (training["batch_size"] * self.replicas))

    def fit(self, hp, model, *args, trial_log=None, **kwargs):
        """Train one candidate (keras-tuner's contract): see :func:`kerascnn.search.training.fit_candidate`.

        ``trial_log`` (a :class:`~kerascnn.search.trial_log.TrialLog`, given by the
        kit's tuners) receives the trial's TensorBoard summaries and facts.
        """
        return training.fit_candidate(self, getattr(hp, "kit_hp", hp), model, args, kwargs, trial_log)

    def refit(self, hp, epochs: int, strategy=None, seed: int | None = None, label: str = "refit"):
        """Candidate ``hp`` trained afresh on train+validation (:func:`kerascnn.search.training.refit`).

        ``label`` names it on the progress line (when the search shows one).
        Returns ``(model, samples)``.
        """
        from kerascnn.search.progress import FitProgress

        progress = [FitProgress(label)] if self.progress else []
        return training.refit(self, hp, epochs, strategy=strategy, seed=seed, callbacks=progress)


class _UserHyperParameters:
    """The ``hp`` a subclass's ``build``/``fit`` sees: keras-tuner's, but declaring a name the kit uses is refused."""

    def __init__(self, hp, hypermodel):
        self.kit_hp, self._hypermodel = hp, hypermodel

    def __getattr__(self, name):
        return getattr(self.kit_hp, name)

    def _declare(self, method, name, *args, **kwargs):
        if name in self._hypermodel._kit_names:
            raise training.FitArgumentError(
                f"Invalid hyperparameter {name!r}: CNNHyperModel already declares {name!r} (its `{name}` knob), "
                f"so hp.{method}({name!r}, ...) would return the kit's value and yours would never be tried. "
                f"Search it through the hypermodel (CNNHyperModel(..., {name}=[...]) or space={{{name!r}: ...}}), "
                "or give yours another name."
            )
        return getattr(self.kit_hp, method)(name, *args, **kwargs)

    def Choice(self, name, *args, **kwargs):  # noqa: N802  (keras-tuner's names)
        return self._declare("Choice", name, *args, **kwargs)

    def Int(self, name, *args, **kwargs):  # noqa: N802
        return self._declare("Int", name, *args, **kwargs)

    def Float(self, name, *args, **kwargs):  # noqa: N802
        return self._declare("Float", name, *args, **kwargs)

    def Boolean(self, name, *args, **kwargs):  # noqa: N802
        return self._declare("Boolean", name, *args, **kwargs)

    def Fixed(self, name, *args, **kwargs):  # noqa: N802
        return self._declare("Fixed", name, *args, **kwargs)


def _with_user_hp(method):
    @functools.wraps(method)
    def wrapper(self, hp, *args, **kwargs):
        if not isinstance(hp, _UserHyperParameters):
            hp = _UserHyperParameters(hp, self)
        return method(self, hp, *args, **kwargs)

    return wrapper


def _possible_values(setting, current):
    """Every value a knob's setting can take (for conditional scopes)."""
    if isinstance(setting, list):
        return list(setting)
    if isinstance(setting, dict):
        return list(range(setting["min"], setting["max"] + 1, setting.get("step") or 1))
    return [current]
