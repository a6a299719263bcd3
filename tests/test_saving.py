"""Model files handed to the kit are checked and bounded before Keras reads them (kerascnn/saving.py)."""

import json
import zipfile

import numpy as np
import pytest

import keras

import kerascnn
from kerascnn import cli, saving


def _archive(path, config_text: str | None, extra=()):
    """A ``.keras``-shaped zip with ``config_text`` as its config.json (none if ``None``)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
        if config_text is not None:
            z.writestr("config.json", config_text)
        for name, text in extra:
            z.writestr(name, text)
    return path


def _layer(class_name: str, module: str, registered_name=None) -> dict:
    return {"module": module, "class_name": class_name, "config": {}, "registered_name": registered_name}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = kerascnn.create_model("simple_cnn", input_shape=(8, 8, 1), num_classes=3)
    path = tmp_path_factory.mktemp("saved") / "m.keras"
    model.save(path)
    return path, model


def test_a_model_saved_by_keras_loads_unchanged(saved):
    path, model = saved
    saving.check_model_file(path)
    x = np.random.default_rng(0).random((2, 8, 8, 1), dtype="float32")
    np.testing.assert_allclose(saving.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(
    "config, message",
    [
        (None, "has no config.json: not a model saved with model.save()"),
        ("[" * 200_000 + "]" * 200_000, "nests deeper than 200 levels"),  # json's own recursion gives out
        ("[" * 300 + "]" * 300, "nests deeper than 200 levels"),  # within json's, beyond the kit's bound
        ("{not json", "is not valid JSON"),
        (json.dumps(_layer("Popen", "subprocess")), "names 'Popen' from module 'subprocess', which is neither"),
        (json.dumps({"layers": [_layer("system", "os")]}), "names 'system' from module 'os'"),
    ],
)
def test_a_damaged_or_hostile_config_is_refused_before_keras_reads_it(tmp_path, config, message):
    path = _archive(tmp_path / "bad.keras", config)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        saving.check_model_file(path, "model file")
    with pytest.raises(ValueError, match="bad.keras"):
        saving.load_model(path)


def test_a_config_that_inflates_is_read_no_further_than_the_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(saving, "MAX_CONFIG_BYTES", 1000)
    path = _archive(tmp_path / "bomb.keras", " " * 1_000_000 + "{}")  # 1 MB of spaces deflates to about 1 KB
    assert path.stat().st_size < 5000
    read = []
    real_open = zipfile.ZipFile.open

    def counting_open(self, name, *args, **kwargs):
        member = real_open(self, name, *args, **kwargs)
        real_read = member.read
        member.read = lambda n=-1: read.append(n) or real_read(n)
        return member

    monkeypatch.setattr(zipfile.ZipFile, "open", counting_open)
    with pytest.raises(ValueError, match="larger than 0 MiB uncompressed"):
        saving.check_model_file(path)
    assert read == [1001]  # one bounded read, never the whole member


def test_a_registered_custom_class_is_accepted_and_other_files_are_named(tmp_path):
    @keras.saving.register_keras_serializable(package="mine_test_saving")
    class Mine(keras.layers.Layer):
        pass

    ok = _archive(tmp_path / "ok.keras", json.dumps(_layer("Mine", "my_lab.layers", "mine_test_saving>Mine")))
    saving.check_model_file(ok)
    text = tmp_path / "notes.keras"
    text.write_text("hello")
    with pytest.raises(ValueError, match="neither a .keras archive"):
        saving.check_model_file(text)
    with pytest.raises(FileNotFoundError, match="no such file"):
        saving.check_model_file(tmp_path / "absent.keras")


def test_kerascnn_evaluate_names_the_file_in_one_line_with_status_2(tmp_path, capsys):
    path = _archive(tmp_path / "weights_only.keras", None, [("model.weights.h5", "")])
    assert cli.main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "weights_only.keras' has no config.json" in err


def test_a_backbone_file_is_checked_the_same_way(tmp_path):
    from kerascnn.architectures.transfer import load_backbone

    path = _archive(tmp_path / "hostile.keras", json.dumps(_layer("Popen", "subprocess")))
    with pytest.raises(ValueError, match="`backbone` .*hostile.keras' names 'Popen'"):
        load_backbone(str(path))
