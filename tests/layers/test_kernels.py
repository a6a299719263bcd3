import numpy as np
import pytest

import keras

from kerascnn.layers import CLASSIC_KERNELS, ClassicKernel, classic_kernel


def test_kernels_are_the_notes_matrices():
    np.testing.assert_array_equal(classic_kernel("laplacian"), [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
    np.testing.assert_allclose(classic_kernel("gaussian"), np.outer([1, 2, 1], [1, 2, 1]) / 16)
    np.testing.assert_array_equal(classic_kernel("sobel_x"), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(classic_kernel("sobel_y"), classic_kernel("sobel_x").T)
    np.testing.assert_array_equal(classic_kernel("prewitt_y"), [[-1, -1, -1], [0, 0, 0], [1, 1, 1]])
    np.testing.assert_allclose(classic_kernel("box"), np.full((3, 3), 1 / 9))
    np.testing.assert_array_equal(classic_kernel("cross"), [[0, 1, 0], [1, 0, 1], [0, 1, 0]])


def test_smoothing_kernels_sum_to_one_and_edge_kernels_to_zero():
    for name in ("gaussian", "box"):
        assert classic_kernel(name).sum() == pytest.approx(1)
    for name in ("laplacian", "sobel_x", "sobel_y", "prewitt_x", "prewitt_y"):
        assert classic_kernel(name).sum() == 0


def test_initializer_tiles_every_channel_pair_and_serializes():
    init = ClassicKernel("sobel_x")
    w = np.asarray(init((3, 3, 2, 4)))
    for i in range(2):
        for o in range(4):
            np.testing.assert_array_equal(w[:, :, i, o], CLASSIC_KERNELS["sobel_x"])
    again = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert isinstance(again, ClassicKernel) and again.kernel_name == "sobel_x"


def test_sobel_x_finds_vertical_edges():
    image = np.zeros((1, 6, 6, 1), "float32")
    image[..., 3:, 0] = 1.0  # dark left, bright right
    conv = keras.layers.Conv2D(1, 3, use_bias=False, kernel_initializer=ClassicKernel("sobel_x"))
    out = np.asarray(conv(image))[0, :, :, 0]
    assert out[:, 1].min() == 4 and out[:, 2].min() == 4  # columns straddling the edge
    assert np.all(out[:, 0] == 0) and np.all(out[:, 3] == 0)


def test_unknown_kernel_and_wrong_shape():
    with pytest.raises(ValueError, match="did you mean 'sobel_x'"):
        ClassicKernel("sobelx")
    with pytest.raises(ValueError, match="kernel_size=3"):
        ClassicKernel("box")((5, 5, 1, 1))
