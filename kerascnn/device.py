"""Device settings of a run: GPU memory growth, mixed precision, XLA, profiling.

One place that turns the ``train.mixed_precision`` / ``train.jit_compile`` /
``train.profile_batch`` switches into Keras and TensorFlow settings, and says
plainly what each does on the machine at hand (all of them validate and run
on a CPU-only machine too).
"""

from __future__ import annotations

import keras


def gpu_names() -> list[str]:
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return [gpu.name for gpu in tf.config.list_physical_devices("GPU")]
    if keras.backend.backend() == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    return []


def configure(train: dict, printer=print) -> list[str]:
    """Apply the device switches of a ``train`` section; return notes on what they do here."""
    notes = []
    gpus = gpu_names()
    if keras.backend.backend() == "tensorflow" and gpus:
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            try:  # successive trials then share the card instead of the first one holding it all
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # already initialised in this process: leave it as it is
                pass
    if train.get("mixed_precision"):
        if gpus:
            keras.mixed_precision.set_global_policy("mixed_float16")
            notes.append("mixed precision on: float16 compute, float32 weights and outputs")
        else:
            keras.mixed_precision.set_global_policy("float32")
            notes.append("train.mixed_precision: no GPU here, so training stays in float32 (float16 is slower on CPUs)")
    else:
        keras.mixed_precision.set_global_policy("float32")
    jit = train.get("jit_compile", "auto")
    if jit is True:
        notes.append("train.jit_compile: every model compiled with XLA" + ("" if gpus else " (on the CPU)"))
    elif jit is False:
        notes.append("train.jit_compile: XLA off")
    if train.get("profile_batch"):
        notes.append(f"train.profile_batch={train['profile_batch']}: TensorBoard profiler traces those batches "
                     "(view with the tensorboard-plugin-profile package)" + ("" if gpus else "; CPU ops only here"))
    for note in notes:
        printer(note)
    return notes


def strategy(train: dict, printer=print):
    """``tf.distribute.MirroredStrategy`` for ``train.strategy: mirrored``, else ``None``.

    Mirrors over the visible GPUs, or over the logical CPU devices when there
    is no GPU (how the tests exercise it). ``train.batch_size`` is per replica:
    each step processes ``batch_size * replicas`` samples.
    """
    if train.get("strategy") != "mirrored":
        return None
    if keras.backend.backend() != "tensorflow":
        raise ValueError("train.strategy: mirrored uses tf.distribute, so it needs the TensorFlow backend "
                         f"(KERAS_BACKEND is {keras.backend.backend()!r})")
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    result = tf.distribute.MirroredStrategy(devices=devices)
    printer(f"train.strategy: mirrored over {result.num_replicas_in_sync} device(s) ({', '.join(devices)}); "
            f"each step takes batch_size × {result.num_replicas_in_sync} samples")
    return result
