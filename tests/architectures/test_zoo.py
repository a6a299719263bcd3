"""The architecture zoo: published sizes, keras.applications parity, small inputs, family knobs."""

import numpy as np
import pytest

import keras

import kerascnn
from kerascnn.architectures.weights import copy_weights

# Parameter counts at each model's reference input and 1000 classes (2 for U-Net). The keras
# twins' numbers are keras.applications' own (checked against it in test_matches_keras_applications).
PARAMS = {
    "googlenet": 6_998_552,  # the paper's Table 1 without LRN or auxiliary heads
    "resnet18": 11_699_112,
    "resnet34": 21_814_696,
    "resnet50": 25_636_712,
    "resnet101": 44_707_176,
    "resnet152": 60_419_944,
    "resnet50_v2": 25_613_800,
    "resnet101_v2": 44_675_560,
    "resnet152_v2": 60_380_648,
    "densenet121": 8_062_504,
    "densenet169": 14_307_880,
    "densenet201": 20_242_984,
    "mobilenet": 4_253_864,
    "mobilenet_v2": 3_538_984,
    "efficientnet_b0": 5_330_571,
    "efficientnet_b1": 7_856_239,
    "efficientnet_b2": 9_177_569,
    "efficientnet_b3": 12_320_535,
    "efficientnet_b4": 19_466_823,
    "efficientnet_b5": 30_562_527,
    "efficientnet_b6": 43_265_143,
    "efficientnet_b7": 66_658_687,
    "unet": 31_030_658,
    "xception": 22_910_480,
    "inception_v3": 23_851_784,
    "mobilenet_v3_small": 2_554_968,
    "mobilenet_v3_large": 5_507_432,
    "efficientnet_v2_b0": 7_200_312,
    "efficientnet_v2_b1": 8_212_124,
    "efficientnet_v2_b2": 10_178_374,
    "efficientnet_v2_b3": 14_467_622,
    "efficientnet_v2_s": 21_612_360,
    "efficientnet_v2_m": 54_431_388,
    "efficientnet_v2_l": 119_027_848,
    "convnext_tiny": 28_589_128,
    "convnext_small": 50_223_688,
    "convnext_base": 88_591_464,
    "convnext_large": 197_767_336,
    "convnext_xlarge": 350_196_968,
    "inception_resnet_v2": 55_873_736,
}
FAST = {
    "googlenet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet50_v2",
    "densenet121",
    "mobilenet",
    "mobilenet_v2",
    "efficientnet_b0",
    "unet",
    "xception",
    "inception_v3",
    "mobilenet_v3_small",
    "efficientnet_v2_b0",
    "convnext_tiny",
}  # inception_resnet_v2's parity (8 s) is in the slow set; inception_v3's stands for the family here


#: An odd size keras.applications accepts for each twin, for the parity test (its minimum: 71 for Xception, 75
#: for Inception-v3 and Inception-ResNet-v2).
PARITY_SIZE = {"xception": 75, "inception_v3": 79, "inception_resnet_v2": 79}


def maybe_slow(names, fast=FAST):
    return [n if n in fast else pytest.param(n, marks=pytest.mark.slow) for n in names]


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_every_registered_model_has_a_reference_count():
    from tests.architectures.test_models import PARAMS as CLASSIC

    bn_vggs = {"vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"}
    # transfer: its count is its backbone's plus a head (tests/architectures/test_transfer_model.py)
    assert set(kerascnn.list_models()) - set(CLASSIC) - bn_vggs - {"transfer"} == set(PARAMS)


@pytest.mark.parametrize("name", maybe_slow(sorted(PARAMS)))
def test_parameter_counts(name):
    assert kerascnn.create_model(name).count_params() == PARAMS[name]


def test_resnet18_and_34_have_the_papers_trainable_counts():
    assert trainable(kerascnn.create_model("resnet18")) == 11_689_512  # 11.69M
    assert trainable(kerascnn.create_model("resnet34")) == 21_797_672  # 21.80M


def randomize(model, seed=0):
    """Random weights everywhere, batch-norm statistics included, so a mis-copy shows."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        w.assign(rng.uniform(0.5, 1.5, shape) if "variance" in w.path else rng.normal(0, 0.05, shape))


TWINS = {n: kerascnn.model_info(n).keras_twin for n in kerascnn.list_models() if kerascnn.model_info(n).keras_twin}


def test_keras_twins_are_declared():
    assert set(TWINS) == {
        "vgg16",
        "vgg19",
        "resnet50",
        "resnet101",
        "resnet152",
        "resnet50_v2",
        "resnet101_v2",
        "resnet152_v2",
        "densenet121",
        "densenet169",
        "densenet201",
        "mobilenet",
        "mobilenet_v2",
        *(f"efficientnet_b{i}" for i in range(8)),
        "xception",
        "inception_v3",
        "mobilenet_v3_small",
        "mobilenet_v3_large",
        *(f"efficientnet_v2_{v}" for v in ("b0", "b1", "b2", "b3", "s", "m", "l")),
        *(f"convnext_{v}" for v in ("tiny", "small", "base", "large", "xlarge")),
        "inception_resnet_v2",
    }


@pytest.mark.parametrize("name", maybe_slow(sorted(TWINS), FAST - {"densenet121"}))  # densenet121: 9 s
def test_matches_keras_applications(name):
    """Same parameter count, takes keras.applications' weights, same logits (odd size: padding too)."""
    size = PARITY_SIZE.get(name, 65)
    theirs = getattr(keras.applications, TWINS[name])(
        weights=None, input_shape=(size, size, 3), classifier_activation=None
    )
    randomize(theirs)
    ours = kerascnn.create_model(name, input_shape=(size, size, 3), classifier_activation="linear", weights=theirs)
    assert ours.count_params() == theirs.count_params()
    assert trainable(ours) == trainable(theirs)  # and so the non-trainable (batch-norm statistics) too
    x = np.random.default_rng(1).uniform(0, 255, (2, size, size, 3)).astype("float32")
    expected = np.asarray(theirs(x))
    assert np.abs(expected).max() > 1e-3  # the comparison is not between two zeros
    assert np.abs(np.asarray(ours(x)) - expected).max() <= 1e-4


def test_a_wrong_architecture_is_refused_not_mis_copied():
    src = kerascnn.create_model("resnet18", input_shape=(32, 32, 3), num_classes=10)
    with pytest.raises(ValueError, match="Cannot copy weights .* same architecture"):
        kerascnn.create_model("resnet34", input_shape=(32, 32, 3), num_classes=10, weights=src)
    with pytest.raises(ValueError, match="Cannot copy weights"):
        kerascnn.create_model("resnet18", input_shape=(32, 32, 3), num_classes=7, weights=src)


@pytest.mark.parametrize("shape", [(8, 8, 1), (32, 32, 3)])
@pytest.mark.parametrize("name", maybe_slow(sorted(PARAMS), fast=FAST - {"resnet34", "resnet50", "resnet50_v2"}))
def test_small_inputs_build_and_run_or_state_the_minimum(name, shape, monkeypatch):
    """Never a negative-dimension error from inside Keras: it runs, or it fails before building."""
    kwargs = {"input_shape": shape, "num_classes": 10}
    try:
        kerascnn.plan_model(name, **kwargs)
    except ValueError as err:
        assert "smallest input it accepts is" in str(err) and f"Received: input_shape={shape}" in str(err)
        with pytest.raises(ValueError, match="smallest input it accepts"):
            kerascnn.create_model(name, **kwargs)
        return
    model = kerascnn.create_model(name, **kwargs)
    y = np.asarray(model(np.zeros((1,) + shape, "float32")))
    assert np.all(np.isfinite(y))


SMALL_FAILS = {
    ("densenet121", (8, 8, 1)): "29×29×1",
    ("mobilenet", (8, 8, 1)): "31×31×1",
    ("unet", (32, 32, 3)): "188×188×3",
    ("xception", (5, 5, 3)): "7×7×3",
    ("inception_v3", (32, 32, 3)): "75×75×3",
    ("inception_resnet_v2", (32, 32, 3)): "75×75×3",
}


@pytest.mark.parametrize("name, shape", sorted(SMALL_FAILS))
def test_minimum_sizes(name, shape):
    with pytest.raises(ValueError, match=f"smallest input it accepts is {SMALL_FAILS[(name, shape)]}"):
        kerascnn.create_model(name, input_shape=shape)


@pytest.mark.parametrize(
    "name", ["resnet18", "resnet50", pytest.param("densenet121", marks=pytest.mark.slow), "googlenet"]
)  # densenet's stem: also test_densenet_cifar_stem_takes_digits
def test_cifar_stem_keeps_small_images_detailed(name):
    """The documented adaptation: a 3×3 stride-1 stem without pooling downsamples 8× less."""
    imagenet = kerascnn.create_model(name, input_shape=(32, 32, 3), include_top=False)
    cifar = kerascnn.create_model(
        name,
        input_shape=(32, 32, 3),
        include_top=False,
        stem_strides=1,
        stem_pool=False,
        **({} if name == "googlenet" else {"stem_kernel_size": 3}),
    )
    assert cifar.output_shape[1] == 4 * imagenet.output_shape[1] or imagenet.output_shape[1] == 1
    assert cifar.output_shape[1] == 32 // {"resnet18": 8, "resnet50": 8, "densenet121": 8, "googlenet": 4}[name]


def test_densenet_cifar_stem_takes_digits():
    model = kerascnn.create_model("densenet121", input_shape=(8, 8, 1), num_classes=10, stem_strides=1, stem_pool=False)
    assert model.output_shape == (None, 10)


def test_knobs_change_the_network():
    base = kerascnn.create_model("resnet18", input_shape=(32, 32, 3))
    wide = kerascnn.create_model("resnet18", input_shape=(32, 32, 3), width_multiplier=2)
    assert wide.get_layer("conv2_block1_1_conv").filters == 128 > base.get_layer("conv2_block1_1_conv").filters
    k5 = kerascnn.create_model("resnet18", input_shape=(32, 32, 3), kernel_size=5)
    assert k5.get_layer("conv3_block1_1_conv").kernel_size == (5, 5)
    after = kerascnn.create_model("resnet18", input_shape=(32, 32, 3), bn_placement="after_activation")
    assert after.get_layer("conv2_block1_1_conv").activation.__name__ == "relu"  # fused: ReLU, then BN
    assert "conv2_block1_1_relu" in [l.name for l in base.layers]  # BN first: ReLU is its own layer
    elu = kerascnn.create_model("mobilenet_v2", input_shape=(32, 32, 3), activation="elu", alpha=0.5)
    assert "block_1_expand_elu" in [l.name for l in elu.layers]
    assert elu.get_layer("Conv1").filters == 16  # make_divisible(32 * 0.5)
    thin = kerascnn.create_model("mobilenet", alpha=0.25)
    assert thin.count_params() < kerascnn.create_model("mobilenet").count_params() / 5
    k5 = kerascnn.create_model("efficientnet_b0", input_shape=(32, 32, 3), kernel_size=5, se_ratio=0)
    assert k5.get_layer("block1a_dwconv").kernel_size == (5, 5)
    assert not any("_se_" in l.name for l in k5.layers)


def test_resnet_v2_is_the_pre_activation_variant():
    v2 = kerascnn.create_model("resnet50_v2", input_shape=(32, 32, 3))
    names = [l.name for l in v2.layers]
    assert names.index("conv2_block1_preact_bn") < names.index("conv2_block1_1_conv")
    assert "conv1_bn" not in names and "post_bn" in names
    assert "conv2_block1_out" in names and "conv2_block1_add" not in names  # no ReLU after the add


def test_efficientnet_stochastic_depth_grows_with_depth():
    model = kerascnn.create_model("efficientnet_b0", input_shape=(32, 32, 3))
    rates = [l.rate for l in model.layers if l.name.endswith("_drop")]
    assert rates == sorted(rates) and 0 < rates[0] < rates[-1] < 0.2
    assert all(l.noise_shape == (None, 1, 1, 1) for l in model.layers if l.name.endswith("_drop"))


def test_googlenet_auxiliary_classifiers():
    model = kerascnn.create_model("googlenet", aux_classifiers=True, num_classes=10)
    assert [tuple(s) for s in model.output_shape] == [(None, 10)] * 3
    with pytest.raises(ValueError, match="smallest input it accepts is"):
        kerascnn.create_model("googlenet", aux_classifiers=True, input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="aux_classifiers"):
        kerascnn.create_model("googlenet", aux_classifiers=True, include_top=False)


def test_unet_is_the_papers_network():
    model = kerascnn.create_model("unet")
    assert model.output_shape == (None, 388, 388, 2)  # 572 -> 388, Ronneberger et al. Fig. 1
    assert model.get_layer("dec4_crop").cropping == ((4, 4), (4, 4))  # 64 -> 56 at the top level
    assert isinstance(model.get_layer("dec1_up_conv"), keras.layers.Conv2DTranspose)
    same = kerascnn.create_model(
        "unet",
        input_shape=(64, 48, 3),
        padding="same",
        num_classes=1,
        classifier_activation="sigmoid",
        depth=3,
        filters=4,
    )
    assert same.output_shape == (None, 64, 48, 1)
    y = np.asarray(same(np.ones((1, 64, 48, 3), "float32")))
    assert ((y > 0) & (y < 1)).all()
    with pytest.raises(ValueError, match="multiples of 2\\*\\*depth = 8 .*nearest: 40 or 48"):
        kerascnn.create_model("unet", input_shape=(44, 48, 3), padding="same", depth=3)


def test_weights_copy_into_a_headless_model():
    full = kerascnn.create_model("mobilenet", input_shape=(32, 32, 3), num_classes=10)
    randomize(full)
    headless = kerascnn.create_model("mobilenet", input_shape=(32, 32, 3), include_top=False, weights=full)
    x = np.random.default_rng(0).normal(size=(1, 32, 32, 3)).astype("float32")
    cut = keras.Model(full.inputs, full.get_layer("conv_pw_13_relu").output)
    np.testing.assert_allclose(headless(x), cut(x), atol=1e-5)
    assert copy_weights(full, headless) == len([l for l in headless.layers if l.weights])
