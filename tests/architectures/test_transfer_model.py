"""The ``transfer`` architecture: a backbone under a new head, preprocessed as its weights expect, fit in two phases."""

import numpy as np
import pytest

import keras
import keras_tuner as kt

import kerascnn
from kerascnn.architectures.transfer import parse_trainable, preprocessing_mode, unfreeze
from kerascnn.layers.preprocessing import BackbonePreprocessing


@pytest.fixture(scope="module")
def saved_backbone(tmp_path_factory):
    """A small trained-looking model saved to disk, as a user's previous run leaves one (no download)."""
    keras.utils.set_random_seed(1)
    model = kerascnn.create_model(
        "simple_cnn",
        input_shape=(16, 16, 3),
        num_classes=4,
        conv_layers=2,
        filters=[4, 8],
        bn_placement="before_activation",
    )
    path = tmp_path_factory.mktemp("backbone") / "previous_run.keras"
    model.save(path)
    return str(path)


@pytest.mark.parametrize(
    "mode, module",
    [("caffe", "resnet"), ("tf", "mobilenet_v2"), ("torch", "densenet")],
)
def test_preprocessing_is_keras_applications_own(mode, module):
    pixels = np.random.default_rng(0).random((2, 5, 5, 3)).astype("float32")  # the kit's scaled images
    expected = getattr(keras.applications, module).preprocess_input(pixels * 255.0)
    ours = keras.ops.convert_to_numpy(BackbonePreprocessing(mode)(pixels))
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-3)
    grey = keras.ops.convert_to_numpy(BackbonePreprocessing(mode)(pixels[..., :1]))
    assert grey.shape == (2, 5, 5, 3)  # a grayscale photo for an RGB backbone


def test_the_weights_decide_the_preprocessing():
    assert preprocessing_mode("keras.applications.ResNet50", "imagenet") == "caffe"
    assert preprocessing_mode("ResNet50V2", "imagenet") == "tf"
    assert preprocessing_mode("keras.applications.EfficientNetB0", "imagenet") == "none"  # inside the model
    assert preprocessing_mode("resnet50", "imagenet") == "caffe"  # the kit's twin takes keras' file
    assert preprocessing_mode("resnet18", "imagenet") == "torch"  # torchvision's file
    assert preprocessing_mode("mobilenet_v2", None) == "none"  # random weights
    assert preprocessing_mode("/runs/x/final_model.keras", None) == "none"  # the kit's own scaled inputs


@pytest.mark.parametrize("bad", ["last_0", "last", "some", 3, None])
def test_trainable_is_frozen_all_or_last_n(bad):
    assert parse_trainable("frozen") == 0 and parse_trainable("all") is None and parse_trainable("last_12") == 12
    with pytest.raises(ValueError, match="'frozen', 'all' or 'last_N'"):
        parse_trainable(bad)


def test_a_saved_model_becomes_a_backbone_resized_and_frozen(saved_backbone):
    model = kerascnn.create_model(
        "transfer", input_shape=(24, 24, 1), num_classes=3, backbone=saved_backbone, dense_layers=1, dense_units=8
    )
    assert model.input_shape == (None, 24, 24, 1) and model.output_shape == (None, 3)
    assert model.get_layer("resize").output.shape[1:3] == (16, 16)  # the saved model's own input size
    backbone = model.get_layer("backbone")
    assert not backbone.trainable and "predictions" not in [layer.name for layer in backbone.layers]
    unfreeze(model, "last_3")
    trained = [layer.name for layer in backbone.layers if layer.trainable and layer.weights]
    assert trained and all(
        not isinstance(layer, keras.layers.BatchNormalization)
        for layer in backbone.layers
        if layer.trainable and layer.weights
    )
    with pytest.raises(ValueError, match="null or \\[16, 16\\]"):
        kerascnn.plan_model("transfer", input_shape=(24, 24, 3), backbone=saved_backbone, image_size=[32, 32])
    with pytest.raises(FileNotFoundError, match="no such file"):
        kerascnn.plan_model("transfer", input_shape=(24, 24, 3), backbone="missing.keras")
    with pytest.raises(ValueError, match="collapse|too small|smaller"):  # geometry checked before building
        kerascnn.plan_model("transfer", input_shape=(8, 8, 3), backbone="vgg16")


def test_the_head_trains_first_then_the_unfrozen_layers(saved_backbone):
    from kerascnn.search import CNNHyperModel

    rng = np.random.default_rng(0)
    x, y = rng.random((32, 16, 16, 3)).astype("float32"), np.arange(32) % 2
    hm = CNNHyperModel(
        (16, 16, 3),
        2,
        "transfer",
        params={"backbone": saved_backbone},
        space={"trainable": "last_4", "fine_tune_learning_rate": 1e-3},
        tune_unlisted=False,
        train={"epochs": 2, "batch_size": 8},
    )
    hp = kt.HyperParameters()
    model = hm.build(hp)
    backbone = model.get_layer("backbone")
    before = [w.numpy().copy() if hasattr(w, "numpy") else keras.ops.convert_to_numpy(w) for w in backbone.weights]
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append([keras.ops.convert_to_numpy(w).copy() for w in backbone.weights])

    history = hm.fit(hp, model, x, y, validation_data=(x[:8], y[:8]), callbacks=[Snapshot()])
    assert history.epoch == [0, 1] and len(history.history["loss"]) == 2
    same = lambda a, b: all(np.array_equal(p, q) for p, q in zip(a, b))  # noqa: E731
    assert same(snapshots[0], before)  # epoch 1: the head only
    changed = [not np.array_equal(p, q) for p, q in zip(snapshots[1], before)]
    assert any(changed) and not all(changed)  # epoch 2: the last layers, not the first ones
    names = [w.path for w in backbone.weights]
    assert not any(c for c, n in zip(changed, names) if "moving" in n)  # batch norm kept in inference mode


def test_an_experiment_naming_a_missing_backbone_is_refused_before_any_data(tmp_path):
    from kerascnn.config import ConfigError, Experiment
    from kerascnn.search.run import check_experiment

    def experiment(**params):
        return Experiment(
            data={"source": "image_folder", "path": str(tmp_path / "not-read")},
            model={"architecture": "transfer", "params": params},
        )

    with pytest.raises(ConfigError, match="Invalid `backbone`.*Received: backbone='resnet81'"):
        check_experiment(experiment(backbone="resnet81"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        check_experiment(experiment(backbone=str(tmp_path / "gone.keras")))
    check_experiment(experiment(backbone="keras.applications.MobileNetV2"))  # exists: nothing built or loaded
