import numpy as np
import pytest

import keras

from kerascnn.layers import apply_specs, dense_block_specs, head_specs


def _head(features_shape, **kwargs):
    inputs = keras.Input(features_shape)
    return keras.Model(inputs, apply_specs(inputs, head_specs(**kwargs)))


def test_softmax_head_gives_probabilities():
    model = _head(
        (4, 4, 8),
        include_top=True,
        num_classes=5,
        pooling=None,
        classifier_activation="softmax",
        dense_layers=[{"units": 16}],
    )
    y = np.asarray(model(np.random.rand(3, 4, 4, 8).astype("float32")))
    assert y.shape == (3, 5)
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-5)
    assert model.get_layer("predictions").units == 5


def test_sigmoid_binary_and_multilabel_heads():
    binary = _head((4, 4, 8), include_top=True, num_classes=1, pooling=None, classifier_activation="sigmoid")
    y = np.asarray(binary(np.random.rand(3, 4, 4, 8).astype("float32")))
    assert y.shape == (3, 1) and np.all((y > 0) & (y < 1))
    multi = _head((4, 4, 8), include_top=True, num_classes=6, pooling=None, classifier_activation="sigmoid")
    y = np.asarray(multi(np.random.rand(3, 4, 4, 8).astype("float32")))
    assert np.all((y > 0) & (y < 1)) and not np.allclose(y.sum(axis=1), 1)


def test_linear_head_for_regression_is_unbounded():
    model = _head((4, 4, 8), include_top=True, num_classes=1, pooling=None, classifier_activation="linear")
    assert model.get_layer("predictions").activation.__name__ == "linear"


def test_global_pooling_head_instead_of_flatten():
    model = _head(
        (4, 4, 8), include_top=True, num_classes=3, pooling=None, classifier_activation="softmax", flatten=False
    )
    assert "GlobalAveragePooling2D" in [type(l).__name__ for l in model.layers]


@pytest.mark.parametrize("pooling, shape", [(None, (4, 4, 8)), ("avg", (8,)), ("max", (8,))])
def test_without_top_pooling_decides_the_output(pooling, shape):
    model = _head((4, 4, 8), include_top=False, num_classes=3, pooling=pooling, classifier_activation="softmax")
    assert tuple(model.output_shape[1:]) == shape


def test_dense_block_with_bn_and_dropout():
    inputs = keras.Input((10,))
    model = keras.Model(inputs, apply_specs(inputs, dense_block_specs(6, "relu", "before_activation", 0.5, name="fc")))
    assert [type(l).__name__ for l in model.layers[1:]] == ["Dense", "BatchNormalization", "Activation", "Dropout"]
    assert model.get_layer("fc").use_bias is False


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_classes=1, classifier_activation="softmax"), "softmax over a single unit"),
        (dict(num_classes=0, classifier_activation="softmax"), "Received: num_classes=0"),
        (dict(num_classes=3, classifier_activation="relux"), "Received: classifier_activation='relux'"),
        (dict(num_classes=3, classifier_activation="softmax", pooling="mean"), "Received: pooling='mean'"),
        (dict(num_classes=3, classifier_activation="softmax", include_top="yes"), "Received: include_top='yes'"),
    ],
)
def test_bad_head_arguments(kwargs, message):
    kwargs = {"include_top": True, "pooling": None, **kwargs}
    with pytest.raises(ValueError, match=message):
        head_specs(**kwargs)


def test_classifier_activation_as_keras_applications_defines_it():
    import numpy as np

    inputs = keras.Input((2, 2, 1))
    for activation, check in (
        (None, lambda y: not np.allclose(y.sum(1), 1)),
        ("softmax", lambda y: np.allclose(y.sum(1), 1, atol=1e-5)),
        ("tanh", lambda y: np.all(np.abs(y) <= 1) and y.min() < 0),
        (keras.activations.sigmoid, lambda y: np.all((y > 0) & (y < 1))),
    ):
        model = keras.Model(
            inputs,
            apply_specs(
                inputs, head_specs(include_top=True, num_classes=3, pooling=None, classifier_activation=activation)
            ),
        )
        y = np.asarray(model(np.random.default_rng(0).normal(size=(5, 2, 2, 1)).astype("float32") * 3))
        assert check(y), activation
