"""Device settings of a run on every Keras backend: GPUs, mixed precision, XLA, steps per call, profiling, replicas.

One place that turns the ``train.mixed_precision`` / ``train.jit_compile`` /
``train.steps_per_execution`` / ``train.profile_batch`` / ``train.strategy``
switches into Keras settings for the backend at hand (TensorFlow, JAX or
PyTorch), and says plainly what each does there. All of them validate and
run on a CPU-only machine too. TensorFlow is imported only when it is the
backend.
"""

from __future__ import annotations

from typing import Mapping

import keras

from kerascnn.config import TrainSettings


def _backend() -> str:
    return keras.backend.backend()


def gpu_names() -> list[str]:
    """The GPUs the backend sees, by model name where the backend tells it."""
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [
            tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")
        ]
    if backend == "jax":
        import jax

        return [getattr(d, "device_kind", str(d)) for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def _compute_capability() -> tuple[int, int] | None:
    """The first GPU's CUDA compute capability, where the backend reports it."""
    backend = _backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            return tuple(tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")) if gpus else None
        if backend == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            return tuple(int(p) for p in str(gpus[0].compute_capability).split(".")[:2]) if gpus else None
        if backend == "torch":
            import torch

            return torch.cuda.get_device_capability(0) if torch.cuda.is_available() else None
    except (AttributeError, TypeError, ValueError, IndexError):
        return None
    return None


def precision_policy(setting, gpus: list[str]) -> tuple[str, str | None]:
    """The Keras dtype policy for ``train.mixed_precision`` and a note on the choice.

    ``true`` picks bfloat16 where the GPU computes it natively (compute
    capability 8.0 and up: A100, H100...), float16 on older GPUs, and stays
    in float32 without a GPU (half precision is slower on CPUs). An explicit
    ``float16``/``bfloat16`` is used as asked.
    """
    if not setting:
        return "float32", None
    if setting is True:
        if not gpus:
            return (
                "float32",
                "train.mixed_precision: no GPU here, so training stays in float32 (half precision is slower on CPUs)",
            )
        capability = _compute_capability()
        setting = "bfloat16" if capability is not None and capability >= (8, 0) else "float16"
    note = f"mixed precision on: {setting} compute, float32 weights and outputs"
    if not gpus:
        note += " (no GPU here: expect it to be slower than float32)"
    return f"mixed_{setting}", note


def jit_compile(train: TrainSettings | Mapping):
    """The ``jit_compile`` to give ``model.compile``: XLA on TensorFlow, always compiled on JAX."""
    if _backend() == "jax":
        return True  # Keras on JAX without jit runs op by op: far slower, and no different in results
    return TrainSettings.of(train).jit_compile


def jit_note(train: TrainSettings | Mapping) -> str:
    """What ``train.jit_compile`` means on this backend."""
    backend, jit = _backend(), TrainSettings.of(train).jit_compile
    if backend == "jax":
        return "always on: JAX compiles every step with XLA" + (
            " (train.jit_compile: false has no effect on JAX)" if jit is False else ""
        )
    if backend == "torch":
        return {True: "torch.compile", False: "off (eager PyTorch)", "auto": "auto (Keras: eager PyTorch)"}[jit]
    return {True: "XLA", False: "off", "auto": "auto (Keras decides per model)"}[jit]


def steps_per_execution(train: TrainSettings | Mapping, steps_per_epoch: int) -> int:
    """Training steps per call into the compiled function.

    On a GPU, a small model's step takes less time than launching it, so
    ``auto`` runs a whole epoch (at most 64 steps) per call; on a CPU one
    step per call costs nothing extra and keeps per-batch callbacks exact.
    """
    setting = TrainSettings.of(train).steps_per_execution
    if setting == "auto":
        return max(1, min(64, steps_per_epoch)) if gpu_names() else 1
    return int(setting)


def profile_note(train: TrainSettings | Mapping, gpus: list[str]) -> str | None:
    batches = TrainSettings.of(train).profile_batch
    if not batches:
        return None
    where = "" if gpus else "; CPU ops only here"
    backend = _backend()
    if backend == "tensorflow":
        return (
            f"train.profile_batch={batches}: TensorBoard profiler traces those batches (view with the "
            f"tensorboard-plugin-profile package){where}"
        )
    if backend == "jax":
        return (
            f"train.profile_batch={batches}: jax.profiler traces those batches into each trial's train/ "
            f"folder (view with the tensorboard-plugin-profile package){where}"
        )
    if backend == "torch":
        return (
            f"train.profile_batch={batches}: torch.profiler traces those batches into each trial's train/ "
            f"folder (view with the torch-tb-profiler package){where}"
        )
    return f"train.profile_batch={batches}: the {backend} backend has no profiler; nothing is traced"


def configure(train: TrainSettings | Mapping, printer=print) -> list[str]:
    """Apply the device switches of a ``train`` section; return (and print) notes on what they do here."""
    gpus = gpu_names()
    if _backend() == "tensorflow" and gpus:
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            try:  # successive trials then share the card instead of the first one holding it all
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # already initialised in this process: leave it as it is
                pass
    policy, precision = precision_policy(TrainSettings.of(train).mixed_precision, gpus)
    keras.mixed_precision.set_global_policy(policy)
    notes = [precision] if precision else []
    jit = TrainSettings.of(train).jit_compile
    if _backend() == "jax" or jit != "auto":
        notes.append("train.jit_compile: " + jit_note(train) + ("" if gpus else " (on the CPU)"))
    if TrainSettings.of(train).steps_per_execution != "auto":
        notes.append(
            f"train.steps_per_execution: {TrainSettings.of(train).steps_per_execution} training steps per call"
        )
    profile = profile_note(train, gpus)
    if profile:
        notes.append(profile)
    for note in notes:
        printer(note)
    return notes


def strategy(train: TrainSettings | Mapping, printer=print):
    """``(tf.distribute strategy or None, replicas)`` for ``train.strategy``.

    ``mirrored`` copies the model onto every visible GPU (or every logical
    CPU device when there is none, which is how the tests run it):
    ``tf.distribute.MirroredStrategy`` on TensorFlow, Keras'
    ``keras.distribution.DataParallel`` on JAX (set for the process, so the
    tuner needs no strategy object). ``train.batch_size`` is per replica:
    each step takes ``batch_size * replicas`` samples. Without ``mirrored``
    any distribution a previous search set is cleared.
    """
    backend = _backend()
    if TrainSettings.of(train).strategy != "mirrored":
        if backend == "jax" and keras.distribution.distribution() is not None:
            keras.distribution.set_distribution(None)
        return None, 1
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        result = tf.distribute.MirroredStrategy(devices=devices)
        replicas = result.num_replicas_in_sync
    elif backend == "jax":
        devices = keras.distribution.list_devices()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        result, replicas = None, len(devices)
    else:
        raise ValueError(
            f"train.strategy: mirrored needs the TensorFlow (tf.distribute) or JAX "
            f"(keras.distribution) backend; KERAS_BACKEND is {backend!r}. Remove train.strategy, or "
            "set KERAS_BACKEND=jax or tensorflow"
        )
    printer(
        f"train.strategy: mirrored over {replicas} device(s) ({', '.join(devices)}); "
        f"each step takes batch_size × {replicas} samples"
    )
    return result, replicas


def batch_multiple() -> int:
    """Every batch's size must be a multiple of this: the devices of Keras' JAX data parallelism, else 1."""
    if _backend() != "jax":
        return 1
    dist = keras.distribution.distribution()
    if isinstance(dist, keras.distribution.DataParallel):
        return int(dist.device_mesh.devices.size)
    return 1
