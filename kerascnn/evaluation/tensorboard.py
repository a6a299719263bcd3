"""TensorBoard logs on every Keras backend: what the kit adds, and Keras' scalars where TensorFlow is absent.

Every summary is one of TensorBoard's own protos (``scalar_pb``, ``text_pb``,
``hparams_pb``, ``hparams_config_pb``, ``session_end_pb``, the image plugin's
metadata), written by tensorboardX's event writer, so nothing here needs
TensorFlow and the dashboards are the same on TensorFlow, JAX and PyTorch:

- per epoch (:class:`TensorBoard`, used where TensorFlow is not the
  backend; on TensorFlow it is Keras' own callback, which adds the model
  graph): loss, accuracy, learning rate and every scikit-learn metric the
  :class:`SklearnMetrics` callback put into the logs, in ``train/`` and
  ``validation/`` as ``epoch_<name>``;
- per trial: the HParams session (its real outcome: a failed trial is marked
  failed, with its reason), a confusion-matrix image of the validation data
  and a text summary (hyperparameters, parameter count, per-class report);
- per run: the HParams experiment listing every searched hyperparameter and
  every metric (TensorBoard otherwise guesses and shows few of each), and the
  resolved config and the device as text.

Each trial's folder is ``tb/<trial>/execution<n>``
(:class:`kerascnn.search.trial_log.TrialLog`, on every backend).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
from pathlib import Path

import numpy as np

import keras

from kerascnn._compat import is_tuner_entry, searched_values
from kerascnn.config import TrainSettings
from kerascnn.evaluation.metrics import METRIC_NAMES

#: Run folders inside a trial's log dir, as Keras' TensorBoard callback names them.
TRAIN, VALIDATION = "train", "validation"

_files = itertools.count()


def _file_writer(log_dir):
    """tensorboardX's event writer on a new file in ``log_dir``.

    Each writer gets its own file (pid and a counter in the name): writers
    opened in the same second would otherwise share one name.
    """
    from tensorboardX import FileWriter

    return FileWriter(str(log_dir), filename_suffix=f".{os.getpid()}.{next(_files)}")


def _add(writer, summary, step: int) -> None:
    """Add one of TensorBoard's ``Summary`` protos (as tensorboardX's copy of the same message)."""
    from tensorboardX.proto.summary_pb2 import Summary

    writer.add_summary(Summary.FromString(summary.SerializeToString()), global_step=step)


@contextlib.contextmanager
def _naming(log_dir):
    """tensorboardX's failed writes (a full disk) name no file: name the event folder, for the one-line error."""
    try:
        yield
    except OSError as err:
        if err.filename is not None or err.errno is None:
            raise
        raise OSError(err.errno, err.strerror, str(log_dir)) from err


def write_summaries(log_dir, summaries, step: int = 0) -> None:
    """Append TensorBoard ``Summary`` protos to a new event file in ``log_dir``."""
    with _naming(log_dir):
        writer = _file_writer(log_dir)
        try:
            for summary in summaries:
                _add(writer, summary, step)
        finally:
            writer.close()


def scalar_pb(tag: str, value: float):
    from tensorboard.plugins.scalar.summary_v2 import scalar_pb as pb

    return pb(tag, float(value))


def text_pb(tag: str, text: str):
    from tensorboard.plugins.text.summary_v2 import text_pb as pb

    return pb(tag, text)


def image_pb(tag: str, png: bytes, width: int, height: int):
    """An image summary as ``tf.summary.image`` writes it: a string tensor ``[width, height, png]``."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.image import metadata
    from tensorboard.util import tensor_util

    tensor = tensor_util.make_tensor_proto([str(width).encode(), str(height).encode(), png], dtype="string", shape=[3])
    value = summary_pb2.Summary.Value(
        tag=tag, tensor=tensor, metadata=metadata.create_summary_metadata(display_name=tag, description="")
    )
    return summary_pb2.Summary(value=[value])


def png_pb(tag: str, png: bytes):
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        width, height = img.size
    return image_pb(tag, png, width, height)


def array_png(grid: np.ndarray) -> bytes:
    """A 2-D array in [0, 1] as a grayscale PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((np.clip(grid, 0, 1) * 255).astype("uint8")).save(buffer, format="PNG")
    return buffer.getvalue()


class TensorBoard(keras.callbacks.Callback):
    """Keras' ``TensorBoard`` callback without TensorFlow: per-epoch scalars, and the backend's profiler.

    Writes what Keras' callback writes per epoch (``epoch_<name>`` in
    ``log_dir/train`` and ``log_dir/validation``, the learning rate in
    ``train``), so both give the same scalar dashboards. Its class name is
    what keras-tuner looks for to give each trial its folder. The model graph
    is not written (TensorBoard's graph plugin reads TensorFlow graphs).
    ``profile_batch`` (``N`` or ``[start, stop]``, counted from the first
    batch) traces those batches with ``jax.profiler`` on JAX and
    ``torch.profiler`` on PyTorch into ``log_dir/train``.
    """

    def __init__(self, log_dir, profile_batch=0):
        super().__init__()
        self.log_dir = str(log_dir)
        start, stop = (profile_batch, profile_batch) if isinstance(profile_batch, int) else profile_batch
        self._profile = (int(start), int(stop)) if start else None
        self._batch, self._profiler, self._writers = 0, None, {}

    def _writer(self, name):
        if name not in self._writers:
            self._writers[name] = _file_writer(os.path.join(self.log_dir, name))
        return self._writers[name]

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if "learning_rate" not in logs and getattr(self.model, "optimizer", None) is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        for key, value in logs.items():
            folder, name = (VALIDATION, key[4:]) if key.startswith("val_") else (TRAIN, key)
            _add(self._writer(folder), scalar_pb(f"epoch_{name}", value), epoch)
        with _naming(self.log_dir):
            for writer in self._writers.values():
                writer.flush()

    def on_train_batch_begin(self, batch, logs=None):
        self._batch += 1
        if self._profile and self._batch == self._profile[0]:
            self._profiler = _start_profiler(os.path.join(self.log_dir, TRAIN))

    def on_train_batch_end(self, batch, logs=None):
        if self._profiler is not None and self._batch >= self._profile[1]:
            self._profiler()
            self._profiler = None

    def on_train_end(self, logs=None):
        if self._profiler is not None:
            self._profiler()
            self._profiler = None
        writers, self._writers = self._writers, {}
        with _naming(self.log_dir):
            for writer in writers.values():
                writer.close()


def _start_profiler(log_dir: str):
    """Start the backend's profiler writing into ``log_dir``; return the function that stops it."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        jax.profiler.start_trace(log_dir)  # TensorBoard's profile plugin reads log_dir/plugins/profile
        return jax.profiler.stop_trace
    if backend == "torch":
        import torch

        profiler = torch.profiler.profile(on_trace_ready=torch.profiler.tensorboard_trace_handler(log_dir))
        profiler.start()
        return profiler.stop
    return lambda: None  # numpy backend: nothing to trace (device.configure says so)


def tensorboard_callback(log_dir, profile_batch=0):
    """Keras' ``TensorBoard`` callback on TensorFlow (scalars, graph, profiler), :class:`TensorBoard` elsewhere."""
    if keras.backend.backend() == "tensorflow":
        return keras.callbacks.TensorBoard(log_dir=str(log_dir), histogram_freq=0, profile_batch=profile_batch)
    return TensorBoard(log_dir, profile_batch=profile_batch)


def confusion_matrix_png(cm: np.ndarray, class_names, title: str = "Confusion matrix", cell: int = 36) -> bytes:
    """A confusion matrix as a PNG: Blues-shaded cells with their counts, class names on both axes.

    Drawn with Pillow (matplotlib's dependency) in about 15 ms; the
    matplotlib figure took 0.35 s, paid once per trial on the search's clock.
    The report's larger test-split figure stays matplotlib's
    (:func:`kerascnn.results.report.confusion_matrix_figure`).
    """
    from PIL import Image, ImageDraw, ImageFont

    n, font = len(cm), ImageFont.load_default()
    left, top = 60, 40
    width, height = left + n * cell + 10, top + n * cell + 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    peak = max(int(cm.max()) if cm.size else 0, 1)
    light, dark = np.array([247, 251, 255]), np.array([8, 48, 107])  # the ends of matplotlib's "Blues"
    for i in range(n):
        for j in range(n):
            share = int(cm[i, j]) / peak
            x, y = left + j * cell, top + i * cell
            draw.rectangle(
                [x, y, x + cell - 1, y + cell - 1], fill=tuple(int(c) for c in light + share * (dark - light))
            )
            draw.text(
                (x + cell / 2, y + cell / 2),
                str(int(cm[i, j])),
                fill="white" if share > 0.5 else "black",
                font=font,
                anchor="mm",
            )
    for k, name in enumerate(class_names):
        draw.text((left - 4, top + k * cell + cell / 2), str(name)[:8], fill="black", font=font, anchor="rm")
        draw.text((left + k * cell + cell / 2, top + n * cell + 4), str(name)[:6], fill="black", font=font, anchor="mt")
    draw.text((width / 2, 8), title, fill="black", font=font, anchor="mt")
    draw.text((left + n * cell / 2, height - 14), "predicted", fill="black", font=font, anchor="mt")
    draw.text((4, top - 14), "true", fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_trial_summaries(
    log_dir, *, y_true, y_pred, class_names, hyperparameters: dict, params: int, step: int
) -> None:
    """Confusion matrix image and text summary for one trial, in ``log_dir/validation``."""
    from sklearn.metrics import classification_report, confusion_matrix

    labels = list(range(len(class_names)))
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    png = confusion_matrix_png(cm, class_names, "Validation confusion matrix")
    report = classification_report(
        y_true, y_pred, labels=labels, target_names=[str(c) for c in class_names], zero_division=0
    )
    table = "| hyperparameter | value |\n|---|---|\n" + "\n".join(
        f"| {k} | {v} |" for k, v in searched_values(hyperparameters).items()
    )
    text = f"**Parameters:** {params:,}\n\n{table}\n\n**Classification report (validation)**\n\n    " + report.replace(
        "\n", "\n    "
    )
    write_summaries(
        Path(log_dir) / VALIDATION, [png_pb("confusion_matrix", png), text_pb("trial_summary", text)], step=step
    )


def start_session(log_dir, hparams: dict, trial_id) -> None:
    """The trial's HParams session start (hyperparameter values), in its log folder."""
    from tensorboard.plugins.hparams import summary_v2

    write_summaries(log_dir, [summary_v2.hparams_pb(hparams, trial_id=str(trial_id))])


def end_session(log_dir, success: bool) -> None:
    """The trial's HParams session end with its status.

    Built from the hparams plugin's public ``metadata`` and protos, as
    ``hparams.summary.session_end_pb`` builds it (that module imports TensorFlow).
    """
    import time

    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    status = api_pb2.STATUS_SUCCESS if success else api_pb2.STATUS_FAILURE
    data = plugin_data_pb2.HParamsPluginData(
        session_end_info=plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=int(time.time()))
    )
    value = summary_pb2.Summary.Value(
        tag=metadata.SESSION_END_INFO_TAG, tensor=metadata.NULL_TENSOR, metadata=metadata.create_summary_metadata(data)
    )
    write_summaries(log_dir, [summary_pb2.Summary(value=[value])])


def mark_trial_failed(log_dir, hyperparameters: dict, trial_id: str, reason: str) -> None:
    """Record a failed trial in the HParams dashboard (status failure) with its reason."""
    started = Path(log_dir).exists() and any(Path(log_dir).glob("events.out.tfevents.*"))
    if not started:  # failed before training began: the session needs its start too
        start_session(log_dir, searched_values(hyperparameters), trial_id)
    end_session(log_dir, success=False)
    write_summaries(log_dir, [text_pb("failure", f"Trial {trial_id} failed: {reason}")])


def mark_trial_pruned(log_dir, epoch: int) -> None:
    """A pruned trial: ``pruned_epoch`` (the HParams dashboard's column) and a note; its session stays a success."""
    write_summaries(
        Path(log_dir) / VALIDATION,
        [
            scalar_pb("pruned_epoch", epoch),
            text_pb(
                "pruned",
                f"Stopped after epoch {epoch} by the median rule (search.pruning): its objective was worse than the "
                "median of the finished trials at that epoch.",
            ),
        ],
        step=max(0, epoch - 1),
    )


def _domain(hp, api):
    name = type(hp).__name__
    if name == "Choice":
        return api.Discrete(list(hp.values))
    if name == "Boolean":
        return api.Discrete([False, True])
    if name == "Fixed":
        return api.Discrete([hp.value])
    if name == "Int":
        return api.IntInterval(int(hp.min_value), int(hp.max_value))
    return api.RealInterval(float(hp.min_value), float(hp.max_value))


def write_hparams_experiment(tb_dir, space, objective: str) -> None:
    """The run's HParams experiment: every searched hyperparameter and every metric.

    Written once per log directory: a resumed search has the same space
    (:mod:`kerascnn.rundir` checks), so a second copy would only add a file.
    """
    from tensorboard.plugins.hparams import summary_v2 as api

    if any(Path(tb_dir).glob("events.out.tfevents.*")):
        return

    hparams = [api.HParam(hp.name, _domain(hp, api)) for hp in space if not is_tuner_entry(hp.name)]
    metrics = []
    for name in METRIC_NAMES:
        display = f"val_{name}" + (" (objective)" if f"val_{name}" == objective else "")
        metrics.append(api.Metric(f"epoch_{name}", group=VALIDATION, display_name=display))
    metrics += [
        api.Metric("epoch_loss", group=VALIDATION, display_name="val_loss"),
        api.Metric("epoch_loss", group=TRAIN, display_name="loss"),
        api.Metric("epoch_accuracy", group=TRAIN, display_name="accuracy"),
        api.Metric("pruned_epoch", group=VALIDATION, display_name="pruned at epoch"),
    ]
    write_summaries(tb_dir, [api.hparams_config_pb(hparams=hparams, metrics=metrics)])


def device_description(train) -> dict:
    """The device a run trains on, and the GPU switches in effect there."""
    import platform

    from kerascnn import device

    backend = keras.backend.backend()
    return {
        "backend": backend,
        "gpus": device.gpu_names(),
        "cpu": platform.processor() or platform.machine(),
        "mixed_precision": keras.mixed_precision.global_policy().name,
        "jit_compile": device.jit_note(train),
        "profile_batch": TrainSettings.of(train).profile_batch,
        "model_graph": (
            "written by Keras' TensorBoard callback (Graphs tab)"
            if backend == "tensorflow"
            else "not written: TensorBoard's graph plugin reads TensorFlow graphs only"
        ),
    }


def write_run_text(tb_dir, config: dict, device: dict) -> None:
    """The resolved config and the device, as text under ``tb/run_info``."""
    import yaml

    write_summaries(
        Path(tb_dir) / "run_info",
        [
            text_pb("config", "    " + yaml.safe_dump(config, sort_keys=False).replace("\n", "\n    ")),
            text_pb("device", "    " + json.dumps(device, indent=2).replace("\n", "\n    ")),
        ],
    )
