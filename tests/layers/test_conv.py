"""conv_block: the notes' worked example, every variant, every bad argument."""

import numpy as np
import pytest

import keras

from kerascnn import geometry
from kerascnn.layers import build as build_module
from kerascnn.layers import conv_block, conv_block_specs

NOTES_IMAGE = np.array([[1, 1, 1, 0, 0], [0, 0, 1, 1, 0], [0, 1, 0, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 1, 1]], "float32")


def _model(input_shape, **kwargs):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, conv_block(inputs, **kwargs))


def test_notes_worked_example_cross_filter():
    model = _model(
        (5, 5, 1),
        filters=1,
        kernel_size=3,
        padding="valid",
        activation="linear",
        use_bias=False,
        kernel_initializer="cross",
    )
    out = np.asarray(model(NOTES_IMAGE[None, :, :, None]))[0, :, :, 0]
    np.testing.assert_array_equal(out, [[3, 2, 2], [1, 3, 2], [2, 1, 2]])


def test_full_padding_matches_numpy_full_correlation():
    # 'full' is NumPy/SciPy's mode: output N + F - 1, every overlap counted.
    model = _model(
        (5, 5, 1),
        filters=1,
        kernel_size=3,
        padding="full",
        activation="linear",
        use_bias=False,
        kernel_initializer="cross",
    )
    out = np.asarray(model(NOTES_IMAGE[None, :, :, None]))[0, :, :, 0]
    padded = np.pad(NOTES_IMAGE, 2)
    cross = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], "float32")
    expected = np.array([[np.sum(padded[i : i + 3, j : j + 3] * cross) for j in range(7)] for i in range(7)])
    assert out.shape == (7, 7)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("conv_type", ["standard", "pointwise", "depthwise", "separable", "transposed"])
def test_every_conv_type_on_every_rank(rank, conv_type):
    shape = (9,) * rank + (3,)
    kwargs = dict(
        conv_type=conv_type,
        filters=None if conv_type == "depthwise" else 5,
        strides=2 if conv_type != "pointwise" else 1,
        depth_multiplier=2,
    )
    if conv_type not in ("depthwise", "separable"):
        kwargs.pop("depth_multiplier")
    model = _model(shape, **kwargs)
    table = geometry.trace(shape, conv_block_specs(rank=rank, **kwargs))
    assert tuple(model.output_shape[1:]) == table[-1].output_shape
    assert model.count_params() == geometry.total_params(table)
    expected_channels = 6 if conv_type == "depthwise" else 5
    assert model.output_shape[-1] == expected_channels
    assert model.get_layer("block_conv").count_params() > 0
    y = model(np.ones((2,) + shape, "float32"))
    assert tuple(y.shape[1:]) == table[-1].output_shape


def test_rank_picks_the_keras_class():
    for shape, cls in [
        ((9, 3), keras.layers.Conv1D),
        ((9, 9, 3), keras.layers.Conv2D),
        ((5, 5, 5, 3), keras.layers.Conv3D),
    ]:
        model = _model(shape, filters=4, pool="max")
        assert type(model.get_layer("block_conv")) is cls
        assert f"{len(shape) - 1}D" in type(model.get_layer("block_pool")).__name__


@pytest.mark.parametrize(
    "placement, order",
    [
        ("before_activation", ["Conv2D", "BatchNormalization", "LeakyReLU"]),
        ("after_activation", ["Conv2D", "LeakyReLU", "BatchNormalization"]),
        ("none", ["Conv2D", "LeakyReLU"]),
    ],
)
def test_batch_norm_placement_order(placement, order):
    model = _model((8, 8, 3), filters=4, activation="leaky_relu", bn_placement=placement)
    assert [type(l).__name__ for l in model.layers[1:]] == order
    conv = model.get_layer("block_conv")
    assert conv.use_bias is (placement != "before_activation")  # BN's offset replaces the bias


def test_fusable_activation_is_fused_into_the_conv_unless_bn_comes_first():
    plain = _model((8, 8, 3), filters=4, activation="relu")
    assert [type(l).__name__ for l in plain.layers[1:]] == ["Conv2D"]
    assert plain.get_layer("block_conv").activation.__name__ == "relu"
    bn_first = _model((8, 8, 3), filters=4, activation="relu", bn_placement="before_activation")
    assert [type(l).__name__ for l in bn_first.layers[1:]] == ["Conv2D", "BatchNormalization", "Activation"]


@pytest.mark.parametrize(
    "activation, check",
    [
        ("relu", lambda x, y: np.allclose(y, np.maximum(x, 0))),
        ({"name": "leaky_relu", "negative_slope": 0.2}, lambda x, y: np.allclose(y, np.where(x > 0, x, 0.2 * x))),
        ("leaky_relu", lambda x, y: np.allclose(y, np.where(x > 0, x, 0.1 * x))),
        ("prelu", lambda x, y: np.allclose(y, np.maximum(x, 0))),  # alpha starts at 0
        ("elu", lambda x, y: np.allclose(y, np.where(x > 0, x, np.expm1(x)), atol=1e-6)),
        ("selu", lambda x, y: np.allclose(y, 1.0507 * np.where(x > 0, x, 1.67326 * np.expm1(x)), atol=1e-3)),
        ("gelu", lambda x, y: np.all(np.abs(y - x * (x > 0)) < 0.2)),
        ("swish", lambda x, y: np.allclose(y, x / (1 + np.exp(-x)), atol=1e-6)),
        ("sigmoid", lambda x, y: np.allclose(y, 1 / (1 + np.exp(-x)), atol=1e-6)),
        ("tanh", lambda x, y: np.allclose(y, np.tanh(x), atol=1e-6)),
        ("linear", lambda x, y: np.allclose(y, x)),
    ],
)
def test_activations_compute_what_they_say(activation, check):
    model = _model(
        (4, 4, 1), filters=1, kernel_size=1, activation=activation, use_bias=False, kernel_initializer="ones"
    )
    x = np.linspace(-3, 3, 16, dtype="float32").reshape(1, 4, 4, 1)
    assert check(x, np.asarray(model(x)))


def test_prelu_learns_one_slope_per_channel():
    model = _model((6, 6, 3), filters=4, activation="prelu")
    assert model.get_layer("block_prelu").count_params() == 4


def test_dropout_standard_and_spatial():
    model = _model((8, 8, 3), filters=4, dropout=0.3, dropout_type="spatial")
    assert type(model.get_layer("block_drop")).__name__ == "SpatialDropout2D"
    model = _model((8, 3), filters=4, dropout=0.3)
    assert type(model.get_layer("block_drop")).__name__ == "Dropout"
    # spatial dropout zeroes whole channels in training
    y = np.asarray(keras.layers.SpatialDropout2D(0.5)(np.ones((1, 4, 4, 64), "float32"), training=True))
    per_channel = y.reshape(16, 64)
    assert np.all((per_channel == 0).all(axis=0) | (per_channel != 0).all(axis=0))


@pytest.mark.parametrize(
    "pool, shape",
    [
        ("max", (4, 4, 4)),
        ("avg", (4, 4, 4)),
        ("global_max", (4,)),
        ("global_avg", (4,)),
        ("none", (8, 8, 4)),
        (None, (8, 8, 4)),
    ],
)
def test_pooling_kinds(pool, shape):
    model = _model((8, 8, 3), filters=4, pool=pool)
    assert tuple(model.output_shape[1:]) == shape


def test_pool_size_and_strides():
    model = _model((9, 9, 3), filters=4, pool="max", pool_size=3, pool_strides=2)
    assert model.output_shape[1:3] == (4, 4)
    model = _model((9, 9, 3), filters=4, pool="avg", pool_size=(1, 3), pool_padding="same")
    assert model.output_shape[1:3] == (9, 3)


def test_tuple_kernels_and_strides():
    model = _model((9, 9, 1), filters=2, kernel_size=(1, 3), strides=(1, 2), padding="valid")
    assert model.output_shape[1:3] == (9, 4)
    assert model.get_layer("block_conv").kernel.shape == (1, 3, 1, 2)


def test_dilation_widens_the_kernel():
    model = _model((9, 9, 1), filters=2, kernel_size=3, dilation=2, padding="valid")
    assert model.output_shape[1:3] == (5, 5)


def test_notes_dilated_transposed_conv_example():
    # nn.ConvTranspose2d(1, 1, kernel_size=3, stride=1, padding=2, dilation=2) keeps N.
    model = _model((7, 7, 1), filters=1, kernel_size=3, conv_type="transposed", padding=2, dilation=2)
    assert model.output_shape[1:3] == (7, 7)
    assert model.count_params() == 10
    assert np.asarray(model(np.ones((1, 7, 7, 1), "float32"))).shape == (1, 7, 7, 1)


def test_transposed_conv_upsamples():
    model = _model((4, 4, 8), filters=3, kernel_size=2, strides=2, conv_type="transposed", padding="valid")
    assert model.output_shape[1:] == (8, 8, 3)


def test_classic_kernel_can_be_frozen():
    inputs = keras.Input((5, 5, 1))
    out = conv_block(inputs, 1, 3, activation="linear", kernel_initializer="laplacian", use_bias=False)
    model = keras.Model(inputs, out)
    model.get_layer("block_conv").trainable = False
    assert model.count_params() == 9 and not model.trainable_weights
    flat = np.asarray(model(np.full((1, 5, 5, 1), 7.0, "float32")))
    np.testing.assert_allclose(flat[0, 1:-1, 1:-1, 0], 0, atol=1e-5)  # Laplacian of a constant is 0


# --- bad arguments: a ValueError naming the argument, before any layer is built ----------
BAD = [
    (dict(filters=0), "filters", "Received: filters=0"),
    (dict(filters=-4), "filters", "Received: filters=-4"),
    (dict(filters=2.5), "filters", "Received: filters=2.5"),
    (dict(filters=8, activation="relux"), "activation", "did you mean 'relu'"),
    (dict(filters=8, activation={"name": "leaky_relu", "slope": 0.1}), "activation.slope", "negative_slope"),
    (dict(filters=8, padding="vaild"), "padding", "Received: padding='vaild'"),
    (dict(filters=8, padding=-1), "padding", "Received: padding=-1"),
    (dict(filters=8, padding=(1, 2, 3)), "padding", "Received: padding=(1, 2, 3)"),
    (dict(filters=8, dilation=2, strides=2), "dilation", "strides=(2, 2)"),
    (dict(filters=8, kernel_size=0), "kernel_size", "Received: kernel_size=0"),
    (dict(filters=8, kernel_size=(3, 3, 3)), "kernel_size", "tuple of 2 integers"),
    (dict(filters=8, strides=0), "strides", "Received: strides=0"),
    (dict(filters=8, conv_type="deformable"), "conv_type", "'standard', 'pointwise'"),
    (dict(filters=8, conv_type="pointwise", kernel_size=3), "kernel_size", "pointwise"),
    (dict(filters=8, conv_type="depthwise"), "filters", "depth_multiplier"),
    (dict(filters=8, bn_placement="before"), "bn_placement", "'before_activation', 'after_activation', 'none'"),
    (dict(filters=8, dropout=1.0), "dropout", "Received: dropout=1.0"),
    (dict(filters=8, dropout_type="channel"), "dropout_type", "'standard', 'spatial'"),
    (dict(filters=8, pool="min"), "pool", "'max', 'avg', 'global_max', 'global_avg', 'none'"),
    (dict(filters=8, pool="max", pool_size=0), "pool_size", "Received: pool_size=0"),
    (dict(filters=8, pool="max", pool_padding="full"), "pool_padding", "'valid', 'same'"),
    (dict(filters=8, output_padding=1), "output_padding", "transposed"),
    (dict(filters=8, conv_type="transposed", strides=2, output_padding=2), "output_padding", "smaller than strides"),
    (dict(filters=8, kernel_size=5, kernel_initializer="sobel_x"), "kernel_initializer", "kernel_size=3"),
    (dict(filters=8, use_bias="yes"), "use_bias", "Received: use_bias='yes'"),
]


@pytest.mark.parametrize("kwargs, arg, detail", BAD, ids=[b[1] + "-" + str(i) for i, b in enumerate(BAD)])
def test_bad_arguments_fail_early_with_a_clear_message(kwargs, arg, detail, monkeypatch):
    built = []
    monkeypatch.setattr(build_module, "make_layers", lambda *a, **k: built.append(a) or [])
    inputs = keras.Input((16, 16, 3))
    with pytest.raises(ValueError) as err:
        conv_block(inputs, **kwargs)
    msg = str(err.value)
    assert f"`{arg}`" in msg, msg
    assert detail in msg, msg
    assert "Received:" in msg
    assert not built, "a layer was built before the error"


def test_conv_block_refuses_a_flat_tensor():
    with pytest.raises(ValueError, match="spatial axes"):
        conv_block(keras.Input((16,)), 4)


def test_conv_block_on_something_that_is_not_a_tensor_names_x():
    from kerascnn.layers import conv_block

    with pytest.raises(ValueError, match=r"Invalid `x`: expected a Keras tensor .* Received: x=None"):
        conv_block(None, filters=4)
