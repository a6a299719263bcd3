"""The private APIs kerascnn relies on (kerascnn/_compat.py): each is exercised here, so an upgrade that
moves one fails in this file, by name."""

import json

import pytest

import keras_tuner as kt

from kerascnn import _compat


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


def test_the_oracle_servicer_serves_an_oracle():
    import grpc

    servicer_class, add = _compat.oracle_servicer()
    oracle = kt.oracles.RandomSearchOracle(objective="val_accuracy", max_trials=1, seed=0)
    servicer = servicer_class(oracle)
    assert all(callable(getattr(servicer, rpc)) for rpc in ("CreateTrial", "UpdateTrial", "EndTrial", "GetSpace"))
    server = grpc.server(__import__("concurrent.futures").futures.ThreadPoolExecutor(max_workers=1))
    add(servicer, server)  # registers without error; not started


def test_keras_get_file_is_answered_by_the_kit(tmp_path):
    import keras

    seen = []

    def answer(fname=None, origin=None, *args, **kwargs):
        seen.append(fname)
        raise FileNotFoundError("answered by the kit")

    with _compat.replaced_keras_get_file(answer):
        with pytest.raises(FileNotFoundError, match="answered by the kit"):
            keras.applications.MobileNetV2(weights="imagenet", input_shape=(96, 96, 3), include_top=False)
    assert seen and seen[0].endswith("_no_top.h5")  # keras.applications asked for its file through it


def test_the_tensorflow_gradient_registry_is_reachable():
    import keras

    registry = _compat.tf_gradient_registry()
    if keras.backend.backend() == "tensorflow":
        assert isinstance(registry, dict) and registry  # TensorFlow registers its own gradients at import
    else:
        assert registry is None


def _space_oracle(cls, **kwargs):
    oracle = cls(objective=kt.Objective("score", "max"), seed=0, **kwargs)
    hp = kt.HyperParameters()
    hp.Choice("a", [1, 2, 3])
    oracle.update_space(hp)
    return oracle


def test_a_rejected_candidate_is_never_drawn_again_and_the_grid_goes_on(tmp_path):
    oracle = _space_oracle(kt.oracles.GridSearchOracle, max_trials=3)
    oracle._set_project_dir(str(tmp_path), "grid")
    assert not _compat.already_tried(oracle, {"a": 1})
    _compat.mark_tried(oracle, {"a": 1})
    assert _compat.already_tried(oracle, {"a": 1})
    assert _compat.next_grid_values(oracle, {"a": 1}) == {"a": 2}
    assert _compat.next_grid_values(oracle, {"a": 3}) is None


def test_random_values_draw_from_a_bayesian_oracles_space():
    oracle = _space_oracle(kt.oracles.BayesianOptimizationOracle, max_trials=3)
    response = _compat.random_values(oracle)
    assert response["status"] == kt.engine.trial.TrialStatus.RUNNING and response["values"]["a"] in (1, 2, 3)


def test_a_hyperband_slot_is_freed(tmp_path):
    oracle = _space_oracle(kt.oracles.HyperbandOracle, max_epochs=9, factor=3)
    oracle._set_project_dir(str(tmp_path), "hb")
    trial = oracle.create_trial("tuner0")
    assert any(t["id"] == trial.trial_id for b in oracle._brackets for t in b["rounds"][0])
    _compat.forget_hyperband_slot(oracle, trial.trial_id)
    assert not any(t["id"] == trial.trial_id for b in oracle._brackets for t in b["rounds"][0])


def test_a_hyperband_tuner_runs_on_the_kits_oracle(tmp_path):
    class Tuner(_compat.HyperbandOnOracle, kt.Hyperband):
        pass

    oracle = _space_oracle(kt.oracles.HyperbandOracle, max_epochs=9, factor=3)
    tuner = Tuner(oracle, lambda hp: None, directory=str(tmp_path), project_name="hb")
    assert tuner.oracle is oracle and isinstance(tuner, kt.Hyperband)
    assert hasattr(kt.Hyperband, "run_trial")  # the epochs-per-round logic the kit keeps from Hyperband


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer:UserWarning")  # weights-only checkpoints
def test_a_trial_model_loads_as_keras_tuners_load_model_loads_it(tmp_path):
    """The same weights as ``Tuner.load_model``, without its session clearing (the results load models after
    the search)."""
    import numpy as np

    import keras

    def build(hp):
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(hp.Choice("units", [3, 5])), keras.layers.Dense(2)]
        )
        model.compile("adam", "mse")
        return model

    tuner = kt.RandomSearch(build, objective="val_loss", max_trials=1, directory=str(tmp_path), project_name="p")
    x, y = np.random.default_rng(0).normal(size=(16, 4)), np.random.default_rng(1).normal(size=(16, 2))
    tuner.search(x, y, validation_data=(x, y), epochs=2, verbose=0)
    trial = tuner.oracle.get_best_trials(1)[0]
    ours, theirs = _compat.load_trial_model(tuner, trial), tuner.load_model(trial)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
