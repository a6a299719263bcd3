"""ConvNeXt's own knobs reach their layers; LayerScale saves; it builds on signals and volumes (parity: test_zoo.py)."""

import numpy as np
import pytest

import keras

import kerascnn
from kerascnn.layers.scale import LayerScale
from kerascnn.search import CNNHyperModel

SMALL = {"input_shape": (32, 32, 3), "num_classes": 4}


def _of(model, kind):
    return [layer for layer in kerascnn.architectures._common.all_layers(model) if isinstance(layer, kind)]


def test_kernel_norm_and_stochastic_depth_reach_their_layers():
    paper = kerascnn.create_model("convnext_tiny", **SMALL)
    assert {layer.kernel_size for layer in paper.layers if layer.name.endswith("_depthwise_conv")} == {(7, 7)}
    assert _of(paper, keras.layers.LayerNormalization) and not _of(paper, keras.layers.BatchNormalization)
    assert not _of(paper, keras.layers.Dropout)  # keras' default: no stochastic depth, an identity per block
    assert paper.get_layer("convnext_tiny_stage_0_block_0_identity")

    knobs = kerascnn.create_model("convnext_tiny", kernel_size=3, norm="batch", drop_path_rate=0.3, **SMALL)
    assert {layer.kernel_size for layer in knobs.layers if layer.name.endswith("_depthwise_conv")} == {(3, 3)}
    assert _of(knobs, keras.layers.BatchNormalization) and not _of(knobs, keras.layers.LayerNormalization)
    rates = [layer.rate for layer in _of(knobs, keras.layers.Dropout)]
    assert len(rates) == 17 and rates == sorted(rates)  # all 18 blocks but the first (rate 0)
    assert rates[-1] == pytest.approx(0.3) and rates[0] == pytest.approx(0.3 / 17)
    with pytest.raises(ValueError, match="norm"):
        kerascnn.create_model("convnext_tiny", norm="group", **SMALL)


def test_layer_scale_is_learned_per_channel_and_round_trips(tmp_path):
    model = kerascnn.create_model("convnext_tiny", **SMALL)
    scales = _of(model, LayerScale)
    assert len(scales) == 18 and scales[0].gamma.shape == (96,)
    np.testing.assert_allclose(np.asarray(scales[0].gamma), 1e-6)
    assert len(_of(kerascnn.create_model("convnext_tiny", layer_scale_init_value=0, **SMALL), LayerScale)) == 0
    # saved and loaded (a small model: ConvNeXt-Tiny's own round trip is in test_models.py's slow set)
    small = keras.Sequential([keras.Input((4, 4, 3)), LayerScale(0.5, 3, name="scale")])
    small.get_layer("scale").gamma.assign([1.0, 2.0, 3.0])
    small.save(tmp_path / "m.keras")
    x = np.random.default_rng(0).uniform(0, 1, (1, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(kerascnn.saving.load_model(tmp_path / "m.keras")(x), x * [1.0, 2.0, 3.0], atol=1e-6)


@pytest.mark.parametrize("shape, conv", [((128, 2), keras.layers.Conv1D), ((32, 32, 32, 1), keras.layers.Conv3D)])
def test_signals_and_volumes_build(shape, conv):
    model = kerascnn.create_model("convnext_tiny", input_shape=shape, num_classes=3)
    assert all(isinstance(layer, conv) for layer in model.layers if layer.name.endswith("_depthwise_conv"))
    assert np.asarray(model(np.zeros((2,) + shape, "float32"))).shape == (2, 3)
    assert kerascnn.model_info("convnext_base").ranks == (1, 2, 3)


@pytest.mark.slow  # the knobs reach their layers above; this checks the search's wiring of them
def test_the_search_tunes_norm_kernel_and_stochastic_depth():
    import keras_tuner as kt

    hm = CNNHyperModel(
        (32, 32, 3), 3, "convnext_tiny", norm=["layer", "batch"], kernel_size=[7, 3], drop_path_rate=[0.0, 0.1],
        tune_unlisted=False,
    )  # fmt: skip
    hp = kt.HyperParameters()
    hm.build(hp)
    assert sorted(h.name for h in hp.space) == ["drop_path_rate", "kernel_size", "norm"]
    hp.values.update(norm="batch", kernel_size=3, drop_path_rate=0.1)
    model = hm.build(hp)
    assert _of(model, keras.layers.BatchNormalization) and len(_of(model, keras.layers.Dropout)) == 17


@pytest.mark.parametrize("name, features", [("convnext_tiny", (None, 768)), ("mobilenet_v3_small", (None, 1, 1, 1024))])
def test_a_trained_model_as_a_backbone_is_cut_before_its_classifier(name, features):
    """keras' heads without a ``predictions`` Dense: ConvNeXt's ``..._head_dense``, MobileNetV3's ``logits`` conv."""
    from kerascnn.architectures.transfer import load_backbone

    backbone = load_backbone(kerascnn.create_model(name, input_shape=(64, 64, 3), num_classes=5))
    assert backbone.output_shape == features
