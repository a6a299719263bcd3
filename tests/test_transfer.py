"""Transfer learning, shown offline on real data: digits 0-4 -> digits 5-9."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

import keras

import kerascnn
from kerascnn import transfer

ARCH = {"filters": [32, 64], "pool": "none", "dense_dropout": 0.5}


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return (d.images / 16.0).astype("float32")[..., None], d.target


def _saved_digits04(digits, folder, epochs):
    """A simple_cnn trained on digits 0-4 for ``epochs``, saved as a user would save it."""
    X, y = digits
    keras.utils.set_random_seed(0)
    model = kerascnn.create_model("simple_cnn", input_shape=(8, 8, 1), num_classes=5, **ARCH)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    if epochs:
        model.fit(X[y < 5], y[y < 5], epochs=epochs, batch_size=32, verbose=0)
    path = folder / "digits04.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def pretrained(digits, tmp_path_factory):
    """Trained properly (20 epochs): what the transfer-quality test starts from."""
    return _saved_digits04(digits, tmp_path_factory.mktemp("pretrained"), epochs=20)


@pytest.fixture(scope="module")
def saved_model(digits, tmp_path_factory):
    """The same model file, untrained: enough for the loading and cutting tests."""
    return _saved_digits04(digits, tmp_path_factory.mktemp("saved"), epochs=0)


@pytest.mark.slow  # three seeds of fine-tuning against scratch: a quality claim, ~15 s
def test_transfer_beats_training_from_scratch_with_few_labels(digits, pretrained):
    """10 labelled samples of 5-9, the same 5 epochs for both: transfer wins on every seed by > 0.1."""
    X, y = digits
    Xt, yt = X[y >= 5], y[y >= 5] - 5
    margins = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        few = np.concatenate([rng.choice(np.flatnonzero(yt == c), 2, replace=False) for c in range(5)])
        test = np.setdiff1d(np.arange(len(yt)), few)
        budget = dict(epochs=5, batch_size=8, learning_rate=3e-3)

        keras.utils.set_random_seed(seed)
        backbone = transfer.load_backbone("simple_cnn", input_shape=(8, 8, 1), weights=pretrained, **ARCH)
        model = transfer.transfer_model(backbone, 5, freeze_layers="none", pooling="flatten")
        transfer.train_head(model, Xt[few], yt[few], **budget)
        transferred = model.evaluate(Xt[test], yt[test], verbose=0)[1]

        keras.utils.set_random_seed(seed)
        scratch = kerascnn.create_model("simple_cnn", input_shape=(8, 8, 1), num_classes=5, **ARCH)
        scratch.compile(
            keras.optimizers.Adam(budget["learning_rate"]), "sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        scratch.fit(Xt[few], yt[few], epochs=budget["epochs"], batch_size=budget["batch_size"], verbose=0)
        margins.append(transferred - scratch.evaluate(Xt[test], yt[test], verbose=0)[1])
    assert min(margins) > 0.1, margins


def test_backbone_sources(saved_model):
    registry = transfer.load_backbone("resnet18", input_shape=(32, 32, 3))
    assert len(registry.output_shape) == 4 and "predictions" not in [l.name for l in registry.layers]
    app = transfer.load_backbone("keras.applications.MobileNet", input_shape=(32, 32, 3), alpha=0.25)
    assert app.output_shape[-1] == 256
    own = transfer.load_backbone(keras.saving.load_model(saved_model))
    assert own.layers[-1].name == "fc1_drop"  # everything up to the old classifier
    cut = transfer.load_backbone(keras.saving.load_model(saved_model), cut="block2_conv")
    assert cut.output_shape == (None, 8, 8, 64)


def test_backbone_errors(tmp_path, monkeypatch, saved_model):
    with pytest.raises(ValueError, match="did you mean 'resnet18'"):
        transfer.load_backbone("resnet81")
    with pytest.raises(ValueError, match="Received: cut='nope'"):
        transfer.load_backbone(keras.saving.load_model(saved_model), cut="nope")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"Put it at {tmp_path}/models/"):
        transfer.load_backbone("ResNet50", weights="imagenet", input_shape=(32, 32, 3))


def test_freezing():
    backbone = kerascnn.create_model("simple_cnn", input_shape=(8, 8, 1), include_top=False)
    model = transfer.transfer_model(backbone, 3)
    assert model.count_params() - sum(int(np.prod(w.shape)) for w in model.trainable_weights) == backbone.count_params()
    transfer.freeze(backbone, 2)
    assert [l.trainable for l in backbone.layers][:3] == [False, False, True]
    transfer.freeze(backbone, "none")
    assert all(l.trainable for l in backbone.layers)
    with pytest.raises(ValueError, match="Received: freeze=99"):
        transfer.freeze(backbone, 99)
    with pytest.raises(ValueError, match="Received: pooling='mean'"):
        transfer.transfer_model(backbone, 3, pooling="mean")


def test_fine_tune_keeps_batch_norm_statistics(digits):
    X, y = digits
    backbone = kerascnn.create_model(
        "simple_cnn", input_shape=(8, 8, 1), include_top=False, bn_placement="before_activation"
    )
    model = transfer.transfer_model(backbone, 10)
    transfer.train_head(model, X[:64], y[:64], epochs=1)
    bn, conv = backbone.get_layer("block1_bn"), backbone.get_layer("block1_conv")
    stats, kernel = np.array(bn.moving_mean), np.array(conv.kernel)
    transfer.fine_tune(model, X[:64], y[:64], epochs=2, learning_rate=1e-3)
    np.testing.assert_array_equal(bn.moving_mean, stats)  # inference mode: statistics untouched
    assert not np.allclose(conv.kernel, kernel)  # but the backbone did train
    assert model.optimizer.learning_rate.numpy() == pytest.approx(1e-3)
    transfer.fine_tune(model, X[:64], y[:64], unfreeze=2, epochs=1)
    assert [l.trainable for l in backbone.layers][-3:] == [False, True, True]
    assert not bn.trainable
    with pytest.raises(ValueError, match="Received: unfreeze=0"):
        transfer.fine_tune(model, X[:64], y[:64], unfreeze=0)


def test_the_photo_transfer_experiment_runs_from_its_file(tmp_path, saved_model, monkeypatch):
    """experiments/photos_transfer.yaml on a generated photo folder and a backbone saved to disk (no download)."""
    import json

    from kerascnn import config
    from kerascnn.architectures import transfer as transfer_arch
    from kerascnn.search import run_search
    from tests.data.test_streaming import _folder

    photos = _folder(tmp_path / "photos", size=12)
    exp = config.load(
        "photos_transfer",
        [
            f"data.path={photos}",
            "data.image_size=[8, 8]",
            f"model.params={{backbone: {saved_model}}}",
            "search.max_trials=2",
            "search.space.trainable=[last_2, all]",
            "train.epochs=2",
        ],
    )
    unfrozen = []
    real = transfer_arch.unfreeze
    monkeypatch.setattr(transfer_arch, "unfreeze", lambda model, value: unfrozen.append(value) or real(model, value))
    run_dir = run_search(exp, out=tmp_path / "runs", printer=lambda _: None)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"] == {"completed": 2, "pruned": 0, "failed": 0, "rejected": 0}
    assert 0 <= summary["test"]["accuracy"] <= 1  # scored on the test photos (an untrained backbone: no quality claim)
    assert set(unfrozen) <= {"last_2", "all"} and unfrozen  # every trial and the refit fine-tuned after the head
    model = keras.saving.load_model(run_dir / "final_model.keras")
    assert model.input_shape == (None, 8, 8, 3)  # RGB photos; the digits backbone sees their luma
    assert any(layer.name == "backbone" for layer in kerascnn.architectures._common.all_layers(model))
