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
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

import keras
import keras_tuner as kt

from kerascnn import device
from kerascnn.architectures import create_model, model_info, plan_model
from kerascnn.architectures.registry import check_rank
from kerascnn.config import DEFAULTS, LR_SCHEDULES, MOMENTUM_OPTIMIZERS, OPTIMIZERS
from kerascnn.memory import released_trial_graphs
from kerascnn.search.space import KNOBS, LAYER_KNOBS, check_space, check_space_rank, decode, declare
from kerascnn.validation import check_choice

#: Training knobs whose unsearched value comes from ``train`` (default: ``config.DEFAULTS["train"]``).
TRAIN_KNOBS = ("optimizer", "learning_rate", "momentum", "batch_size", "epochs")

@dataclass(frozen=True)
class Rejection:
    """Why a candidate is not trained: its kind (what ``summary.json`` counts) and the full reason."""

    COLLAPSE, BUDGET, INVALID = "feature map collapses", "over parameter budget", "invalid arguments"

    kind: str
    reason: str

    def __str__(self) -> str:
        return self.reason


class CNNHyperModel(kt.HyperModel):
    """Build CNNs from the registry with tuned knobs.

    Args:
        input_shape: ``channels_last`` input shape, e.g. ``(8, 8, 1)``.
        num_classes: output classes (softmax head).
        architecture: a registry name, or a list of names to choose from.
        space: knob -> setting (see :mod:`kerascnn.search.space`).
        params: fixed builder arguments (``{"conv_layers": 3}``) for knobs not searched.
        tune_unlisted: tune every applicable knob missing from ``space`` over
            its default space (the AutoKeras default, ``True``); ``False``
            leaves them to ``params`` and the builder's defaults (experiment files).
        train: fixed training settings (``optimizer``, ``learning_rate``,
            ``momentum``, ``batch_size``, ``epochs``) used when not searched,
            and ``lr_schedule`` (``"constant"`` or ``"cosine"``, see
            :class:`CosineAnnealing`) for every fit.
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

    def __init__(self, input_shape, num_classes, architecture="simple_cnn", *, space=None, params=None,
                 tune_unlisted=True, train=None, augmentation=None, data=None, seed=0, replicas=1, cv_folds=None,
                 objective="val_f1_macro", name=None, **knobs):
        super().__init__(name=name, tunable=True)
        self.input_shape, self.num_classes = tuple(input_shape), int(num_classes)
        self.architectures = [architecture] if isinstance(architecture, str) else list(architecture)
        for arch in self.architectures:  # unknown names, and a rank the family has no form for, fail here
            check_rank(model_info(arch), self.input_shape)
        self.space = {**(space or {}), **knobs}
        check_space(self.space, self.architectures)
        self.params = dict(params or {})
        self.tune_unlisted = tune_unlisted
        self.train = {**{k: DEFAULTS["train"][k] for k in (*TRAIN_KNOBS, "lr_schedule")}, **(train or {})}
        check_choice("train.lr_schedule", self.train["lr_schedule"], LR_SCHEDULES)
        self.augmentation, self.data, self.seed = dict(augmentation or {}), data, seed
        self.rank = len(self.input_shape) - 1
        if self.augmentation:  # a setting the data's rank has no form for fails now, not in the first trial
            from kerascnn.data import augmentation_layers

            augmentation_layers(self.augmentation, seed=seed, rank=self.rank)
        check_space_rank(self.space, self.rank)
        self.replicas = replicas  # mirrored replicas: batch_size is per replica
        self.progress = False  # run_search turns on the kit's progress line inside each fit
        self.cv_folds, self.objective = cv_folds, objective

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

    def resolve(self, hp):
        """Declare the hyperparameters of one candidate and return ``(architecture, builder kwargs, training)``."""
        if len(self.architectures) > 1:
            arch = hp.Choice("architecture", self.architectures, default=self.architectures[0])
            with hp.conditional_scope("architecture", [arch]), hp.name_scope(arch):
                kwargs = self._arch_kwargs(hp, arch)
        else:
            arch = self.architectures[0]
            kwargs = self._arch_kwargs(hp, arch)
        training = self._training(hp)
        return arch, kwargs, training

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
            scope = hp.conditional_scope("conv_layers", [d for d in depths if d >= i]) if len(depths) > 1 else nullcontext()
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
        t = dict(self.train)
        t["optimizer"] = self._knob(hp, "optimizer", "optimizer", t["optimizer"])
        t["learning_rate"] = self._knob(hp, "learning_rate", "learning_rate", t["learning_rate"])
        if t["optimizer"] in MOMENTUM_OPTIMIZERS and self._searched("momentum"):
            scope = (hp.conditional_scope("optimizer", list(MOMENTUM_OPTIMIZERS))
                     if self._searched("optimizer") else nullcontext())
            with scope:
                t["momentum"] = self._knob(hp, "momentum", "momentum", t["momentum"])
        t["batch_size"] = self._knob(hp, "batch_size", "batch_size", t["batch_size"])
        t["augment"] = bool(self.augmentation) and (
            self._knob(hp, "augment", "augment", False) if self._searched("augment") else True)
        return t

    # ----- the candidate check used by the search's oracle -----
    def check_candidate(self, hp, max_params=None) -> "Rejection | None":
        """``None`` if the candidate can be built within budget, else the :class:`Rejection`.

        Works on the unbuilt plan (:func:`kerascnn.plan_model`): no weights are
        allocated for a rejected candidate.
        """
        from kerascnn.architectures._common import InputTooSmall

        try:
            params = self._candidate_params(copy.deepcopy(hp), count=bool(max_params))
        except InputTooSmall as err:
            return Rejection(Rejection.COLLAPSE, f"invalid: {err}")
        except ValueError as err:
            return Rejection(Rejection.INVALID, f"invalid: {err}")
        if max_params and params > max_params:
            return Rejection(Rejection.BUDGET,
                             f"over budget: {params:,} parameters > constraints.max_params={max_params:,}")
        return None

    def check_defaults(self) -> None:
        """Raise ``ValueError`` if the default candidate (every knob at its default) cannot be built.

        keras-tuner builds that candidate before the first trial, so a fixed
        setting that breaks it is an error in the experiment, not a rejection.
        """
        self._candidate_params(kt.HyperParameters(), count=False)

    def _candidate_params(self, hp, count: bool):
        """Plan the candidate ``hp`` describes (raising ``ValueError`` if it cannot be built); its parameters."""
        arch, kwargs, _ = self.resolve(hp)
        plan = plan_model(arch, input_shape=self.input_shape, num_classes=self.num_classes, **kwargs)
        if not count:
            return None
        built = not plan.exact and plan.known_params is None
        params = plan.count_params()
        if built:  # a branching model was built to be counted: drop its graph
            keras.backend.clear_session()
        return params

    # ----- keras-tuner API -----
    def build(self, hp):
        arch, kwargs, training = self.resolve(hp)
        model = create_model(arch, input_shape=self.input_shape, num_classes=self.num_classes, **kwargs)
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
        model.compile(optimizer=opt_cls(**kwargs), loss="sparse_categorical_crossentropy",
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                      jit_compile=device.jit_compile(training),
                      steps_per_execution=device.steps_per_execution(training, self._steps_per_epoch(training)))
        model.optimizer.build(model.trainable_variables)

    def _steps_per_epoch(self, training) -> int:
        if self.data is None:
            return 1
        return -(-len(self.data.y_train) // (training["batch_size"] * self.replicas))

    def fit(self, hp, model, *args, **kwargs):
        """Train one candidate: tuned batch size, data pipelines, scikit-learn metrics, TensorBoard.

        With no arrays given, trains on ``self.data``'s train split and
        validates on its validation split (with ``cv_folds``: on fold 1, the
        other folds trained first). The History returned carries
        ``trial_facts`` (seconds, parameters, batch size, per-epoch history),
        which keras-tuner hands back to the tuner from ``run_trial``.
        """
        from kerascnn.data import make_pipeline
        from kerascnn.evaluation import tensorboard as tb
        from kerascnn.evaluation.metrics import SklearnMetrics, epoch_aligned

        training = self._training(copy.deepcopy(hp))
        batch_size = (kwargs.pop("batch_size", None) or training["batch_size"]) * self.replicas
        epochs = kwargs.pop("epochs", self.train.get("epochs", 1))
        x, y, x_val, y_val, fold_logs = self._fit_data(hp, args, kwargs, batch_size, epochs)
        metrics = SklearnMetrics(x_val, y_val, self.num_classes, x_train=x, y_train=y, seed=self.seed)
        callbacks = [metrics] + ([FoldMean(fold_logs, self.objective)] if fold_logs else [])
        callbacks += list(kwargs.pop("callbacks", []))
        board = next((c for c in callbacks if type(c).__name__ == "TensorBoard"), None)
        session = getattr(board, "trial_session", None)  # set by the tuner (_compat.TrialLogDirs)
        if session is not None:
            tb.start_session(board.log_dir, *session)
        # no validation_data: the metrics callback's one pass over the validation split gives val_loss too;
        # shuffle=False: the pipeline shuffles
        fit_kwargs = {"epochs": epochs, "verbose": kwargs.pop("verbose", 0), **kwargs, "shuffle": False}
        start = time.perf_counter()
        with released_trial_graphs():  # memory stays flat over a long search, whichever tuner runs it
            history = model.fit(make_pipeline(x, y, batch_size, shuffle=True, seed=self.seed),
                                callbacks=callbacks + self._every_fit(), **fit_kwargs)
        if _diverged(history):
            raise kt.errors.FailedTrialError(f"loss became NaN/inf at epoch {len(history.epoch)}: diverged")
        history.trial_facts = {"seconds": time.perf_counter() - start, "params": int(model.count_params()),
                               "batch_size": int(batch_size), "metrics_seconds": metrics.seconds,
                               "history": epoch_aligned(history.history, metrics.train_epochs)}
        if board is not None:
            self._trial_summaries(board.log_dir, hp, y_val, metrics.last_pred, history)
        if session is not None:
            tb.end_session(board.log_dir, success=True)
        return history

    def _fit_data(self, hp, args, kwargs, batch_size, epochs):
        """``(x, y, x_val, y_val, other folds' logs)``: arrays passed to ``fit``, fold 1, or ``self.data``'s splits."""
        if args or "x" in kwargs:
            x = args[0] if args else kwargs.pop("x")
            y = args[1] if len(args) > 1 else kwargs.pop("y")
            x_val, y_val = kwargs.pop("validation_data")
            return x, y, x_val, y_val, []
        if self.cv_folds:
            return self._other_folds(hp, batch_size, epochs)
        d = self.data
        return d.x_train, d.y_train, d.x_val, d.y_val, []

    def _trial_summaries(self, log_dir, hp, y_val, y_pred, history) -> None:
        """The trial's last-epoch TensorBoard summaries: confusion matrix, hyperparameters, parameters."""
        from kerascnn.evaluation import tensorboard as tb

        if y_pred is None:
            return
        names = self.data.class_names if self.data is not None else [str(i) for i in range(self.num_classes)]
        tb.write_trial_summaries(log_dir, y_true=y_val, y_pred=y_pred, class_names=names,
                                 hyperparameters=hp.values, params=history.trial_facts["params"],
                                 step=len(history.epoch) - 1)

    # ----- k-fold scoring and the final refit -----
    def folds(self):
        """``(train_index, held_out_index)`` of each stratified fold over train+validation (``cv_folds``)."""
        from sklearn.model_selection import StratifiedKFold

        y = np.concatenate([self.data.y_train, self.data.y_val])
        return list(StratifiedKFold(self.cv_folds, shuffle=True, random_state=self.seed).split(np.zeros(len(y)), y))

    def _other_folds(self, hp, batch_size, epochs):
        """Train folds 2..K (each a fresh model, scikit-learn metrics only); fold 1 is left to keras-tuner's fit.

        Returns fold 1's split and the other folds' per-epoch logs, which
        :class:`FoldMean` averages into fold 1's logs, so the objective every
        callback sees (checkpoint, pruning, early stopping, TensorBoard) is
        the mean over the folds.
        """
        from kerascnn.evaluation.metrics import SklearnMetrics

        x_all, y_all = self._train_and_validation()
        splits, fold_logs = self.folds(), []
        for train_idx, held_idx in splits[1:]:
            logs = FoldLogs()
            metrics = SklearnMetrics(x_all[held_idx], y_all[held_idx], self.num_classes, seed=self.seed)
            history = self._fit_fresh(self.build(hp), x_all[train_idx], y_all[train_idx], batch_size, epochs,
                                      [metrics, logs])
            if _diverged(history):
                raise kt.errors.FailedTrialError("loss became NaN/inf in a cross-validation fold: diverged")
            fold_logs.append(logs.history)
        train_idx, held_idx = splits[0]
        return x_all[train_idx], y_all[train_idx], x_all[held_idx], y_all[held_idx], fold_logs

    def refit(self, hp, epochs: int, strategy=None, seed: int | None = None, callbacks=()):
        """A fresh model of candidate ``hp`` trained on train+validation for ``epochs`` (no validation split).

        What scikit-learn's ``GridSearchCV(refit=True)`` and AutoKeras do once
        the search has chosen: the final model learns from every labelled
        sample outside the test split. ``seed`` (Keras' global seed, set
        first) makes the refit reproducible whatever ran before it in the
        process. ``callbacks``: added to the fit's (a progress line). Returns ``(model, samples)``.
        """
        if seed is not None:
            keras.utils.set_random_seed(seed)
        x, y = self._train_and_validation()
        with strategy.scope() if strategy is not None else nullcontext():
            model = self.build(hp)
        batch_size = self._training(copy.deepcopy(hp))["batch_size"] * self.replicas
        if _diverged(self._fit_fresh(model, x, y, batch_size, epochs, callbacks)):
            raise ValueError(f"the refit on train+validation diverged (loss NaN/inf within {epochs} epochs)")
        return model, len(y)

    def _train_and_validation(self):
        """The train and validation splits as one set (what k-fold splits and a refit learns from)."""
        return (np.concatenate([self.data.x_train, self.data.x_val]),
                np.concatenate([self.data.y_train, self.data.y_val]))

    def _fit_fresh(self, model, x, y, batch_size, epochs, callbacks=()):
        """Train ``model`` on ``(x, y)`` outside keras-tuner (a k-fold fold, a refit); Keras' History."""
        from kerascnn.data import make_pipeline

        with released_trial_graphs():
            return model.fit(make_pipeline(x, y, batch_size, shuffle=True, seed=self.seed), epochs=epochs, verbose=0,
                             shuffle=False, callbacks=[*callbacks, *self._every_fit()])

    def _every_fit(self) -> list:
        """Callbacks every fit of the search has (trials, folds, refits): stop on a NaN loss; a Ctrl-C lands
        between steps; the learning-rate schedule."""
        from kerascnn.search.interrupt import StepInterrupt

        schedule = [CosineAnnealing()] if self.train["lr_schedule"] == "cosine" else []
        return [keras.callbacks.TerminateOnNaN(), StepInterrupt(), *schedule]


class CosineAnnealing(keras.callbacks.LearningRateScheduler):
    """Cosine annealing over the fit's own epochs, set once per epoch (timm's default granularity).

    Epoch ``e`` of ``E`` trains at ``lr * (1 + cos(pi * e / E)) / 2``, where
    ``lr`` is the compiled optimizer's rate when the fit starts (a tuned
    ``learning_rate`` included) and ``E`` the ``epochs`` that ``fit`` was
    given, so a trial, a k-fold fold and a shorter refit each anneal to
    nearly zero at their own last epoch. Ending at a small rate gives a
    final model that does not hinge on where the last steps of a constant
    rate happened to land, which matters when the refit (no validation
    split left) keeps its last weights. Hyperband's continued brackets
    (``initial_epoch``) pick up the curve where it was.
    """

    def __init__(self):
        super().__init__(self._rate)
        self.base = None

    def on_train_begin(self, logs=None):
        if self.base is None:
            self.base = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def _rate(self, epoch, _current):
        return self.base * 0.5 * (1.0 + math.cos(math.pi * epoch / max(1, self.params["epochs"])))


class FoldLogs(keras.callbacks.Callback):
    """Keeps each epoch's logs (after the metrics callback filled them in)."""

    def __init__(self):
        super().__init__()
        self.history: dict = {}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))


class FoldMean(keras.callbacks.Callback):
    """Replaces each ``val_*`` value in the logs by its mean over every fold; adds ``<objective>_std``."""

    def __init__(self, fold_logs: list[dict], objective: str):
        super().__init__()
        self.fold_logs, self.objective = fold_logs, objective

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for key in [k for k in logs if k.startswith("val_")]:
            values = [logs[key]] + [h[key][epoch] for h in self.fold_logs if len(h.get(key, [])) > epoch]
            logs[key] = float(np.mean(values))
            if key == self.objective:
                logs[f"{key}_std"] = float(np.std(values))


def _diverged(history) -> bool:
    """Whether a Keras History's training loss became NaN or inf (``TerminateOnNaN`` stopped it)."""
    return any(not np.isfinite(v) for v in history.history.get("loss", []))


def _possible_values(setting, current):
    """Every value a knob's setting can take (for conditional scopes)."""
    if isinstance(setting, list):
        return list(setting)
    if isinstance(setting, dict):
        return list(range(setting["min"], setting["max"] + 1, setting.get("step") or 1))
    return [current]
