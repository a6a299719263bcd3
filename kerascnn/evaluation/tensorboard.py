"""What the kit adds to TensorBoard beyond Keras' and keras-tuner's own logs.

Keras' ``TensorBoard`` callback already writes loss, accuracy, learning rate,
every scikit-learn metric the :class:`SklearnMetrics` callback put into the
logs, and the model graph; keras-tuner adds one HParams session per trial.
This module writes the rest:

- per trial: a confusion-matrix image of the validation data and a text
  summary (hyperparameters, parameter count, per-class classification report);
  a failed trial's session marked as failed, with its reason;
- per run: the HParams experiment listing every searched hyperparameter and
  every metric (TensorBoard otherwise guesses and shows few of each), and the
  resolved config and the device as text.

TensorBoard writers need TensorFlow: on other backends these functions do nothing.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from kerascnn.evaluation.metrics import METRIC_NAMES

#: Run folders inside a trial's log dir, as Keras' TensorBoard callback names them.
TRAIN, VALIDATION = "train", "validation"


def _tf():
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return tf


def confusion_matrix_figure(cm: np.ndarray, class_names, title: str = "Confusion matrix"):
    """A matplotlib figure of a confusion matrix, counts written in each cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(cm)
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * n + 2), max(3.5, 0.5 * n + 1.5)), dpi=100)
    im = ax.imshow(cm, cmap="Blues")
    ax.set(xticks=range(n), yticks=range(n), xticklabels=class_names, yticklabels=class_names,
           xlabel="predicted", ylabel="true", title=title)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    limit = cm.max() / 2 if cm.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if cm[i, j] > limit else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def figure_to_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_trial_summaries(log_dir, *, y_true, y_pred, class_names, hyperparameters: dict,
                          params: int, step: int) -> None:
    """Confusion matrix image and text summary for one trial, in ``log_dir/validation``."""
    tf = _tf()
    if tf is None:
        return
    from sklearn.metrics import classification_report, confusion_matrix

    labels = list(range(len(class_names)))
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    png = figure_to_png(confusion_matrix_figure(cm, class_names, "Validation confusion matrix"))
    report = classification_report(y_true, y_pred, labels=labels, target_names=[str(c) for c in class_names],
                                   zero_division=0)
    table = "| hyperparameter | value |\n|---|---|\n" + "\n".join(
        f"| {k} | {v} |" for k, v in hyperparameters.items() if not k.startswith("tuner/"))
    text = f"**Parameters:** {params:,}\n\n{table}\n\n**Classification report (validation)**\n\n    " + \
        report.replace("\n", "\n    ")
    writer = tf.summary.create_file_writer(str(Path(log_dir) / VALIDATION))
    with writer.as_default():
        tf.summary.image("confusion_matrix", tf.image.decode_png(png)[None], step=step)
        tf.summary.text("trial_summary", text, step=step)
    writer.close()


def take_hparams_session(callbacks: list):
    """Remove keras-tuner's HParams callback from ``callbacks``; return ``(hparams, trial_id)`` or ``None``.

    That callback reports every trial whose ``fit`` returns as a success, also
    one stopped by a NaN loss; the kit writes the session itself
    (:func:`start_session`, :func:`end_session`) to record the real outcome.
    """
    from kerascnn import _compat

    for cb in list(callbacks):
        session = _compat.hparams_callback_session(cb)
        if session is not None:
            callbacks.remove(cb)
            return session
    return None


def start_session(log_dir, hparams: dict, trial_id) -> None:
    tf = _tf()
    if tf is None:
        return
    from tensorboard.plugins.hparams import api as hp_api

    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        hp_api.hparams(hparams, trial_id=trial_id)
    writer.close()


def end_session(log_dir, success: bool) -> None:
    tf = _tf()
    if tf is None:
        return
    from tensorboard.plugins.hparams import api_pb2
    from tensorboard.plugins.hparams import summary as hp_summary

    status = api_pb2.STATUS_SUCCESS if success else api_pb2.STATUS_FAILURE
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        tf.summary.experimental.write_raw_pb(hp_summary.session_end_pb(status).SerializeToString(), step=0)
    writer.close()


def mark_trial_failed(log_dir, hyperparameters: dict, trial_id: str, reason: str) -> None:
    """Record a failed trial in the HParams dashboard (status failure) with its reason."""
    tf = _tf()
    if tf is None:
        return
    started = Path(log_dir).exists() and any(Path(log_dir).glob("events.out.tfevents.*"))
    if not started:  # failed before training began: the session needs its start too
        start_session(log_dir, {k: v for k, v in hyperparameters.items() if not k.startswith("tuner/")}, trial_id)
    end_session(log_dir, success=False)
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        tf.summary.text("failure", f"Trial {trial_id} failed: {reason}", step=0)
    writer.close()


def _domain(hp, hp_api):
    name = type(hp).__name__
    if name == "Choice":
        return hp_api.Discrete(list(hp.values))
    if name == "Boolean":
        return hp_api.Discrete([False, True])
    if name == "Fixed":
        return hp_api.Discrete([hp.value])
    if name == "Int":
        return hp_api.IntInterval(int(hp.min_value), int(hp.max_value))
    return hp_api.RealInterval(float(hp.min_value), float(hp.max_value))


def write_hparams_experiment(tb_dir, space, objective: str) -> None:
    """The run's HParams experiment: every searched hyperparameter and every metric."""
    tf = _tf()
    if tf is None:
        return
    from tensorboard.plugins.hparams import api as hp_api

    hparams = [hp_api.HParam(hp.name, _domain(hp, hp_api)) for hp in space if not hp.name.startswith("tuner/")]
    metrics = []
    for name in METRIC_NAMES:
        display = f"val_{name}" + (" (objective)" if f"val_{name}" == objective else "")
        metrics.append(hp_api.Metric(f"epoch_{name}", group=VALIDATION, display_name=display))
    metrics += [hp_api.Metric("epoch_loss", group=VALIDATION, display_name="val_loss"),
                hp_api.Metric("epoch_loss", group=TRAIN, display_name="loss"),
                hp_api.Metric("epoch_accuracy", group=TRAIN, display_name="accuracy")]
    writer = tf.summary.create_file_writer(str(tb_dir))
    with writer.as_default():
        hp_api.hparams_config(hparams=hparams, metrics=metrics)
    writer.close()


def device_description(train: dict) -> dict:
    """The device a run trains on, and the GPU switches in effect there."""
    import keras

    info = {"backend": keras.backend.backend(), "gpus": [], "mixed_precision": keras.mixed_precision.global_policy().name,
            "jit_compile": train.get("jit_compile"), "profile_batch": train.get("profile_batch")}
    tf = _tf()
    if tf is not None:
        for gpu in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(gpu)
            info["gpus"].append(details.get("device_name", gpu.name))
    import platform

    info["cpu"] = platform.processor() or platform.machine()
    return info


def write_run_text(tb_dir, config: dict, device: dict) -> None:
    """The resolved config and the device, as text under ``tb/run_info``."""
    tf = _tf()
    if tf is None:
        return
    import yaml

    writer = tf.summary.create_file_writer(str(Path(tb_dir) / "run_info"))
    with writer.as_default():
        tf.summary.text("config", "    " + yaml.safe_dump(config, sort_keys=False).replace("\n", "\n    "), step=0)
        tf.summary.text("device", "    " + json.dumps(device, indent=2).replace("\n", "\n    "), step=0)
    writer.close()
