"""scikit-learn metrics for classifiers, and the callback that puts them in Keras' logs.

:func:`classification_metrics` is the one place metrics are computed: the
per-epoch callback, the test evaluation and ``kerascnn evaluate`` all call it,
so a number means the same thing everywhere.
"""

from __future__ import annotations

import time

import numpy as np

import keras

from kerascnn.validation import did_you_mean

#: Scalar metrics, each logged as ``val_<name>`` by :class:`SklearnMetrics`.
METRIC_NAMES = (
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "precision_micro",
    "recall_micro",
    "f1_micro",
)


def classification_metrics(y_true, y_pred, num_classes: int | None = None, per_class: bool = True) -> dict:
    """Accuracy, precision, recall and F1 (macro, weighted, micro, per class).

    Args:
        y_true, y_pred: integer labels.
        num_classes: report every class ``0..K-1`` even if absent from ``y_true``.
        per_class: add ``precision_class_<k>`` etc. for each class.
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    labels = list(range(num_classes)) if num_classes else None
    out = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for avg in ("macro", "weighted", "micro"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
        out.update({f"precision_{avg}": float(p), f"recall_{avg}": float(r), f"f1_{avg}": float(f)})
    if per_class:
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
        for k in range(len(p)):
            out.update(
                {
                    f"precision_class_{k}": float(p[k]),
                    f"recall_class_{k}": float(r[k]),
                    f"f1_class_{k}": float(f[k]),
                    f"support_class_{k}": int(s[k]),
                }
            )
    return out


def predict_probabilities(model, x, batch_size: int = 256) -> np.ndarray:
    """The model's outputs for ``x`` as a numpy array, every sample predicted exactly once.

    A set that fits one batch goes through ``predict_on_batch`` (no per-call
    data and callback setup); samples read from disk
    (:class:`~kerascnn.data.streaming.LazyArray`) go through the input
    pipeline. Under Keras' JAX data parallelism every batch must split evenly
    over the devices, so the inputs are padded to a multiple of their count
    and the padding's outputs dropped.
    """
    from kerascnn.data.streaming import is_lazy
    from kerascnn.device import batch_multiple

    if is_lazy(x):  # read from disk a batch at a time (padded for the devices by the pipeline)
        from kerascnn.data import make_pipeline

        batches = make_pipeline(x, None, batch_size, shuffle=False)
        return np.asarray(model.predict(batches, verbose=0))[: len(x)]
    multiple, n = batch_multiple(), len(x)
    if multiple > 1 and (n % multiple or batch_size % multiple):
        x = np.concatenate([x, np.zeros((-n % multiple,) + tuple(x.shape[1:]), x.dtype)])
        batch_size = max(multiple, batch_size - batch_size % multiple)
    if len(x) <= batch_size:
        return keras.ops.convert_to_numpy(model.predict_on_batch(x))[:n]
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))[:n]


def labels_from(probs: np.ndarray) -> np.ndarray:
    """Class labels from softmax outputs (argmax) or one sigmoid (threshold 0.5)."""
    if probs.ndim == 2 and probs.shape[1] == 1:
        return (probs[:, 0] > 0.5).astype(np.int64)
    return probs.argmax(axis=-1).astype(np.int64)


def predict_labels(model, x, batch_size: int = 256) -> np.ndarray:
    """Class predictions of a softmax (argmax) or single-sigmoid (threshold 0.5) model."""
    return labels_from(predict_probabilities(model, x, batch_size))


def _one_hot(y_true, y_pred) -> bool:
    """Whether ``y_true`` holds one-hot rows for ``y_pred``'s classes (else integer labels); static shapes."""
    return len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == y_pred.shape[-1] != 1


@keras.saving.register_keras_serializable(package="kerascnn")
class ClassCrossentropy(keras.losses.Loss):
    """Cross-entropy of softmax outputs against integer labels or one-hot rows, whichever ``fit`` is given.

    keras-tuner's guides pass ``keras.utils.to_categorical`` labels, the kit's
    data integer ones; a model the kit compiled takes both (for ``fit`` and
    ``evaluate`` after the search), as Keras' ``"accuracy"`` string does.
    """

    def __init__(self, name="class_crossentropy", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        if _one_hot(y_true, y_pred):
            return keras.losses.categorical_crossentropy(y_true, y_pred)
        return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)


def _class_accuracy(y_true, y_pred):
    if _one_hot(y_true, y_pred):
        y_true = keras.ops.argmax(y_true, axis=-1)
    return keras.metrics.sparse_categorical_accuracy(y_true, y_pred)


@keras.saving.register_keras_serializable(package="kerascnn")
class ClassAccuracy(keras.metrics.MeanMetricWrapper):
    """Accuracy against integer labels or one-hot rows (see :class:`ClassCrossentropy`)."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(fn=_class_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def integer_labels(y, num_classes: int, argument: str = "y") -> np.ndarray:
    """Labels as integers: integer labels as they are, one-hot rows (``to_categorical``) by their argmax.

    Rows that are not one-hot (soft labels, a wrong width) are refused,
    naming ``argument``: the scikit-learn metrics need one class per sample.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 1:
        return y
    if y.ndim == 2 and y.shape[1] == num_classes and np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1):
        return y.argmax(axis=1)
    raise ValueError(
        f"Invalid `{argument}`: integer class labels or one-hot rows of {num_classes} classes "
        f"(keras.utils.to_categorical). Received: an array of shape {y.shape}"
        + (" whose rows are not one-hot" if y.ndim == 2 and y.shape[1] == num_classes else "")
    )


def compiled_loss(model, y_true, probs) -> float:
    """The model's compiled loss on ``probs`` over the whole set, plus its regularization terms.

    What Keras' own validation pass reports as ``val_loss`` (the per-sample
    mean, then ``model.losses``), computed from predictions already made.
    """
    loss = model.loss
    fn = keras.losses.get(loss) if isinstance(loss, str) else loss
    value = float(np.mean(keras.ops.convert_to_numpy(fn(np.asarray(y_true), probs))))
    return value + sum(float(keras.ops.convert_to_numpy(term)) for term in model.losses)


def epoch_aligned(history: dict, sampled_epochs: list[int]) -> dict:
    """Keras' ``History.history`` with every list one entry per epoch: a key logged only at
    ``sampled_epochs`` (the train-side metrics) gets ``None`` at the other epochs."""
    epochs = max((len(v) for v in history.values()), default=0)
    out = {}
    for key, values in history.items():
        values = [float(v) for v in values]
        if len(values) < epochs and len(values) == len(sampled_epochs):
            full = [None] * epochs
            for epoch, value in zip(sampled_epochs, values):
                full[epoch] = value
            values = full
        out[key] = values
    return out


def objective_names() -> list[str]:
    """Every name a search objective may take (the sklearn ones and Keras' own)."""
    names = [f"val_{m}" for m in METRIC_NAMES] + ["val_loss", "val_accuracy", "loss", "accuracy"]
    return list(dict.fromkeys(names))


def check_objective(name: str) -> str:
    """``search.objective``, if it is a name the search logs (:func:`objective_names`)."""
    if name not in objective_names():
        raise ValueError(
            f"Invalid `search.objective`{did_you_mean(name, objective_names())}: "
            f"allowed objectives are {', '.join(objective_names())}. Received: search.objective={name!r}"
        )
    return name


def objective_direction(name: str) -> str:
    """``"min"`` for a loss, ``"max"`` for every other objective (accuracy, precision, recall, F1)."""
    return "min" if name.endswith("loss") else "max"


class SklearnMetrics(keras.callbacks.Callback):
    """After each epoch, one forward pass over the validation data gives every validation number.

    From the same predictions: ``val_loss`` (the compiled loss, as Keras'
    validation pass computes it: ``fit`` runs without ``validation_data``, so
    the validation split is predicted once per epoch, not twice),
    ``val_accuracy`` and every scikit-learn metric (``val_f1_macro``, ...).
    They go into ``logs`` before Keras' History and later callbacks
    (TensorBoard, early stopping, keras-tuner's checkpoint) read them, so any
    of them can be a tuner objective. ``last`` keeps the full dict (per class
    too) of the latest epoch; ``seconds`` the time spent.

    Train-side scikit-learn metrics (``f1_macro``, ...; Keras logs the
    training ``loss`` and ``accuracy`` itself, from the training pass) come
    from a fixed sample of ``train_sample`` training images, predicted every
    ``train_every`` epochs and at the last one: a second pass over training
    data would otherwise cost as much as the validation pass, for curves that
    only need to show the trend (over-fitting shows as the gap to the
    validation curve).
    """

    def __init__(
        self,
        x_val,
        y_val,
        num_classes: int,
        batch_size: int = 1024,
        x_train=None,
        y_train=None,
        train_sample: int = 1024,
        seed: int = 0,
        train_every: int = 5,
    ):
        super().__init__()
        self.x_val, self.y_val = x_val, np.asarray(y_val)
        self.num_classes, self.batch_size = num_classes, batch_size
        self.x_train = self.y_train = None
        if x_train is not None:  # a fixed sample: the train-side curves cost little and stay comparable
            idx = np.random.default_rng(seed).permutation(len(y_train))[:train_sample]
            self.x_train, self.y_train = x_train[idx], np.asarray(y_train)[idx]
        self.train_every = train_every
        self.train_epochs: list[int] = []  # the epochs (0-based) with train-side scikit-learn metrics
        self.last: dict = {}
        self.last_pred = None
        self.seconds = 0.0

    def _predict(self, x, y):
        # One batch shape for the whole set when it fits: one trace per model.
        return predict_probabilities(self.model, x, min(self.batch_size, len(y)))

    def on_epoch_end(self, epoch, logs=None):
        start = time.perf_counter()
        probs = self._predict(self.x_val, self.y_val)
        self.last_pred = labels_from(probs)
        self.last = classification_metrics(self.y_val, self.last_pred, self.num_classes)
        if logs is not None:
            logs["val_loss"] = compiled_loss(self.model, self.y_val, probs)
            for name in METRIC_NAMES:
                logs[f"val_{name}"] = self.last[name]
            last_epoch = epoch + 1 == (self.params or {}).get("epochs")
            if self.x_train is not None and ((epoch + 1) % self.train_every == 0 or last_epoch):
                train = classification_metrics(
                    self.y_train,
                    labels_from(self._predict(self.x_train, self.y_train)),
                    self.num_classes,
                    per_class=False,
                )
                for name in METRIC_NAMES:
                    if name != "accuracy":
                        logs[name] = train[name]
                self.train_epochs.append(epoch)
        self.seconds += time.perf_counter() - start
