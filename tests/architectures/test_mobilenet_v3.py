"""MobileNetV3's own knobs reach their layers; it builds on signals (keras.applications parity: test_zoo.py)."""

import numpy as np
import pytest

import keras

import kerascnn
from kerascnn.search import CNNHyperModel


def _layers(model, kind):
    return [layer for layer in model.layers if isinstance(layer, kind)]


def _gates(model):
    return [layer.name for layer in model.layers if layer.name.endswith("squeeze_excite_mul")]


def test_se_ratio_activation_alpha_and_kernel_reach_their_layers():
    base = kerascnn.create_model("mobilenet_v3_small", input_shape=(64, 64, 3), num_classes=4)
    assert len(_gates(base)) == 9  # every block but the second and third
    swish = {layer.get_config()["activation"] for layer in base.layers if layer.name.endswith("_hard_swish")}
    assert swish == {"hard_silu"}  # Keras' name for hard-swish
    assert {layer.kernel_size for layer in _layers(base, keras.layers.DepthwiseConv2D)} == {(3, 3), (5, 5)}

    plain = kerascnn.create_model(
        "mobilenet_v3_small", input_shape=(64, 64, 3), num_classes=4, se_ratio=0.0, activation="relu", kernel_size=3
    )
    assert _gates(plain) == []
    assert not [layer for layer in plain.layers if "hard_swish" in layer.name]
    assert {layer.kernel_size for layer in _layers(plain, keras.layers.DepthwiseConv2D)} == {(3, 3)}
    # keras' minimalistic variant is those three settings
    minimal = keras.applications.MobileNetV3Small(weights=None, input_shape=(64, 64, 3), classes=4, minimalistic=True)
    assert plain.count_params() == minimal.count_params()

    thin = kerascnn.create_model("mobilenet_v3_small", input_shape=(64, 64, 3), num_classes=4, alpha=0.75)
    assert thin.get_layer("expanded_conv_project").filters == 16 * 3 // 4 // 8 * 8 + 8  # 12 rounded up to 16
    assert thin.get_layer("expanded_conv_10_project").filters == 72  # 96 * 0.75


def test_bad_knob_values_name_the_argument():
    with pytest.raises(ValueError, match="se_ratio"):
        kerascnn.create_model("mobilenet_v3_small", se_ratio=2)
    with pytest.raises(ValueError, match="activation"):
        kerascnn.create_model("mobilenet_v3_small", activation="hard_swoosh")
    with pytest.raises(ValueError, match="alpha"):
        kerascnn.create_model("mobilenet_v3_large", alpha=0)


def test_signals_build_with_depthwise_conv1d():
    model = kerascnn.create_model("mobilenet_v3_small", input_shape=(128, 2), num_classes=3)
    assert _layers(model, keras.layers.DepthwiseConv1D)
    assert np.asarray(model(np.zeros((2, 128, 2), "float32"))).shape == (2, 3)
    assert kerascnn.model_info("mobilenet_v3_large").ranks == (1, 2)


def test_the_search_tunes_squeeze_excitation_activation_and_width():
    import keras_tuner as kt

    hm = CNNHyperModel(
        (64, 64, 3),
        3,
        "mobilenet_v3_small",
        se_ratio=[0.25, 0.0],
        activation=["hard_swish", "relu"],
        alpha=[1.0, 0.75],
        tune_unlisted=False,
    )
    hp = kt.HyperParameters()
    hm.build(hp)
    assert sorted(h.name for h in hp.space) == ["activation", "alpha", "se_ratio"]
    hp.values.update(se_ratio=0.0, activation="relu", alpha=0.75)
    model = hm.build(hp)
    assert _gates(model) == [] and not [layer for layer in model.layers if "hard_swish" in layer.name]
    assert model.get_layer("expanded_conv_10_project").filters == 72


def test_keras_dropout_rate_keyword_is_accepted():
    """keras.applications.MobileNetV3Small(dropout_rate=...) works unchanged on the twin."""
    model = kerascnn.create_model("mobilenet_v3_small", input_shape=(64, 64, 3), num_classes=4, dropout_rate=0.5)
    assert [layer.rate for layer in _layers(model, keras.layers.Dropout)] == [0.5]
    with pytest.raises(ValueError, match="dropout_rate"):
        kerascnn.create_model("mobilenet_v3_small", dropout_rate=1.5)
