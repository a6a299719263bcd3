"""Every registered model: builds, trains one step, has the published size."""

import numpy as np
import pytest

import keras

import kerascnn
from kerascnn import geometry
from tests.conftest import assert_trainable

#: Small inputs so the forward/backward pass stays fast on 2 CPU cores.
SMALL_INPUT = {"lenet5": (32, 32, 1), "alexnet": (67, 67, 3), "simple_cnn": (16, 16, 3)}


@pytest.mark.parametrize("name", kerascnn.list_models())
def test_builds_and_trains_on_a_tiny_batch(name):
    shape = SMALL_INPUT.get(name, (32, 32, 3))
    model = kerascnn.create_model(name, input_shape=shape, num_classes=3)
    assert isinstance(model, keras.Model) and model.name == name
    assert model.output_shape == (None, 3)
    y = assert_trainable(model)
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-5)


# Published / reference parameter counts at each model's reference input, 1000 or 10 classes.
PARAMS = {
    "simple_cnn": 268_650,  # the notes' example flow: 448 + 4,640 + 262,272 + 1,290
    "lenet5": 61_706,
    "alexnet": 62_378_344,
    "vgg11": 132_863_336,
    "vgg13": 133_047_848,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_counts(name):
    model = kerascnn.create_model(name)
    assert model.count_params() == PARAMS[name]


@pytest.mark.parametrize("name, reference", [("vgg16", "VGG16"), ("vgg19", "VGG19")])
def test_vgg_matches_keras_applications(name, reference):
    ours = kerascnn.create_model(name, input_shape=(224, 224, 3), num_classes=1000)
    theirs = getattr(keras.applications, reference)(weights=None)
    assert ours.count_params() == theirs.count_params()
    # same weighted layers in the same order with the same shapes
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]


@pytest.mark.parametrize("name", kerascnn.list_models())
def test_plan_agrees_with_the_built_model_layer_by_layer(name):
    """Shapes and parameters of the unbuilt plan equal Keras' own, layer by layer."""
    kwargs = {"input_shape": SMALL_INPUT.get(name, (32, 32, 3)), "num_classes": 7}
    plan = kerascnn.plan_model(name, **kwargs)
    assert plan is not None, f"{name} cannot be described without building"
    model = kerascnn.create_model(name, **kwargs)
    table = plan.trace()
    assert plan.count_params() == model.count_params()
    layers = {l.name: l for l in model.layers}
    checked = 0
    for row in table:
        if row.name in layers:
            assert tuple(layers[row.name].output.shape[1:]) == row.output_shape, row.name
            assert layers[row.name].count_params() == row.params, row.name
            checked += 1
    assert checked >= len([l for l in model.layers if l.count_params()])


def test_batch_norm_variant_adds_bn_before_each_activation():
    model = kerascnn.create_model("vgg11_bn", input_shape=(32, 32, 3), num_classes=3)
    kinds = [type(l).__name__ for l in model.layers]
    assert kinds.count("BatchNormalization") == 8
    i = kinds.index("Conv2D")
    assert kinds[i:i + 3] == ["Conv2D", "BatchNormalization", "Activation"]


def test_alexnet_layer_shapes_follow_the_paper():
    model = kerascnn.create_model("alexnet")
    assert model.get_layer("conv1_conv").output.shape[1:] == (55, 55, 96)
    assert model.get_layer("conv1_pool").output.shape[1:] == (27, 27, 96)
    assert model.get_layer("conv5_pool").output.shape[1:] == (6, 6, 256)
    assert model.get_layer("flatten").output.shape[1:] == (9216,)


def test_lenet5_layer_shapes_follow_the_notes():
    model = kerascnn.create_model("lenet5")
    shapes = {l.name: tuple(l.output.shape[1:]) for l in model.layers}
    assert shapes["conv1_conv"] == (28, 28, 6) and shapes["conv1_pool"] == (14, 14, 6)
    assert shapes["conv2_conv"] == (10, 10, 16) and shapes["conv2_pool"] == (5, 5, 16)
    assert shapes["fc1"] == (120,) and shapes["fc2"] == (84,) and shapes["predictions"] == (10,)


@pytest.mark.parametrize("name, minimum", [("alexnet", "67×67×3"), ("vgg16", "32×32×3"), ("lenet5", "16×16×3")])
def test_too_small_input_fails_early_with_the_minimum(name, minimum, monkeypatch):
    from kerascnn.layers import build

    monkeypatch.setattr(build, "build_sequential_model", lambda *a, **k: pytest.fail("built anyway"))
    with pytest.raises(ValueError) as err:
        kerascnn.create_model(name, input_shape=(8, 8, 3), num_classes=10)
    msg = str(err.value)
    assert f"smallest input it accepts is {minimum}" in msg
    assert "Received: input_shape=(8, 8, 3)" in msg


@pytest.mark.parametrize("name", ["vgg16", "alexnet", "lenet5", "simple_cnn"])
@pytest.mark.parametrize("pooling, rank", [(None, 3), ("avg", 1), ("max", 1)])
def test_include_top_false(name, pooling, rank):
    shape = SMALL_INPUT.get(name, (32, 32, 3))
    model = kerascnn.create_model(name, input_shape=shape, include_top=False, pooling=pooling)
    assert len(model.output_shape) - 1 == rank
    assert not any(l.name == "predictions" for l in model.layers)


def test_bad_shared_keywords():
    with pytest.raises(ValueError, match="Received: input_shape=\\(32, 32\\)"):
        kerascnn.create_model("vgg16", input_shape=(32, 32))
    with pytest.raises(ValueError, match="Received: num_classes=0"):
        kerascnn.create_model("lenet5", num_classes=0)
    with pytest.raises(ValueError, match="Received: pooling='average'"):
        kerascnn.create_model("lenet5", include_top=False, pooling="average")


def test_sigmoid_binary_classifier():
    model = kerascnn.create_model("lenet5", num_classes=1, classifier_activation="sigmoid")
    assert model.output_shape == (None, 1)
