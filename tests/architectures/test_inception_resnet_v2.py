"""Inception-ResNet-v2's own knobs reach their layers (keras.applications parity: test_zoo.py).

In the slow set: 56M parameters built three times take 8 s on 2 cores.
"""

import pytest

import keras

import kerascnn

pytestmark = pytest.mark.slow
SMALL = {"input_shape": (75, 75, 3), "num_classes": 4}


def _kernels(model):
    return {layer.kernel_size for layer in model.layers if isinstance(layer, keras.layers.Conv2D)}


@pytest.fixture(scope="module")
def paper():
    return kerascnn.create_model("inception_resnet_v2", **SMALL)


def test_the_residual_blocks_are_scaled_and_the_last_is_linear(paper):
    names = [layer.name for layer in paper.layers]
    assert sum(n.endswith("_mixed") for n in names) == 40  # 10 + 20 + 10 blocks
    assert paper.get_layer("block35_1_scale").scale == 0.17 and paper.get_layer("block17_20_scale").scale == 0.1
    assert paper.get_layer("block8_10_scale").scale == 1.0 and "block8_10_ac" not in names
    assert paper.get_layer("block8_10_conv").filters == 2080 and paper.get_layer("block8_10_conv").use_bias


def test_factorize_kernel_size_and_activation_reach_their_layers(paper):
    assert {(1, 7), (7, 1), (1, 3), (3, 1)} <= _kernels(paper)
    square = kerascnn.create_model("inception_resnet_v2", factorize=False, kernel_size=5, activation="elu", **SMALL)
    assert not {(1, 5), (5, 1), (1, 3), (3, 1), (1, 7)} & _kernels(square) and (5, 5) in _kernels(square)
    assert square.get_layer("block17_1_conv").input.shape[-1] == 384  # 192 + the 5×5's 192
    assert isinstance(square.get_layer("block35_1_ac"), keras.layers.ELU)
    narrow = kerascnn.create_model("inception_resnet_v2", kernel_size=5, **SMALL)
    assert {(1, 5), (5, 1)} <= _kernels(narrow) and (1, 7) not in _kernels(narrow)
