"""Xception's own knobs reach their layers; it builds on signals too (keras.applications parity: test_zoo.py)."""

import numpy as np

import keras

import kerascnn
from kerascnn.search import CNNHyperModel


def _separable(model):
    return [
        layer
        for layer in model.layers
        if isinstance(layer, (keras.layers.SeparableConv2D, keras.layers.SeparableConv1D))
    ]


def test_kernel_size_middle_blocks_and_activation_reach_their_layers():
    base = kerascnn.create_model("xception", input_shape=(71, 71, 3), num_classes=4)
    knobs = kerascnn.create_model(
        "xception", input_shape=(71, 71, 3), num_classes=4, kernel_size=5, middle_blocks=2, activation="elu"
    )
    assert {layer.kernel_size for layer in _separable(base)} == {(3, 3)}
    assert {layer.kernel_size for layer in _separable(knobs)} == {(5, 5)}
    assert len(_separable(base)) - len(_separable(knobs)) == 6 * 3  # three separable convs per middle block
    assert "block7_sepconv1_act" in [layer.name for layer in knobs.layers]  # the exit flow is renumbered
    acts = [layer for layer in knobs.layers if layer.name.endswith("_act")]
    assert acts and all("elu" in type(layer).__name__.lower() + str(layer.get_config()) for layer in acts)
    assert not any("relu" in str(layer.get_config()) for layer in acts)


def test_signals_build_with_separable_conv1d():
    model = kerascnn.create_model("xception", input_shape=(64, 2), num_classes=3)
    assert _separable(model) and all(isinstance(layer, keras.layers.SeparableConv1D) for layer in _separable(model))
    assert np.asarray(model(np.zeros((2, 64, 2), "float32"))).shape == (2, 3)
    assert kerascnn.model_info("xception").ranks == (1, 2)


def test_the_search_tunes_its_kernel():
    import keras_tuner as kt

    hm = CNNHyperModel((32, 32, 3), 3, "xception", kernel_size=[3, 5], tune_unlisted=False)
    hp = kt.HyperParameters()
    hm.build(hp)
    assert [h.name for h in hp.space] == ["kernel_size"]
    hp.values["kernel_size"] = 5
    assert {layer.kernel_size for layer in _separable(hm.build(hp))} == {(5, 5)}
