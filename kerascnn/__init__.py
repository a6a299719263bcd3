"""kerascnn: a Keras 3 experiment kit for convolutional neural networks.

Public API::

    import kerascnn
    model = kerascnn.create_model("vgg16", input_shape=(224, 224, 3), num_classes=1000)
    kerascnn.list_models()

Layer blocks live in :mod:`kerascnn.layers`, conv arithmetic in
:mod:`kerascnn.geometry`. Everything is ``channels_last``.
"""

import os as _os

from kerascnn._version import __version__

# TensorFlow's C++ log level (read once per process; set the variable yourself to override). Level 1 keeps
# its INFO lines out of tables and logs. On a machine with no NVIDIA driver, TensorFlow's CUDA build still
# calls cuInit when it first lists devices and logs "failed call to cuInit: ... CUDA error" at ERROR level
# before anything of ours; only level 3 hides that, so it is used there. The lines abseil prints before it
# reads this level (TensorFlow 2.21) are filtered out of the first import instead (kerascnn/startup.py).
if "TF_CPP_MIN_LOG_LEVEL" not in _os.environ:
    _os.environ["TF_CPP_MIN_LOG_LEVEL"] = "1" if _os.path.exists("/proc/driver/nvidia") else "3"

from kerascnn.startup import interrupted_while_starting, missing_backend, quiet_tensorflow_import  # noqa: E402

try:
    try:
        with quiet_tensorflow_import():
            import keras  # noqa: E402, F401  (the first import loads the backend, TensorFlow by default)
    except ModuleNotFoundError as _err:  # `pip install kerascnn` without an extra: say which one, in one line
        missing_backend(_err)  # returns only for the command's --help / --version, which need no backend
    else:
        from kerascnn.architectures import create_model, list_models, model_info, plan_model, register_model
except KeyboardInterrupt:  # Ctrl-C in the seconds TensorFlow takes to load: one line from the command
    interrupted_while_starting()

__all__ = ["__version__", "create_model", "list_models", "model_info", "plan_model", "register_model"]
