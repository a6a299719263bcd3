"""The lecture notes' classic fixed filters, usable as Keras initializers.

``conv_block(x, 1, kernel_size=3, kernel_initializer="laplacian")`` starts a
convolution as that filter; pass ``trainable=False`` to keep it fixed. The
initializer is registered as Keras-serializable, so saved models reload.
"""

from __future__ import annotations

import numpy as np

import keras

from kerascnn.validation import check_choice

#: 3×3 filters from the notes. Keras convolutions are cross-correlations (as the
#: notes point out for deep-learning libraries), so these are applied unflipped.
CLASSIC_KERNELS = {
    "laplacian": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "gaussian": [[1 / 16, 1 / 8, 1 / 16], [1 / 8, 1 / 4, 1 / 8], [1 / 16, 1 / 8, 1 / 16]],
    "sobel_x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel_y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    # The notes' "match the filter" exercise uses these two (Prewitt) edge filters.
    "prewitt_x": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "prewitt_y": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "box": [[1 / 9] * 3] * 3,
    "cross": [[0, 1, 0], [1, 0, 1], [0, 1, 0]],
}


def classic_kernel(name: str) -> np.ndarray:
    """The named 3×3 filter as a float32 array."""
    check_choice("kernel", name, tuple(CLASSIC_KERNELS))
    return np.asarray(CLASSIC_KERNELS[name], dtype="float32")


@keras.saving.register_keras_serializable(package="kerascnn")
class ClassicKernel(keras.initializers.Initializer):
    """Initialise a 2D conv kernel ``(3, 3, in, out)`` with a classic filter.

    Every ``(in, out)`` slice gets the same filter, so a standard conv applies
    it to the sum of the input channels and a depthwise conv to each channel.
    """

    def __init__(self, name: str):
        self.kernel_name = check_choice("kernel_initializer", name, tuple(CLASSIC_KERNELS))

    def __call__(self, shape, dtype=None):
        base = classic_kernel(self.kernel_name)
        if len(shape) != 4 or tuple(shape[:2]) != base.shape:
            raise ValueError(
                f"Invalid `kernel_initializer`: the classic kernel {self.kernel_name!r} is 3×3 and "
                f"needs a 2D convolution with kernel_size=3. Received: kernel shape={tuple(shape)}"
            )
        tiled = np.broadcast_to(base[:, :, None, None], tuple(shape))
        return keras.ops.convert_to_tensor(np.array(tiled), dtype=dtype or "float32")

    def get_config(self):
        return {"name": self.kernel_name}
