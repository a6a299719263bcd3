"""keras-io's keras-tuner guides, redone on the digits with the kit's hypermodel and tuners (only the import changed).

The flows of "Getting started with KerasTuner" and "Visualize the
hyperparameter tuning process": one-hot labels, ``validation_split`` and
``validation_data`` (arrays or a dataset), ``get_best_models``,
``get_best_hyperparameters``, the retrain on all data, a subclass with its own
``fit`` and hyperparameters, and TensorBoard's callback. Tiny budgets.
"""

from pathlib import Path

import numpy as np
import pytest

import keras
import keras_tuner

import kerascnn.search as search
from kerascnn.data import load_dataset
from kerascnn.search import CNNHyperModel
from kerascnn.search.training import FitArgumentError


@pytest.fixture(scope="module")
def digits():
    data = load_dataset({"source": "digits"})
    return data, keras.utils.to_categorical(data.y_train, 10), keras.utils.to_categorical(data.y_val, 10)


def small(data, **knobs):
    """README's hypermodel, kept small: 1-2 blocks, few filters, one batch size."""
    return CNNHyperModel(
        data.input_shape,
        data.num_classes,
        **{"conv_layers": [1, 2], "filters": [8, 16], "dense_layers": 0, "batch_size": 32, **knobs},
    )


@pytest.mark.backend
def test_getting_started_flow(digits, tmp_path):
    data, y, y_val = digits
    hypermodel = small(data, kernel_size=[3, 5])
    tuner = search.RandomSearch(
        hypermodel=hypermodel,
        objective="val_accuracy",
        max_trials=3,
        executions_per_trial=1,
        overwrite=True,
        directory=str(tmp_path),
        project_name="helloworld",
    )
    tuner.search_space_summary()
    tuner.search(data.x_train, y, epochs=2, validation_data=(data.x_val, y_val))
    models = tuner.get_best_models(num_models=2)
    assert len(models) == 2
    loss, accuracy = models[0].evaluate(data.x_val, y_val, verbose=0)  # one-hot labels: loss and metric follow
    assert 0.2 < accuracy <= 1.0
    assert np.isclose(accuracy, tuner.oracle.get_best_trials(1)[0].score, atol=1e-6)
    tuner.results_summary()
    best_hps = tuner.get_best_hyperparameters(5)
    model = hypermodel.build(best_hps[0])  # retrain on the whole dataset, as the guide does
    x_all = np.concatenate((data.x_train, data.x_val))
    y_all = np.concatenate((y, y_val))
    history = model.fit(x=x_all, y=y_all, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_integer_and_one_hot_labels_score_the_same(digits, tmp_path):
    data, y, y_val = digits
    scores = []
    for labels, val in ((data.y_train, data.y_val), (y, y_val)):
        tuner = search.GridSearch(
            small(data, conv_layers=1, filters=8, kernel_size=3),
            objective="val_f1_macro",
            max_trials=1,
            seed=1,
            overwrite=True,
            directory=str(tmp_path / str(len(scores))),
        )
        keras.utils.set_random_seed(0)
        tuner.search(data.x_train, labels, epochs=2, validation_data=(data.x_val, val), verbose=0)
        scores.append(tuner.oracle.get_best_trials(1)[0].score)
    assert scores[0] == pytest.approx(scores[1], abs=1e-9)


def test_validation_split_shuffle_and_a_dataset(digits, tmp_path):
    import tensorflow as tf

    data, y, y_val = digits
    tuner = search.BayesianOptimization(
        small(data), objective="val_accuracy", max_trials=2, overwrite=True, directory=str(tmp_path / "split")
    )
    tuner.search(data.x_train, y, epochs=1, validation_split=0.2, shuffle=False, verbose=0)
    assert len(tuner.oracle.trials) == 2
    val = tf.data.Dataset.from_tensor_slices((data.x_val, y_val)).batch(16)
    tuner = search.Hyperband(
        small(data), objective="val_accuracy", max_epochs=2, factor=2, overwrite=True, directory=str(tmp_path / "hb")
    )
    tuner.search(data.x_train, data.y_train, validation_data=val, verbose=0)
    assert tuner.oracle.get_best_trials(1)[0].score > 0.1


def test_visualize_flow_writes_tensorboard_logs(digits, tmp_path):
    data, y, y_val = digits
    tuner = search.RandomSearch(
        small(data), objective="val_accuracy", max_trials=2, overwrite=True, directory=str(tmp_path / "results_dir")
    )
    logs = tmp_path / "tb_logs"
    tuner.search(
        data.x_train,
        y,
        validation_data=(data.x_val, y_val),
        epochs=1,
        callbacks=[keras.callbacks.TensorBoard(str(logs))],
    )
    assert len({p.parent for p in logs.rglob("events.out.tfevents.*")}) >= 2  # per trial, train and validation


class OwnFit(CNNHyperModel):
    """The guide's "tune model training": the subclass's own hyperparameter in ``fit``."""

    def fit(self, hp, model, *args, **kwargs):
        return super().fit(hp, model, *args, shuffle=hp.Boolean("shuffle"), **kwargs)


class OwnLearningRate(CNNHyperModel):
    """The guide's own optimizer in ``build``, with a learning rate named like the kit's knob."""

    def build(self, hp):
        model = super().build(hp)
        model.compile(keras.optimizers.Adam(hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")), model.loss)
        return model


class OwnBatchSize(CNNHyperModel):
    def fit(self, hp, model, *args, **kwargs):
        return super().fit(hp, model, *args, batch_size=hp.Choice("batch_size", [32, 96]), **kwargs)


@pytest.mark.backend
def test_a_subclass_hyperparameter_is_honoured_and_a_kit_name_refused(digits, tmp_path):
    data, y, y_val = digits
    args = (data.input_shape, data.num_classes)
    knobs = dict(conv_layers=1, filters=8, dense_layers=0)
    tuner = search.RandomSearch(
        OwnFit(*args, batch_size=32, **knobs), objective="val_accuracy", max_trials=2, directory=str(tmp_path / "a")
    )
    tuner.search(data.x_train, y, epochs=1, validation_data=(data.x_val, y_val), verbose=0)
    assert "shuffle" in tuner.get_best_hyperparameters()[0].values
    tuner = search.RandomSearch(
        OwnBatchSize(*args, **knobs), objective="val_accuracy", max_trials=2, directory=str(tmp_path / "b")
    )
    with pytest.raises(FitArgumentError, match="'batch_size': CNNHyperModel already declares 'batch_size'"):
        tuner.search(data.x_train, y, epochs=1, validation_data=(data.x_val, y_val), verbose=0)
    with pytest.raises(FitArgumentError, match="'learning_rate': CNNHyperModel already declares"):
        OwnLearningRate(*args, **knobs).build(keras_tuner.HyperParameters())
    fixed = OwnLearningRate(*args, tune_unlisted=False, params=knobs)  # the kit does not search it: yours is used
    rate = fixed.build(keras_tuner.HyperParameters()).optimizer.learning_rate
    assert float(keras.ops.convert_to_numpy(rate)) == pytest.approx(1e-4)
    # without the kit's own batch_size knob, the subclass's 96 is tried and used
    hm = OwnBatchSize(*args, tune_unlisted=False, params=knobs)
    tuner = search.GridSearch(hm, objective="val_accuracy", directory=str(tmp_path / "c"))
    tuner.search(data.x_train, y, epochs=1, validation_data=(data.x_val, y_val), verbose=0)
    assert sorted(t.hyperparameters.values["batch_size"] for t in tuner.oracle.trials.values()) == [32, 96]


def test_search_arguments_that_would_be_overridden_are_refused(digits, tmp_path):
    data, y, y_val = digits
    tuner = search.RandomSearch(
        CNNHyperModel(data.input_shape, 10, conv_layers=1),
        objective="val_accuracy",
        max_trials=1,
        directory=str(tmp_path),
    )
    with pytest.raises(FitArgumentError, match="searches its own `batch_size`.*batch_size=96"):
        tuner.search(data.x_train, y, batch_size=96, validation_data=(data.x_val, y_val), epochs=1)
    with pytest.raises(FitArgumentError, match="validation_data=.*validation_split"):
        tuner.search(data.x_train, y, epochs=1)
    with pytest.raises(ValueError, match="`y`: integer class labels or one-hot rows of 10 classes.*not one-hot"):
        tuner.search(data.x_train, y * 0.5, validation_data=(data.x_val, y_val), epochs=1)


def test_collapsing_candidates_are_redrawn_not_failed(digits, tmp_path):
    """README's snippet on 8×8 digits: many candidates cannot be built; the kit's RandomSearch draws again."""
    data, _, _ = digits
    hypermodel = CNNHyperModel(data.input_shape, data.num_classes, kernel_size=[3, 5], filters=None)
    plain = keras_tuner.RandomSearch(
        hypermodel, objective="val_accuracy", max_trials=30, seed=3, directory=str(tmp_path / "plain")
    )
    drawn = [plain.oracle.populate_space(str(i)) for i in range(30)]
    unbuildable = sum(hypermodel.check_candidate(_hp(plain, d["values"])) is not None for d in drawn)
    assert unbuildable >= 5  # what makes plain keras-tuner fail three trials in a row
    tuner = search.RandomSearch(
        hypermodel, objective="val_accuracy", max_trials=3, seed=3, directory=str(tmp_path / "kit"), max_params=50_000
    )
    tuner.search(data.x_train[:200], data.y_train[:200], validation_data=(data.x_val, data.y_val), epochs=1, verbose=0)
    statuses = [t.status for t in tuner.oracle.trials.values()]
    assert statuses == ["COMPLETED"] * 3
    assert tuner.oracle.rejections and {r["kind"] for r in tuner.oracle.rejections} <= {
        "feature map collapses",
        "over parameter budget",
        "invalid arguments",
    }
    assert all(Path(tmp_path / "kit").rglob("trial.json"))


def _hp(tuner, values):
    hp = tuner.oracle.hyperparameters.copy()
    hp.values = dict(values)
    return hp
