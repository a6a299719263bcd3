"""Every registered model: builds, trains one step, has the published size."""

import numpy as np
import pytest

import keras

import kerascnn
from kerascnn.architectures import ModelPlan
from kerascnn.architectures._common import classifier_start
from tests.conftest import assert_trainable

#: Small inputs so the forward/backward pass stays fast on 2 CPU cores.
SMALL_INPUT = {
    "lenet5": (32, 32, 1),
    "alexnet": (67, 67, 3),
    "simple_cnn": (16, 16, 3),
    "inception_v3": (75, 75, 3),
    "inception_resnet_v2": (75, 75, 3),
    # 80 layers of batch norm over 1×1 maps of 2 samples overflow in training mode at 32×32, in keras' own too
    "efficientnet_v2_l": (64, 64, 3),
}
#: Arguments a model needs at a small input (U-Net's paper padding needs 188×188).
SMALL_KWARGS = {"unet": {"padding": "same", "filters": 8}}
#: Models whose registry-wide checks take long on 2 cores: run with `-m slow`.
#: (The default run keeps one or two models per family; the zoo tests build the rest there.)
HEAVY = (
    {
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
        "resnet50_v2",
        "resnet101_v2",
        "resnet152_v2",
        "densenet121",
        "densenet169",
        "densenet201",
        "vgg11",
        "vgg11_bn",
        "vgg13",
        "vgg13_bn",
        "vgg19",
        "vgg19_bn",
        "vgg16_bn",
        "mobilenet",
        "xception",
        "inception_v3",
        "inception_resnet_v2",
        "mobilenet_v3_large",
        "efficientnet_v2_b0",
        "convnext_tiny",
    }
    | {f"efficientnet_b{i}" for i in range(0, 8)}
    | {f"efficientnet_v2_{v}" for v in ("b1", "b2", "b3", "s", "m", "l")}
    | {f"convnext_{v}" for v in ("small", "base", "large", "xlarge")}
)
# (efficientnet_b0, efficientnet_v2_b0, convnext_tiny and inception_resnet_v2 stay in the default run through
# tests/architectures/test_zoo.py's keras.applications parity and their own knob tests.)


#: One model per family (batch norm, residuals, inception, depthwise, transposed convs) that CI also builds
#: and trains with KERAS_BACKEND=jax (the tests marked `backend`).
ON_EVERY_BACKEND = {"simple_cnn", "lenet5", "resnet18", "googlenet", "mobilenet_v2", "unet"}


def registry(names):
    """``names`` as pytest params, the heavy ones marked slow, one per family marked backend."""
    marks = {
        n: [pytest.mark.slow] if n in HEAVY else [pytest.mark.backend] if n in ON_EVERY_BACKEND else [] for n in names
    }
    return [pytest.param(n, marks=marks[n]) for n in names]


def small(name, **kwargs):
    return kerascnn.create_model(
        name, input_shape=SMALL_INPUT.get(name, (32, 32, 3)), **{**SMALL_KWARGS.get(name, {}), **kwargs}
    )


@pytest.mark.parametrize("name", registry(kerascnn.list_models()))
def test_every_model_builds_trains_and_round_trips(name, tmp_path):
    """Registry-wide: forward and backward pass, output shape, headless variants, .keras round trip.

    Built as keras.applications users build: on an ``input_tensor`` that follows
    their own preprocessing layer, with ``classifier_activation=None`` for logits.
    """
    raw = keras.Input(SMALL_INPUT.get(name, (32, 32, 3)), name="raw_pixels")
    scaled = keras.layers.Rescaling(2.0, offset=-1.0, name="user_preprocessing")(raw)
    model = kerascnn.create_model(
        name, input_tensor=scaled, num_classes=3, classifier_activation=None, **SMALL_KWARGS.get(name, {})
    )
    assert isinstance(model, keras.Model)
    if not kerascnn.model_info(name).keras_twin:  # a twin takes keras.applications' name (test_applications.py)
        assert model.name == name
    assert model.inputs[0] is raw and model.get_layer("user_preprocessing") is not None
    assert model.layers[-1].activation is keras.activations.linear  # "predictions", ConvNeXt's "..._head_dense"
    y = assert_trainable(model)
    if name == "unet":  # logits per pixel
        assert model.output_shape == (None, 32, 32, 3)
        assert not np.allclose(y.sum(axis=-1), 1, atol=1e-3)
    else:
        assert model.output_shape == (None, 3)
        assert not np.allclose(y.sum(axis=1), 1, atol=1e-3)
    # pooling="max" takes the same head path as "avg" (every family calls head_specs); tests/layers/test_heads.py
    # checks both, so one headless pooled build per model is enough here
    for pooling, rank in ((None, 3), ("avg", 1)):
        headless = small(name, include_top=False, pooling=pooling)
        assert len(headless.output_shape) - 1 == rank, pooling
        assert classifier_start(headless) is None
    path = tmp_path / f"{name}.keras"
    model.save(path)
    x = np.random.default_rng(0).uniform(0, 1, (2,) + model.input_shape[1:]).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.saving.load_model(path)(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-6
    )


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


SEQUENTIAL = ["alexnet", "lenet5", "mobilenet", "simple_cnn"] + kerascnn.list_models("vgg*")


def test_every_model_has_a_plan_and_only_sequential_ones_list_every_layer():
    with pytest.raises(ValueError, match="smallest input it accepts"):
        kerascnn.plan_model("densenet121", input_shape=(8, 8, 3))
    plans = {
        n: kerascnn.plan_model(n, input_shape=SMALL_INPUT.get(n, (32, 32, 3)), **SMALL_KWARGS.get(n, {}))
        for n in kerascnn.list_models()
    }
    assert all(isinstance(p, ModelPlan) and p.spine for p in plans.values())
    assert sorted(n for n, p in plans.items() if p.exact) == sorted(SEQUENTIAL)


def test_a_branching_plan_counts_from_the_published_table_or_builds_once(monkeypatch):
    from kerascnn.architectures import _common

    plan = kerascnn.plan_model("resnet50")  # the published configuration: nothing to build
    assert plan.specs is None and plan.count_params() == 25_636_712 == _common.PARAM_COUNTS["resnet50"]
    built = []
    small = kerascnn.plan_model("resnet18", input_shape=(32, 32, 3), num_classes=7)
    assert small.known_params is None
    real = small.assemble
    monkeypatch.setattr(_common, "_BUILT_COUNTS", {})
    counted = [kerascnn.plan_model("resnet18", input_shape=(32, 32, 3), num_classes=7) for _ in range(2)]
    for plan in counted:
        object.__setattr__(plan, "assemble", lambda t: built.append(1) or real(t))
    assert counted[0].count_params() == counted[1].count_params() == real(None).count_params()
    assert len(built) == 1  # once per set of arguments in this process


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_the_published_counts_are_the_built_models(name):
    from kerascnn.architectures import _common

    assert _common.PARAM_COUNTS[name] == kerascnn.create_model(name).count_params()


@pytest.mark.slow
def test_every_published_count_is_the_built_model():
    """``param_counts.json`` is true for every branching model (``python tools/param_counts.py`` rewrites it)."""
    from kerascnn.architectures import _common

    branching = [n for n in kerascnn.list_models() if not kerascnn.plan_model(n).exact]
    assert sorted(_common.PARAM_COUNTS) == sorted(branching)
    for name in branching:
        assert _common.PARAM_COUNTS[name] == kerascnn.create_model(name).count_params(), name
        keras.backend.clear_session()


@pytest.mark.parametrize("name", SEQUENTIAL)
def test_plan_agrees_with_the_built_model_layer_by_layer(name):
    """Shapes and parameters of the unbuilt plan equal Keras' own, layer by layer."""
    kwargs = {"input_shape": SMALL_INPUT.get(name, (32, 32, 3)), "num_classes": 7}
    plan = kerascnn.plan_model(name, **kwargs)
    assert plan.exact, f"{name} cannot be described without building"
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
    assert kinds[i : i + 3] == ["Conv2D", "BatchNormalization", "Activation"]


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


def test_bad_shared_keywords():
    with pytest.raises(ValueError, match="builds only images.*Received: input_shape=\\(32, 32\\)"):
        kerascnn.create_model("alexnet", input_shape=(32, 32))  # a signal: AlexNet has no 1D form
    with pytest.raises(ValueError, match="Received: input_shape=\\(32,\\)"):
        kerascnn.create_model("vgg16", input_shape=(32,))
    with pytest.raises(ValueError, match="Received: num_classes=0"):
        kerascnn.create_model("lenet5", num_classes=0)
    with pytest.raises(ValueError, match="Received: pooling='average'"):
        kerascnn.create_model("lenet5", include_top=False, pooling="average")


def test_sigmoid_binary_classifier():
    model = kerascnn.create_model("lenet5", num_classes=1, classifier_activation="sigmoid")
    assert model.output_shape == (None, 1)
