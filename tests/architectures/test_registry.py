import pytest

import kerascnn
from kerascnn.architectures import model_info, register_model, registry


def test_list_models_has_the_foundation_architectures():
    names = kerascnn.list_models()
    for name in [
        "simple_cnn",
        "lenet5",
        "alexnet",
        "vgg11",
        "vgg13",
        "vgg16",
        "vgg19",
        "vgg11_bn",
        "vgg13_bn",
        "vgg16_bn",
        "vgg19_bn",
    ]:
        assert name in names
    assert names == sorted(names)
    assert kerascnn.list_models("vgg1?") == ["vgg11", "vgg13", "vgg16", "vgg19"]
    assert kerascnn.list_models(family="lenet") == ["lenet5"]


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(ValueError) as err:
        kerascnn.create_model("vgg61")
    msg = str(err.value)
    assert "Unknown model 'vgg61'" in msg and "did you mean" in msg
    for name in kerascnn.list_models():
        assert name in msg


def test_unknown_argument_is_refused_with_the_accepted_ones():
    with pytest.raises(ValueError) as err:
        kerascnn.create_model("lenet5", activaton="relu")
    msg = str(err.value)
    assert "`activaton` (did you mean 'activation'?)" in msg and "num_classes" in msg


def test_a_renamed_argument_names_its_replacement():
    with pytest.raises(
        ValueError,
        match=r"`batch_norm` \(renamed to `bn_placement`: batch_norm=True is "
        r"bn_placement='before_activation'\) for model 'vgg16'",
    ):
        kerascnn.create_model("vgg16", batch_norm=True)


def test_variants_do_not_accept_the_arguments_they_fix():
    assert "depths" not in model_info("vgg16").accepted_arguments()
    assert "bn_placement" in model_info("vgg16").accepted_arguments()
    assert "batch_norm" not in model_info("vgg16").accepted_arguments()  # one knob for batch norm: bn_placement


def test_a_variants_defaults_are_its_own():
    assert model_info("vgg16_bn").defaults()["bn_placement"] == "before_activation"
    assert model_info("vgg16").defaults()["bn_placement"] == "none"
    assert model_info("efficientnet_b3").defaults()["dropout"] == 0.3
    assert model_info("resnet50").defaults()["use_bias"] is True and model_info("resnet50_v2").defaults()["preact"]


def test_none_arguments_fall_back_to_builder_defaults():
    model = kerascnn.create_model("lenet5", num_classes=None, activation=None)
    assert model.output_shape == (None, 10)
    assert model.get_layer("conv1_conv").activation.__name__ == "tanh"


def test_info_describes_without_building():
    info = model_info("vgg16")
    assert info.family == "vgg" and info.default_input_shape == (224, 224, 3)
    assert info.description.startswith("VGG-16")


def test_register_model_decorator_and_duplicates(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_model(family="custom", default_input_shape=(8, 8, 1))
    def tiny_net(input_shape=(8, 8, 1), num_classes=2, name="tiny_net"):
        """A user's own model."""
        return kerascnn.create_model(
            "simple_cnn", input_shape=input_shape, num_classes=num_classes, conv_layers=1, name=name
        )

    assert "tiny_net" in kerascnn.list_models()
    assert kerascnn.create_model("tiny_net").output_shape == (None, 2)
    with pytest.raises(ValueError, match="already registered"):
        register_model(tiny_net)
