"""kerascnn: a Keras 3 experiment kit for convolutional neural networks.

Public API::

    import kerascnn
    model = kerascnn.create_model("vgg16", input_shape=(224, 224, 3), num_classes=1000)
    kerascnn.list_models()

Layer blocks live in :mod:`kerascnn.layers`, conv arithmetic in
:mod:`kerascnn.geometry`. Everything is ``channels_last``.
"""

__version__ = "0.1.0"

import os as _os

# Keep TensorFlow's C++ start-up INFO lines out of tables and logs (set the variable to override).
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from kerascnn.architectures import create_model, list_models, model_info, plan_model, register_model  # noqa: E402

__all__ = ["__version__", "create_model", "list_models", "model_info", "plan_model", "register_model"]
