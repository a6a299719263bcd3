"""Every keras.applications twin side by side with keras.applications built from the same arguments.

The contract a keras.applications script relies on: any input size without
a top, keras' layer names and model name, ``classes``, pooling, logits,
``input_tensor``, and the data-format setting. (Weights and outputs:
``test_zoo.py::test_matches_keras_applications``.)
"""

import re

import numpy as np
import pytest

import keras

import kerascnn
from kerascnn.architectures._common import all_layers
from tests.architectures.test_zoo import TWINS, maybe_slow, randomize

FAST = {
    "vgg16",
    "resnet50",
    "resnet50_v2",
    "mobilenet",
    "mobilenet_v2",
    "efficientnet_b0",
    "xception",
    "mobilenet_v3_small",
}  # EfficientNetV2-B0, ConvNeXt-Tiny and Inception-v3: test_headless_twin_equals_keras_at_sizes_left_to_the_data
#   here; DenseNet-121 and Inception-v3's full contracts (~9 s each) and the rest: slow
#: Names keras.applications gives that the kit's twin does not have, as README states (the same weights).
DELIBERATE = {"mobilenet": {"conv_preds", "reshape_2"}}  # v1's classifier: one Dense, not Conv2D 1×1 + Reshape


def snake(text: str) -> str:
    text = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", text)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", text).lower()


def explicit_names(model) -> list[str]:
    """The layer names keras.applications chose (not Keras' automatic ``zero_padding2d_3``)."""
    return [
        layer.name
        for layer in model.layers
        if not re.fullmatch(re.escape(snake(type(layer).__name__)) + r"(_\d+)?", layer.name)
    ]


def both(name, **kwargs):
    theirs = getattr(keras.applications, TWINS[name])(weights=None, **kwargs)
    ours = kerascnn.create_model(name, **kwargs)
    return theirs, ours


@pytest.mark.parametrize("name", maybe_slow(sorted(TWINS), FAST))
def test_headless_twin_takes_any_size_with_keras_names(name):
    theirs, ours = both(name, include_top=False)
    assert ours.input_shape == theirs.input_shape == (None, None, None, 3)
    assert ours.output_shape == theirs.output_shape
    assert ours.count_params() == theirs.count_params()
    assert ours.name == theirs.name
    missing = set(explicit_names(theirs)) - {layer.name for layer in all_layers(ours)}
    assert missing == set(), sorted(missing)
    keras.backend.clear_session()


@pytest.mark.parametrize("name", maybe_slow(sorted(TWINS), FAST))
def test_full_twin_has_keras_names_classes_and_pooling(name):
    size = kerascnn.model_info(name).default_input_shape
    theirs, ours = both(name, input_shape=size, classes=10)
    assert ours.output_shape == theirs.output_shape == (None, 10)
    assert ours.count_params() == theirs.count_params()
    assert ours.name == theirs.name
    missing = set(explicit_names(theirs)) - {layer.name for layer in all_layers(ours)} - DELIBERATE.get(name, set())
    assert missing == set(), sorted(missing)
    for pooling in ("avg", "max"):
        theirs, ours = both(name, include_top=False, pooling=pooling, input_shape=(96, 96, 3))
        assert ours.output_shape == theirs.output_shape
    keras.backend.clear_session()


@pytest.mark.backend
@pytest.mark.parametrize(
    "name",
    [
        "resnet50",
        "mobilenet_v2",
        "efficientnet_b0",
        "vgg16",
        "mobilenet_v3_small",
        "efficientnet_v2_b0",
        "convnext_tiny",
        "xception",
        "inception_v3",
    ],
)
def test_headless_twin_equals_keras_at_sizes_left_to_the_data(name):
    """Built with ``None`` sizes, the twin computes keras.applications' features at odd and even sizes."""
    theirs, ours = both(name, include_top=False)
    randomize(theirs)
    kerascnn.architectures.weights.copy_weights(theirs, ours)
    rng = np.random.default_rng(0)
    sizes = {"inception_v3": (76, 79)}.get(name, (64, 71))  # Inception-v3 needs 75×75
    for size in sizes:  # keras pads a stride-2 conv differently on odd sizes when it does not know them
        x = rng.uniform(0, 255, (1, size, size, 3)).astype("float32")
        expected = np.asarray(theirs(x))
        assert np.abs(np.asarray(ours(x)) - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())


def test_the_geometry_checks_apply_to_known_sizes_and_need_some_size_to_fit():
    with pytest.raises(ValueError, match="too small, the smallest input it accepts is 32×32×3"):
        kerascnn.create_model("vgg16", include_top=False, input_shape=(16, 16, 3))
    plan = kerascnn.plan_model("vgg16", include_top=False)
    assert plan.input_shape == (None, None, 3) and plan.trace()[-1].output_shape == (None, None, 512)


@pytest.mark.parametrize("name", ["vgg16", "resnet50"])
def test_a_top_needs_a_static_size_as_in_keras(name):
    with pytest.raises(ValueError, match="static `input_shape`"):
        getattr(keras.applications, TWINS[name])(weights=None, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match=r"include_top=True it needs a static input size.*\(None, None, 3\)"):
        kerascnn.create_model(name, input_shape=(None, None, 3))


def test_classes_is_num_classes_and_a_conflict_is_refused():
    assert kerascnn.create_model("mobilenet", input_shape=(64, 64, 3), classes=5, alpha=0.25).output_shape == (None, 5)
    with pytest.raises(ValueError, match="`classes`.*num_classes"):
        kerascnn.create_model("mobilenet", input_shape=(64, 64, 3), classes=5, num_classes=6)


def test_input_tensor_as_keras():
    tensor = keras.Input((80, 80, 3))
    theirs, ours = both("mobilenet_v2", include_top=False, input_tensor=tensor, alpha=0.35)
    assert ours.input_shape == theirs.input_shape and ours.output_shape == theirs.output_shape
    assert ours.inputs[0] is tensor


def test_vgg_twin_has_no_dropout_unless_asked():
    """keras.applications' VGG16 has no dropout; the paper's 0.5 is one argument away."""
    kinds = [type(layer).__name__ for layer in kerascnn.create_model("vgg16", input_shape=(32, 32, 3)).layers]
    assert "Dropout" not in kinds
    paper = kerascnn.create_model("vgg16", input_shape=(32, 32, 3), dropout=0.5)
    assert [layer.name for layer in paper.layers if isinstance(layer, keras.layers.Dropout)] == ["fc1_drop", "fc2_drop"]
    assert kerascnn.model_info("vgg11").defaults()["dropout"] == 0.5  # no keras.applications twin: the paper's


@pytest.fixture
def channels_first():
    keras.config.set_image_data_format("channels_first")
    yield
    keras.config.set_image_data_format("channels_last")


def test_channels_first_is_refused_in_one_line_not_built_differently(channels_first):
    with pytest.raises(ValueError, match="image_data_format='channels_first'.*channels_last") as err:
        kerascnn.create_model("resnet50", input_shape=(123, 123, 3), include_top=False)
    assert "\n" not in str(err.value)
    from kerascnn.search.run import ConfigError, check_experiment

    with pytest.raises(ConfigError, match="channels_first"):
        check_experiment({})


def test_weights_from_a_channels_first_model_are_refused(channels_first):
    source = keras.applications.VGG16(weights=None, include_top=False, input_shape=(3, 32, 32))
    keras.config.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="`weights`: the model 'vgg16' has channels_first layers"):
        kerascnn.create_model("vgg16", include_top=False, input_shape=(32, 32, 3), weights=source)


@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_v2_b0", "mobilenet_v3_small"])
def test_a_users_own_rescaling_before_a_twin_that_rescales_inside(name):
    """keras leaves its inner Rescaling unnamed, so a user's auto-named ``rescaling`` before it cannot clash."""
    tensor = keras.layers.Rescaling(255.0)(keras.Input((64, 64, 3)))
    assert tensor._keras_history.operation.name.startswith("rescaling")
    theirs, ours = both(name, include_top=False, input_tensor=tensor)
    assert ours.output_shape == theirs.output_shape
