"""EfficientNetV2's own knobs reach their layers; it builds on signals (keras.applications parity: test_zoo.py)."""

import numpy as np
import pytest

import keras

import kerascnn
from kerascnn.search import CNNHyperModel

SMALL = {"input_shape": (64, 64, 3), "num_classes": 4}


def _depthwise_blocks(model):
    return sorted(
        {layer.name.split("_")[0] for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D)}
    )


def _drop_rates(model):
    return [layer.rate for layer in model.layers if layer.name.endswith("_drop")]


def test_fused_stages_move_the_boundary_between_fused_and_depthwise_blocks():
    paper = kerascnn.create_model("efficientnet_v2_b0", **SMALL)
    assert _depthwise_blocks(paper)[0] == "block4a"  # stages 1-3 fused: a full 3×3 conv, no depthwise
    assert paper.get_layer("block2a_expand_conv").kernel_size == (3, 3)
    assert paper.get_layer("block1a_project_conv").kernel_size == (3, 3)
    v1_style = kerascnn.create_model("efficientnet_v2_b0", fused_stages=0, **SMALL)
    assert _depthwise_blocks(v1_style)[0] == "block1a"
    assert v1_style.get_layer("block2a_expand_conv").kernel_size == (1, 1)
    more = kerascnn.create_model("efficientnet_v2_b0", fused_stages=4, **SMALL)
    assert _depthwise_blocks(more)[0] == "block5a"
    assert "block4a_se_excite" in [layer.name for layer in more.layers]  # a fused block keeps its stage's SE
    with pytest.raises(ValueError, match="fused_stages.*6 stages"):
        kerascnn.create_model("efficientnet_v2_b0", fused_stages=7, **SMALL)


def test_drop_connect_se_ratio_and_kernel_reach_their_layers():
    paper = kerascnn.create_model("efficientnet_v2_b0", **SMALL)
    rates = _drop_rates(paper)
    assert rates == sorted(rates) and 0 < rates[0] and rates[-1] < 0.2  # grows with depth, below the last block's
    assert _drop_rates(kerascnn.create_model("efficientnet_v2_b0", drop_connect_rate=0.0, **SMALL)) == []
    doubled = _drop_rates(kerascnn.create_model("efficientnet_v2_b0", drop_connect_rate=0.4, **SMALL))
    np.testing.assert_allclose(doubled, 2 * np.asarray(rates))
    no_se = kerascnn.create_model("efficientnet_v2_b0", se_ratio=0.0, **SMALL)
    assert not [layer for layer in no_se.layers if "_se_" in layer.name]
    assert paper.get_layer("block4a_se_reduce").filters == 12  # 48 input channels × 0.25
    wide = kerascnn.create_model("efficientnet_v2_b0", kernel_size=5, **SMALL)
    assert wide.get_layer("block6a_dwconv2").kernel_size == (5, 5)


def test_signals_build():
    model = kerascnn.create_model("efficientnet_v2_b0", input_shape=(128, 2), num_classes=3)
    assert any(isinstance(layer, keras.layers.DepthwiseConv1D) for layer in model.layers)
    assert np.asarray(model(np.zeros((2, 128, 2), "float32"))).shape == (2, 3)


@pytest.mark.slow  # the knobs reach their layers above; this checks the search's wiring of them
def test_the_search_tunes_fused_stages_and_drop_connect():
    import keras_tuner as kt

    hm = CNNHyperModel(
        (64, 64, 3), 3, "efficientnet_v2_b0", fused_stages=[3, 0], drop_connect_rate=[0.2, 0.0], tune_unlisted=False
    )
    hp = kt.HyperParameters()
    hm.build(hp)
    assert sorted(h.name for h in hp.space) == ["drop_connect_rate", "fused_stages"]
    hp.values.update(fused_stages=0, drop_connect_rate=0.0)
    model = hm.build(hp)
    assert _depthwise_blocks(model)[0] == "block1a" and _drop_rates(model) == []
