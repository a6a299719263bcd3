"""How a candidate is trained: a trial's fit, k-fold scoring and the refit on train+validation.

:class:`~kerascnn.search.hypermodel.CNNHyperModel` says *what* a candidate is
(the hyperparameter contract and ``build``); this module says how every fit
of the search runs: the data pipeline, the scikit-learn metrics pass, the
per-fit callbacks (NaN stop, Ctrl-C between steps, the learning-rate
schedule) and, for a trial, what its :class:`~kerascnn.search.trial_log.TrialLog`
records. Nothing is attached to Keras' ``History``.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext

import numpy as np

import keras
import keras_tuner as kt

from kerascnn.data import make_pipeline
from kerascnn.data.streaming import concat
from kerascnn.evaluation.metrics import SklearnMetrics, epoch_aligned, integer_labels
from kerascnn.memory import released_trial_graphs
from kerascnn.search.interrupt import StepInterrupt


def fit_candidate(hm, hp, model, args: tuple, kwargs: dict, trial_log=None):
    """Train one candidate: its batch size, the data pipeline, scikit-learn metrics; Keras' History.

    With no arrays given, trains on ``hm.data``'s train split and validates on
    its validation split (with ``cv_folds``: on fold 1, the other folds
    trained first). ``trial_log`` (the kit's tuners pass one) gets the
    TensorBoard callback for this fit, the last epoch's summaries and the
    trial's facts (seconds, parameters, batch size, per-epoch history).
    """
    kwargs = dict(kwargs)
    candidate = hm.candidate(hp)
    batch_size = _batch_size(hm, candidate, kwargs.pop("batch_size", None)) * hm.replicas
    epochs = kwargs.pop("epochs", hm.train.epochs)
    shuffle = kwargs.pop("shuffle", True)
    if shuffle not in (True, False):  # Keras' "batch" shuffling is tf.data's own business
        raise FitArgumentError(f"Invalid `shuffle`: True or False. Received: shuffle={shuffle!r}")
    x, y, x_val, y_val, fold_logs = _fit_data(hm, hp, args, kwargs, batch_size, epochs)
    metrics = SklearnMetrics(x_val, y_val, hm.num_classes, x_train=x, y_train=y, seed=hm.seed)
    callbacks = [metrics] + ([FoldMean(fold_logs, hm.objective)] if fold_logs else [])
    callbacks += list(kwargs.pop("callbacks", []))
    if trial_log is not None:
        callbacks += trial_log.begin_fit()
    # no validation_data: the metrics callback's one pass over the validation split gives val_loss too;
    # shuffle=False to Keras: the pipeline shuffles (or not, as `shuffle` says)
    fit_kwargs = {"epochs": epochs, "verbose": kwargs.pop("verbose", 0), **kwargs, "shuffle": False}
    start = time.perf_counter()
    with released_trial_graphs():  # memory stays flat over a long search, whichever tuner runs it
        history = fit_phases(
            hm, candidate, model, make_pipeline(x, y, batch_size, shuffle=shuffle, seed=hm.seed), callbacks, fit_kwargs
        )
    if diverged(history):
        raise kt.errors.FailedTrialError(f"loss became NaN/inf at epoch {len(history.epoch)}: diverged")
    if trial_log is not None:
        params = int(model.count_params())
        trial_log.end_fit(
            {
                "seconds": time.perf_counter() - start,
                "params": params,
                "batch_size": int(batch_size),
                "metrics_seconds": metrics.seconds,
                "history": epoch_aligned(history.history, metrics.train_epochs),
            },
            y_true=y_val,
            y_pred=metrics.last_pred,
            class_names=_class_names(hm),
            step=len(history.epoch) - 1,
        )
    return history


def _class_names(hm) -> list[str]:
    return hm.data.class_names if hm.data is not None else [str(i) for i in range(hm.num_classes)]


class FitArgumentError(kt.errors.FatalError, ValueError):
    """An argument of ``search``/``fit`` the candidate cannot honour: the search stops at once, naming it."""


def _batch_size(hm, candidate, given) -> int:
    """``batch_size`` passed to ``search``/``fit``, unless the hypermodel searches its own (then refused)."""
    if given is None:
        return candidate.training["batch_size"]
    if hm._searched("batch_size"):
        raise FitArgumentError(
            f"Invalid `batch_size`: the hypermodel searches its own `batch_size` hyperparameter, so "
            f"batch_size={given!r} given to search() or fit() would not be what the trials record. Fix it in "
            f"the hypermodel instead (CNNHyperModel(..., batch_size={given!r}), or a list of sizes to search), "
            "or leave it out of search()."
        )
    return int(given)


def _fit_data(hm, hp, args, kwargs, batch_size, epochs):
    """``(x, y, x_val, y_val, other folds' logs)``: data passed to ``fit``, fold 1, or ``hm.data``'s splits.

    Passed data take keras-tuner's (and ``model.fit``'s) forms: arrays, or a
    dataset of ``(x, y)`` batches; ``validation_data`` (arrays or a dataset)
    or ``validation_split`` (the last samples, as Keras takes them); integer
    or one-hot labels.
    """
    split = kwargs.pop("validation_split", None)
    validation = kwargs.pop("validation_data", None)
    if not (args or "x" in kwargs):
        if validation is not None or split:
            raise FitArgumentError("Invalid `validation_data`/`validation_split`: they go with the training data x, y.")
        if hm.data is None:
            raise FitArgumentError("No training data: pass x and y (and validation_data) to search(), as to fit().")
        if hm.cv_folds:
            return _other_folds(hm, hp, batch_size, epochs)
        d = hm.data
        return d.x_train, d.y_train, d.x_val, d.y_val, []
    x = args[0] if args else kwargs.pop("x")
    y = args[1] if len(args) > 1 else kwargs.pop("y", None)
    if y is None:
        x, y = _arrays(x, "x")
    if validation is not None:
        x_val, y_val = _arrays(validation, "validation_data")
    elif split:
        if not isinstance(split, float) or not 0 < split < 1:
            raise FitArgumentError(f"Invalid `validation_split`: a fraction in (0, 1). Received: {split!r}")
        cut = int(math.floor(len(x) * (1.0 - split)))
        x, y, x_val, y_val = x[:cut], y[:cut], x[cut:], y[cut:]
    else:
        raise FitArgumentError(
            "No validation data: the search scores each candidate on held-out samples; pass validation_data="
            "(x_val, y_val) or validation_split=0.2 to search()."
        )
    try:
        y, y_val = integer_labels(y, hm.num_classes, "y"), integer_labels(y_val, hm.num_classes, "validation_data")
    except ValueError as err:  # the data, not the candidate: no trial would do better
        raise FitArgumentError(str(err)) from None
    return x, y, x_val, y_val, []


def _arrays(data, argument: str):
    """``(x, y)`` arrays of a tuple, or of a dataset of ``(x, y)`` batches (tf.data, a ``PyDataset``) read once."""
    if isinstance(data, (tuple, list)):
        if len(data) < 2:
            raise FitArgumentError(f"Invalid `{argument}`: a tuple (x, y). Received: a {type(data).__name__} of one")
        return data[0], data[1]
    batches = (data[i] for i in range(len(data))) if isinstance(data, keras.utils.PyDataset) else data
    xs, ys = [], []
    try:
        for batch in batches:
            xs.append(np.asarray(batch[0]))
            ys.append(np.asarray(batch[1]))
    except (TypeError, IndexError):
        raise FitArgumentError(
            f"Invalid `{argument}`: arrays (x, y) or a dataset of (x, y) batches. Received: {type(data).__name__}"
        ) from None
    if not xs:
        raise FitArgumentError(f"Invalid `{argument}`: the dataset has no batches.")
    return np.concatenate(xs), np.concatenate(ys)


# ----- k-fold scoring -----
def folds(hm) -> list:
    """``(train_index, held_out_index)`` of each stratified fold over train+validation (``cv_folds``)."""
    from sklearn.model_selection import StratifiedKFold

    y = np.concatenate([hm.data.y_train, hm.data.y_val])
    return list(StratifiedKFold(hm.cv_folds, shuffle=True, random_state=hm.seed).split(np.zeros(len(y)), y))


def _other_folds(hm, hp, batch_size, epochs):
    """Train folds 2..K (each a fresh model, scikit-learn metrics only); fold 1 is left to keras-tuner's fit.

    Returns fold 1's split and the other folds' per-epoch logs, which
    :class:`FoldMean` averages into fold 1's logs, so the objective every
    callback sees (checkpoint, pruning, early stopping, TensorBoard) is the
    mean over the folds.
    """
    x_all, y_all = train_and_validation(hm)
    splits, fold_logs = folds(hm), []
    for train_idx, held_idx in splits[1:]:
        logs = FoldLogs()
        metrics = SklearnMetrics(x_all[held_idx], y_all[held_idx], hm.num_classes, seed=hm.seed)
        history = fit_fresh(
            hm, hm.build(hp), x_all[train_idx], y_all[train_idx], batch_size, epochs, [metrics, logs], hm.candidate(hp)
        )
        if diverged(history):
            raise kt.errors.FailedTrialError("loss became NaN/inf in a cross-validation fold: diverged")
        fold_logs.append(logs.history)
    train_idx, held_idx = splits[0]
    return x_all[train_idx], y_all[train_idx], x_all[held_idx], y_all[held_idx], fold_logs


# ----- the refit -----
def refit(hm, hp, epochs: int, strategy=None, seed: int | None = None, callbacks=()):
    """A fresh model of candidate ``hp`` trained on train+validation for ``epochs`` (no validation split).

    What scikit-learn's ``GridSearchCV(refit=True)`` and AutoKeras do once the
    search has chosen: the final model learns from every labelled sample
    outside the test split. ``seed`` (Keras' global seed, set first) makes the
    refit reproducible whatever ran before it in the process. ``callbacks``:
    added to the fit's (a progress line). Returns ``(model, samples)``.
    """
    if seed is not None:
        keras.utils.set_random_seed(seed)
    x, y = train_and_validation(hm)
    with strategy.scope() if strategy is not None else nullcontext():
        model = hm.build(hp)
    batch_size = hm.candidate(hp).training["batch_size"] * hm.replicas
    if diverged(fit_fresh(hm, model, x, y, batch_size, epochs, callbacks, hm.candidate(hp))):
        raise ValueError(f"the refit on train+validation diverged (loss NaN/inf within {epochs} epochs)")
    return model, len(y)


def train_and_validation(hm):
    """The train and validation splits as one set (what k-fold splits and a refit learns from)."""
    return concat(hm.data.x_train, hm.data.x_val), np.concatenate([hm.data.y_train, hm.data.y_val])


def fit_fresh(hm, model, x, y, batch_size, epochs, callbacks=(), candidate=None):
    """Train ``model`` (of ``candidate``) on ``(x, y)`` outside keras-tuner (a k-fold fold, a refit); Keras' History."""
    with released_trial_graphs():
        return fit_phases(
            hm,
            candidate,
            model,
            make_pipeline(x, y, batch_size, shuffle=True, seed=hm.seed),
            list(callbacks),
            {"epochs": epochs, "verbose": 0, "shuffle": False},
        )


def phases(candidate, epochs: int, initial_epoch: int = 0) -> list[tuple[int, str | None, float | None]]:
    """``(last epoch, trainable, learning rate)`` of each phase of a fit: one, or a transfer's two.

    A transfer candidate (``model.architecture: transfer``) whose ``trainable``
    is not ``frozen`` trains its head first (``head_epochs``, default half the
    epochs, at the candidate's learning rate), then the unfrozen backbone
    layers and the head at ``fine_tune_learning_rate``: the Keras recipe. With
    one epoch there is no room for the second phase: the head alone trains.
    """
    args = candidate.arguments if candidate is not None else {}
    if candidate is None or candidate.architecture != "transfer" or args.get("trainable", "frozen") == "frozen":
        return [(epochs, None, None)]
    head = args.get("head_epochs") or max(1, epochs // 2)
    if head >= epochs:
        return [(epochs, None, None)]
    fine_tune_rate = args.get("fine_tune_learning_rate", 1e-5)
    return [p for p in ((head, None, None), (epochs, args["trainable"], fine_tune_rate)) if p[0] > initial_epoch]


def fit_phases(hm, candidate, model, batches, callbacks: list, fit_kwargs: dict):
    """``model.fit`` over each of :func:`phases`; one History holding every epoch.

    Between phases the backbone is unfrozen as ``trainable`` says (batch
    norm stays in inference mode) and the model recompiled at the fine-tuning
    rate. The same callbacks see both phases, the epochs numbered on
    (``initial_epoch``), so curves, checkpoints and pruning see one fit.
    """
    from kerascnn.architectures.transfer import unfreeze

    fit_kwargs = dict(fit_kwargs)
    epochs, start = fit_kwargs.pop("epochs"), fit_kwargs.pop("initial_epoch", 0)
    histories = []
    for last, trainable, rate in phases(candidate, epochs, start):
        if trainable is not None:
            unfreeze(model, trainable)
            hm._compile(model, {**candidate.training, "learning_rate": rate})
        history = model.fit(
            batches, initial_epoch=start, epochs=last, callbacks=[*callbacks, *every_fit(hm)], **fit_kwargs
        )
        histories.append(history)
        start = last
        if diverged(history) or model.stop_training:
            break
    return histories[0] if len(histories) == 1 else _joined(histories)


def _joined(histories):
    """One Keras History of consecutive fits (each key's values in epoch order)."""
    joined = keras.callbacks.History()
    joined.set_model(histories[-1].model)
    joined.params = {**histories[-1].params, "epochs": histories[-1].params.get("epochs")}
    joined.epoch = [e for h in histories for e in h.epoch]
    for h in histories:
        for key, values in h.history.items():
            joined.history.setdefault(key, []).extend(values)
    return joined


def every_fit(hm) -> list:
    """Callbacks every fit of the search has (trials, folds, refits): stop on a NaN loss; a Ctrl-C lands
    between steps; the learning-rate schedule."""
    schedule = [CosineAnnealing()] if hm.train.lr_schedule == "cosine" else []
    return [keras.callbacks.TerminateOnNaN(), StepInterrupt(), *schedule]


def diverged(history) -> bool:
    """Whether a Keras History's training loss became NaN or inf (``TerminateOnNaN`` stopped it)."""
    return any(not np.isfinite(v) for v in history.history.get("loss", []))


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
