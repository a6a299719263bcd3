"""Starting a model from weights on disk: model files, weight files, keras.applications files, offline ImageNet."""

import h5py
import numpy as np
import pytest

import keras

import kerascnn
from tests.architectures.test_zoo import randomize

X = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype("float32")


def save_legacy_h5(model, path):
    """Write weights the way keras.applications' published .h5 files store them."""
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


@pytest.fixture
def trained():
    model = kerascnn.create_model("resnet18", input_shape=(32, 32, 3), num_classes=4)
    randomize(model)
    return model


def test_from_a_keras_model_file(trained, tmp_path):
    trained.save(tmp_path / "m.keras")
    model = kerascnn.create_model("resnet18", input_shape=(32, 32, 3), num_classes=4, weights=tmp_path / "m.keras")
    np.testing.assert_allclose(model(X), trained(X), atol=1e-6)


def test_from_a_weights_file(trained, tmp_path):
    trained.save_weights(tmp_path / "m.weights.h5")
    model = kerascnn.create_model(
        "resnet18", input_shape=(32, 32, 3), num_classes=4, weights=str(tmp_path / "m.weights.h5")
    )
    np.testing.assert_allclose(model(X), trained(X), atol=1e-6)


def test_from_a_keras_applications_weights_file(tmp_path):
    reference = keras.applications.MobileNet(
        weights=None, alpha=0.25, input_shape=(32, 32, 3), classes=10, classifier_activation=None
    )
    randomize(reference)
    save_legacy_h5(reference, tmp_path / "mobilenet.h5")
    model = kerascnn.create_model(
        "mobilenet",
        alpha=0.25,
        input_shape=(32, 32, 3),
        num_classes=10,
        classifier_activation="linear",
        weights=tmp_path / "mobilenet.h5",
    )
    np.testing.assert_allclose(model(X), reference(X), atol=1e-4)


def test_imagenet_weights_come_from_the_keras_cache_only(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    kwargs = dict(alpha=0.25, input_shape=(128, 128, 3))
    with pytest.raises(FileNotFoundError) as err:
        kerascnn.create_model("mobilenet", weights="imagenet", **kwargs)
    expected = tmp_path / "models" / "mobilenet_2_5_128_tf.h5"
    assert f"Put it at {expected}" in str(err.value) and "does not download" in str(err.value)
    # the user puts the published file there (here: one in the same format) and it is used
    reference = keras.applications.MobileNet(weights=None, **kwargs)
    randomize(reference)
    expected.parent.mkdir(parents=True)
    save_legacy_h5(reference, expected)
    model = kerascnn.create_model("mobilenet", weights="imagenet", **kwargs)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 128, 128, 3)).astype("float32")
    np.testing.assert_allclose(model(x), reference(x), atol=1e-5)


def test_efficientnet_imagenet_weights_add_keras_std_scaling(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="efficientnetb0.h5"):
        kerascnn.create_model("efficientnet_b0", weights="imagenet")
    model = kerascnn.create_model("efficientnet_b0", input_shape=(32, 32, 3), imagenet_normalization=True)
    assert "rescaling_imagenet" in [l.name for l in model.layers]


def test_bad_weights_fail_before_building(tmp_path, monkeypatch):
    from kerascnn.architectures import registry

    info = registry.model_info("resnet18")
    monkeypatch.setitem(
        registry._REGISTRY,
        "resnet18",
        registry.ModelInfo(**{**info.__dict__, "builder": lambda **k: pytest.fail("built")}),
    )
    with pytest.raises(ValueError, match="Received: weights=123"):
        kerascnn.create_model("resnet18", weights=123)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # torchvision's ImageNet file is not in this cache
    with pytest.raises(FileNotFoundError, match="resnet18-f37072fd.pth"):
        kerascnn.create_model("resnet18", weights="imagenet")
    with pytest.raises(ValueError, match="no keras.applications twin"):
        kerascnn.create_model("vgg11", weights="imagenet")
    with pytest.raises(FileNotFoundError, match="no such file"):
        kerascnn.create_model("resnet18", weights=tmp_path / "missing.keras")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="a .keras model file"):
        kerascnn.create_model("resnet18", weights=tmp_path / "notes.txt")


#: The newer twins' published file names (keras.applications' own, in ~/.keras/models/), read offline.
NEW_TWIN_FILES = {
    "mobilenet_v3_small": ("weights_mobilenet_v3_small_224_1.0_float.h5", {"classifier_activation": None}),
    "efficientnet_v2_b0": ("efficientnetv2-b0_notop.h5", {"include_top": False, "pooling": "avg"}),
    "convnext_tiny": ("convnext_tiny.h5", {"classifier_activation": None}),
}


@pytest.mark.parametrize(
    "name",
    [n if n.startswith("mobilenet") else pytest.param(n, marks=pytest.mark.slow) for n in sorted(NEW_TWIN_FILES)],
)  # 6 s each for the larger ones
def test_newer_twins_read_imagenet_weights_from_the_keras_cache(name, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    file_name, kwargs = NEW_TWIN_FILES[name]
    expected = tmp_path / "models" / file_name
    with pytest.raises(FileNotFoundError, match=f"Put it at {expected}"):
        kerascnn.create_model(name, weights="imagenet", **kwargs)
    reference = getattr(keras.applications, kerascnn.model_info(name).keras_twin)(weights=None, **kwargs)
    randomize(reference)
    expected.parent.mkdir(parents=True)
    save_legacy_h5(reference, expected)
    model = kerascnn.create_model(name, weights="imagenet", **kwargs)
    x = np.random.default_rng(1).uniform(0, 255, (1, 224, 224, 3)).astype("float32")
    expected = np.asarray(reference(x))
    assert np.abs(expected).max() > 1e-2  # logits, not a near-uniform softmax
    np.testing.assert_allclose(model(x), expected, atol=1e-4)
