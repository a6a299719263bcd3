"""Inception-v3's knobs reach their layers (keras.applications parity: test_zoo.py, test_applications.py)."""

import keras
import keras_tuner as kt

import kerascnn
from kerascnn.search import CNNHyperModel


def _kernels(model):
    return [layer.kernel_size for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def test_factorised_kernels_and_their_size():
    paper = _kernels(kerascnn.create_model("inception_v3", input_shape=(75, 75, 3), num_classes=3))
    assert paper.count((1, 7)) == paper.count((7, 1)) == 4 * 3 + 1  # modules B: 3 pairs each; mixed8: 1
    assert paper.count((1, 3)) == paper.count((3, 1)) == 4  # modules C: two fan-outs each
    five = _kernels(kerascnn.create_model("inception_v3", input_shape=(75, 75, 3), num_classes=3, kernel_size=5))
    assert five.count((1, 5)) == 13 and (1, 7) not in five
    square = kerascnn.create_model("inception_v3", input_shape=(75, 75, 3), num_classes=3, factorize=False)
    kernels = _kernels(square)
    assert not {(1, 7), (7, 1), (1, 3), (3, 1)} & set(kernels) and kernels.count((7, 7)) == 4 * 3 + 1
    assert "mixed9_0" not in [layer.name for layer in square.layers]  # no fan-out to concatenate


def test_the_search_declares_factorize():
    hm = CNNHyperModel((75, 75, 3), 3, "inception_v3", factorize=None, tune_unlisted=False)
    hp = kt.HyperParameters()
    hm.build(hp)
    assert [(h.name, h.values) for h in hp.space] == [("factorize", [True, False])]
    hp.values["factorize"] = False
    assert (7, 7) in _kernels(hm.build(hp))
