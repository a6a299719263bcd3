import numpy as np
import pytest

import kerascnn
from tests.conftest import assert_trainable


def test_default_is_the_notes_example_flow():
    model = kerascnn.create_model("simple_cnn")
    shapes = {l.name: tuple(l.output.shape[1:]) for l in model.layers}
    assert shapes["block1_conv"] == (32, 32, 16) and shapes["block1_pool"] == (16, 16, 16)
    assert shapes["block2_conv"] == (16, 16, 32) and shapes["block2_pool"] == (8, 8, 32)
    assert shapes["flatten"] == (2048,) and shapes["fc1"] == (128,) and shapes["predictions"] == (10,)


@pytest.mark.backend
@pytest.mark.parametrize("shape", [(64, 2), (16, 16, 1), (8, 8, 8, 1)])
def test_one_two_and_three_d_inputs(shape):
    model = kerascnn.create_model(
        "simple_cnn",
        input_shape=shape,
        num_classes=4,
        conv_layers=2,
        filters=4,
        dense_units=8,
        bn_placement="before_activation",
        dropout=0.1,
    )
    rank = len(shape) - 1
    assert type(model.get_layer("block1_conv")).__name__ == f"Conv{rank}D"
    assert type(model.get_layer("block2_pool")).__name__ == f"MaxPooling{rank}D"
    assert_trainable(model)


def test_per_layer_settings_override_shared_ones():
    model = kerascnn.create_model(
        "simple_cnn",
        input_shape=(28, 28, 1),
        num_classes=10,
        kernel_size=3,
        conv_layers=[
            {"kernel_size": 5, "padding": "valid"},
            {"strides": 2, "pool": "none"},
            {"conv_type": "separable", "activation": "elu", "pool": "global_avg"},
        ],
        filters=[8, 16, 32],
        dense_layers=[64, 32],
    )
    assert model.get_layer("block1_conv").kernel.shape == (5, 5, 1, 8)
    assert model.get_layer("block1_pool").output.shape[1:] == (12, 12, 8)
    assert model.get_layer("block2_conv").output.shape[1:] == (6, 6, 16)
    assert type(model.get_layer("block3_conv")).__name__ == "SeparableConv2D"
    assert model.get_layer("fc1").units == 64 and model.get_layer("fc2").units == 32
    assert_trainable(model)


def test_depthwise_layers_keep_channels():
    model = kerascnn.create_model(
        "simple_cnn", input_shape=(16, 16, 3), conv_layers=[{}, {"conv_type": "depthwise"}], filters=8
    )
    assert model.get_layer("block2_conv").output.shape[-1] == 8


def test_no_dense_layers_and_filters_doubling():
    model = kerascnn.create_model("simple_cnn", input_shape=(32, 32, 3), conv_layers=4, filters=4, dense_layers=0)
    assert [model.get_layer(f"block{i}_conv").filters for i in range(1, 5)] == [4, 8, 16, 32]
    assert [l.name for l in model.layers][-2:] == ["flatten", "predictions"]


def test_collapsing_stack_names_the_layer_and_the_minimum():
    with pytest.raises(ValueError) as err:
        kerascnn.create_model("simple_cnn", input_shape=(8, 8, 1), conv_layers=3, kernel_size=5, padding="valid")
    msg = str(err.value)
    assert "block2_conv" in msg and "smallest input it accepts is 36×36×1" in msg


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(conv_layers=[{"kernal_size": 3}]), "did you mean 'kernel_size'"),
        (dict(conv_layers="three"), "Received: conv_layers='three'"),
        (dict(conv_layers=2, filters=[8]), "list of 2 ints"),
        (dict(dense_layers=[64, "wide"]), "dense_layers\\[1\\]"),
        (dict(activation="relu7"), "did you mean 'relu'"),
        (dict(input_shape=(8, 8, 8, 8, 1)), "Received: input_shape"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kerascnn.create_model("simple_cnn", **kwargs)


def test_predictions_are_probabilities():
    model = kerascnn.create_model("simple_cnn", input_shape=(8, 8, 1), num_classes=10, conv_layers=1)
    y = np.asarray(model(np.random.rand(4, 8, 8, 1).astype("float32")))
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-5)
