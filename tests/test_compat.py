"""The private APIs kerascnn relies on (kerascnn/_compat.py): each fails here, loudly, when an upgrade moves it."""

import json

import keras_tuner as kt
import pytest

from kerascnn import _compat


def test_keras_tuner_version_was_checked():
    assert kt.__version__ in _compat.KERAS_TUNER_CHECKED, (
        f"keras-tuner {kt.__version__} is not in _compat.KERAS_TUNER_CHECKED: check the hooks below, then add it")


def test_keras_tuner_still_has_the_state_hooks():
    from keras_tuner.src import config as keras_tuner_config

    for name in ("_get_oracle_fname", "_get_trial_dir", "_save_trial", "save", "get_state"):
        assert callable(getattr(kt.Oracle, name, None)), f"keras_tuner.Oracle.{name} is gone"
    for name in ("_is_worker", "_get_tuner_fname", "save", "get_state"):
        assert callable(getattr(kt.Tuner, name, None)), f"keras_tuner.Tuner.{name} is gone"
    assert hasattr(keras_tuner_config, "DEBUG")


def test_oracle_and_trial_state_are_written_by_the_kit_not_by_keras_tuner(tmp_path, monkeypatch):
    from keras_tuner.src import utils

    def plain_write(path, obj):  # keras-tuner's own, non-atomic writer must not be reached
        raise AssertionError(f"keras-tuner wrote {path} itself")

    monkeypatch.setattr(utils, "save_json", plain_write)

    class Oracle(_compat.AtomicOracleState, kt.oracles.RandomSearchOracle):
        pass

    oracle = Oracle(objective="val_accuracy", max_trials=2, seed=0)
    hp = kt.HyperParameters()
    hp.Int("units", 1, 4)
    oracle.update_space(hp)
    oracle._set_project_dir(str(tmp_path), "project")
    trial = oracle.create_trial("tuner0")
    oracle.update_trial(trial.trial_id, {"val_accuracy": 0.5}, step=0)
    trial.status = kt.engine.trial.TrialStatus.COMPLETED
    oracle.end_trial(trial)
    oracle.save()
    state = json.loads((tmp_path / "project" / "oracle.json").read_text())
    assert state["end_order"] == [trial.trial_id]
    saved = json.loads((tmp_path / "project" / f"trial_{trial.trial_id}" / "trial.json").read_text())
    assert saved["status"] == "COMPLETED"
    assert not list((tmp_path / "project").glob("**/.tmp-*"))


def test_quiet_trial_tracebacks():
    from keras_tuner.src import config as keras_tuner_config

    keras_tuner_config.DEBUG = True
    _compat.quiet_trial_tracebacks()
    assert keras_tuner_config.DEBUG is False


def test_every_kit_oracle_and_tuner_writes_its_state_atomically():
    from kerascnn.search.tuner import ORACLES, KitHyperband, KitTuner

    for kind, oracle in ORACLES.items():
        assert issubclass(oracle, _compat.AtomicOracleState), kind
    assert issubclass(KitTuner, _compat.AtomicTunerState) and issubclass(KitHyperband, _compat.AtomicTunerState)
