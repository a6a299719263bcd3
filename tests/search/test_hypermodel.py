"""CNNHyperModel: pinned defaults, Fixed overrides, custom spaces, conditional scopes."""

import pytest

import keras
import keras_tuner as kt

from kerascnn.search import CNNHyperModel, training
from kerascnn.search.space import KNOBS, decode


def _build(hm, hp=None):
    hp = hp or kt.HyperParameters()
    model = hm.build(hp)
    return hp, model


def _declared(hp, name):
    """The declared hyperparameter ``name`` (keras-tuner's public ``hp.space``)."""
    return next(h for h in hp.space if h.name == name)


def test_a_searched_knob_starts_from_the_builders_own_default():
    """For every registry model and knob: keras-tuner's first candidate (each hyperparameter at its default)
    uses the builder's own default, so the search's first trial is the published model."""
    from kerascnn.architectures import list_models, model_info
    from kerascnn.search.space import applies_to

    checked = 0
    for arch in list_models():
        info = model_info(arch)
        defaults = info.defaults()
        for knob in (k for k, spec in KNOBS.items() if spec.scope in ("layer", "model") and applies_to(k, arch)):
            hp = kt.HyperParameters()
            _, kwargs, _ = CNNHyperModel((32, 32, 3), 10, arch, space={knob: None}, tune_unlisted=False).resolve(hp)
            where = f"{arch}.{knob}"
            if info.blocks is not None and KNOBS[knob].scope == "layer":  # per block, by the builder's own rule
                for i, block in enumerate(info.blocks(defaults), start=1):
                    assert hp.values[f"block{i}/{knob}"] == block[knob], where
                    assert decode(knob, kwargs["conv_layers"][i - 1][knob]) == block[knob], where
            elif knob == "conv_layers":  # the number of per-block dicts
                assert hp.values[knob] == defaults[knob] == len(kwargs[knob]), where
            elif defaults.get(knob) is None:  # "the model's per-stage values" is no choice: the space's first stands in
                assert kwargs[knob] == _declared(hp, knob).values[0], where
            else:
                assert kwargs[knob] == defaults[knob] == hp.values[knob], where
            checked += 1
    assert checked > 100


def test_changing_a_builders_default_changes_what_the_search_starts_from(monkeypatch):
    from kerascnn.architectures.simple import simple_cnn

    monkeypatch.setitem(simple_cnn.plan.__kwdefaults__, "filters", 24)
    monkeypatch.setitem(simple_cnn.plan.__kwdefaults__, "dense_units", 96)
    hp = kt.HyperParameters()
    CNNHyperModel((8, 8, 1), 10, space={"filters": None, "dense_units": None}, tune_unlisted=False).resolve(hp)
    assert (hp.values["block1/filters"], hp.values["block2/filters"], hp.values["dense_units"]) == (24, 48, 96)
    assert _declared(hp, "dense_units").values == [32, 64, 96, 128]  # the default joins the default space


def test_training_defaults_are_the_configs():
    from kerascnn.config import DEFAULTS

    hm = CNNHyperModel((8, 8, 1), 10)
    assert {k: getattr(hm.train, k) for k in ("optimizer", "learning_rate", "momentum", "batch_size", "epochs")} == {
        k: DEFAULTS["train"][k] for k in ("optimizer", "learning_rate", "momentum", "batch_size", "epochs")
    }


def test_every_knob_has_a_pinned_default():
    hp, model = _build(CNNHyperModel((8, 8, 1), 10))
    expected = {
        "conv_layers": 2,
        "dense_layers": 1,
        "dense_units": 128,
        "dense_dropout": 0.0,
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "batch_size": 64,
        "block1/kernel_size": 3,
        "block1/filters": 16,
        "block2/filters": 32,
        "block1/strides": 1,
        "block1/padding": "same",
        "block1/dilation": 1,
        "block1/conv_type": "standard",
        "block1/activation": "relu",
        "block1/bn_placement": "none",
        "block1/pool": "max",
        "block1/dropout": 0.0,
    }
    for name, value in expected.items():
        assert hp.values[name] == pytest.approx(value) if isinstance(value, float) else hp.values[name] == value, name
    assert model.get_layer("block1_conv").kernel.shape == (3, 3, 1, 16)
    assert model.optimizer.__class__.__name__ == "Adam"


def test_default_space_matches_the_knob_table():
    hp, _ = _build(CNNHyperModel((8, 8, 1), 10))
    assert _declared(hp, "block1/kernel_size").values == KNOBS["kernel_size"].space
    assert _declared(hp, "optimizer").values == ["adam", "sgd", "rmsprop", "adagrad"]


def test_fixed_hyperparameter_overrides_the_default():
    hp = kt.HyperParameters()
    hp.Fixed("block1/kernel_size", 5)
    hp.Fixed("optimizer", "sgd")
    _, model = _build(CNNHyperModel((8, 8, 1), 10), hp)
    assert model.get_layer("block1_conv").kernel.shape[:2] == (5, 5)
    assert model.optimizer.__class__.__name__ == "SGD"


def test_value_fixes_list_replaces_and_tuple_strings_decode():
    hm = CNNHyperModel(
        (8, 8, 1),
        10,
        kernel_size=["1x3", 3],
        filters=8,
        space={"padding": ["same"]},
        tune_unlisted=False,
        params={"conv_layers": 2},
    )
    hp, model = _build(hm)
    assert isinstance(_declared(hp, "block1/filters"), kt.engine.hyperparameters.Fixed)
    assert _declared(hp, "block1/kernel_size").values == ["1x3", "3"]
    assert model.get_layer("block1_conv").filters == 8
    assert decode("kernel_size", "1x3") == (1, 3)
    assert "block1/activation" not in hp.values  # not listed, not tuned


def test_per_layer_knobs_are_independent_and_conditional_on_depth():
    hm = CNNHyperModel((16, 16, 1), 10, space={"conv_layers": [1, 2, 3], "kernel_size": [3, 5]}, tune_unlisted=False)
    hp = kt.HyperParameters()
    hp.Fixed("conv_layers", 3)
    hm.build(hp)
    assert {f"block{i}/kernel_size" for i in (1, 2, 3)} <= set(hp.values)
    hp2 = kt.HyperParameters()
    hp2.Choice("conv_layers", [1, 2, 3], default=2)
    hm.build(hp2)
    hp2.values["conv_layers"] = 1
    assert hp2.is_active("block1/kernel_size") and not hp2.is_active("block2/kernel_size")


def test_architecture_choice_scopes_its_knobs():
    hm = CNNHyperModel(
        (32, 32, 1),
        10,
        architecture=["simple_cnn", "lenet5"],
        space={"activation": ["relu", "tanh"]},
        tune_unlisted=False,
    )
    hp = kt.HyperParameters()
    hp.Choice("architecture", ["simple_cnn", "lenet5"], default="lenet5")
    model = hm.build(hp)
    assert model.name == "lenet5" and "lenet5/activation" in hp.values
    hp.values["architecture"] = "simple_cnn"
    assert not hp.is_active("lenet5/activation")


def test_momentum_only_for_optimizers_that_have_it():
    hm = CNNHyperModel((8, 8, 1), 10, space={"optimizer": ["sgd", "adam"], "momentum": None}, tune_unlisted=False)
    hp = kt.HyperParameters()
    hp.Choice("optimizer", ["sgd", "adam"], default="sgd")
    model = hm.build(hp)
    assert "momentum" in hp.values and model.optimizer.momentum == pytest.approx(0.9)
    hp.values["optimizer"] = "adam"
    assert not hp.is_active("momentum")


def test_candidate_check_rejects_collapse_and_budget_without_building(monkeypatch):
    from kerascnn.architectures import _common

    hm = CNNHyperModel((12, 12, 1), 10, space={"kernel_size": [3, 7], "padding": ["valid"]}, tune_unlisted=False)
    hp = kt.HyperParameters()
    hm.build(hp)
    monkeypatch.setattr(_common, "build_sequential_model", lambda *a, **k: pytest.fail("built a model"))
    hp.values["block1/kernel_size"] = 7
    rejection = hm.check_candidate(hp)
    assert rejection.kind == "feature map collapses" and "collapses" in str(rejection)
    hp.values["block1/kernel_size"] = 3
    assert hm.check_candidate(hp) is None
    rejection = hm.check_candidate(hp, max_params=1000)
    assert rejection.kind == "over parameter budget" and "over budget" in str(rejection)


def test_an_accepted_candidate_is_resolved_and_traced_once_for_its_check_build_and_fit(monkeypatch):
    """The check's candidate (arguments, training, plan) is what build and fit use: one trace, one declaration."""
    from kerascnn import geometry
    from kerascnn.search import hypermodel as module

    data, hm = _digits_hypermodel(space={"kernel_size": [3, 5], "filters": [4, 8]})
    traces, declared = [], []
    real_trace, real_declare = geometry.trace, module.declare
    monkeypatch.setattr(geometry, "trace", lambda *a, **k: traces.append(1) or real_trace(*a, **k))
    monkeypatch.setattr(
        module, "declare", lambda hp, name, *a, **k: declared.append(name) or real_declare(hp, name, *a, **k)
    )
    space = kt.HyperParameters()
    hm.declare_hyperparameters(space)
    hm.resolve(space)  # keras-tuner learns the space from a first build
    traces.clear(), declared.clear()
    hp = space.copy()
    hp.values.update({"block1/kernel_size": 5, "block1/filters": 8})
    assert hm.check_candidate(hp) is None  # the oracle's check, on its own copy
    model = hm.build(hp)  # the trial's build and fit
    hm.fit(hp, model, epochs=1)
    assert len(traces) == 1 and sorted(declared) == ["filters", "kernel_size"]
    assert model.get_layer("block1_conv").kernel.shape[:2] == (5, 5)
    assert hm.candidate(hp) is hm.candidate(hp)  # one frozen candidate, reused
    changed = hp.copy()
    changed.values["block1/kernel_size"] = 3
    assert hm.candidate(changed).arguments["conv_layers"][0]["kernel_size"] == 3  # other values: another candidate


def test_dilation_with_strides_is_a_rejection_not_a_crash():
    hm = CNNHyperModel((16, 16, 1), 10, space={"dilation": [2], "strides": [2]}, tune_unlisted=False)
    hp = kt.HyperParameters()
    with pytest.raises(ValueError):
        hm.build(hp)
    rejection = hm.check_candidate(hp)
    assert rejection.kind == "invalid arguments" and "dilation" in str(rejection)


def test_unknown_architecture_and_knob():
    with pytest.raises(ValueError, match="Unknown model"):
        CNNHyperModel((8, 8, 1), 10, architecture="resnet0")
    with pytest.raises(ValueError, match="did you mean 'kernel_size'"):
        CNNHyperModel((8, 8, 1), 10, kernal_size=[3])


def test_augment_knob_switches_augmentation_layers():
    hm = CNNHyperModel(
        (8, 8, 1),
        10,
        space={"augment": [False, True]},
        tune_unlisted=False,
        augmentation={"rotation": 0.05, "translation": 0.1},
    )
    hp = kt.HyperParameters()
    hp.Fixed("augment", True)
    model = hm.build(hp)
    kinds = [type(l).__name__ for l in model.layers]
    assert "RandomRotation" in kinds and "RandomTranslation" in kinds
    hp2 = kt.HyperParameters()
    hp2.Fixed("augment", False)
    assert "RandomRotation" not in [type(l).__name__ for l in hm.build(hp2).layers]


@pytest.mark.backend
def test_one_validation_pass_per_epoch_gives_keras_val_loss_and_the_sklearn_metrics():
    import numpy as np
    from sklearn.metrics import f1_score

    import keras

    from kerascnn.data import load_dataset

    data = load_dataset({"source": "digits", "subset": 300}, seed=0)
    hm = CNNHyperModel(data.input_shape, data.num_classes, tune_unlisted=False, data=data, train={"batch_size": 32})
    hp = kt.HyperParameters()
    model = keras.Sequential(
        [
            keras.Input(data.input_shape),
            keras.layers.Conv2D(4, 3, kernel_regularizer="l2"),
            keras.layers.Flatten(),
            keras.layers.Dense(data.num_classes, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    assert model.losses  # the L2 term Keras adds to val_loss

    class CountPasses(keras.callbacks.Callback):
        validation_passes = 0

        def on_test_begin(self, logs=None):
            CountPasses.validation_passes += 1

    history = hm.fit(hp, model, epochs=2, callbacks=[CountPasses()]).history
    assert CountPasses.validation_passes == 0  # Keras ran no validation pass of its own
    assert len(history["val_loss"]) == 2
    keras_val_loss, keras_val_accuracy = model.evaluate(data.x_val, data.y_val, verbose=0)
    assert history["val_loss"][-1] == pytest.approx(keras_val_loss, rel=1e-5)  # regularization included
    assert history["val_accuracy"][-1] == pytest.approx(keras_val_accuracy, abs=1e-6)
    y_pred = np.asarray(model.predict(data.x_val, verbose=0)).argmax(1)
    assert history["val_f1_macro"][-1] == pytest.approx(f1_score(data.y_val, y_pred, average="macro"))


def _digits_hypermodel(**kwargs):
    from kerascnn.data import load_dataset

    data = load_dataset({"source": "digits", "subset": 300}, seed=0)
    train = {"batch_size": 32, **kwargs.pop("train", {})}
    hm = CNNHyperModel(
        data.input_shape,
        data.num_classes,
        tune_unlisted=False,
        data=data,
        params={"conv_layers": 1, "filters": 4, "dense_units": 8},
        train=train,
        **kwargs,
    )
    return data, hm


def test_refit_trains_a_fresh_model_on_train_plus_validation_for_the_given_epochs():
    data, hm = _digits_hypermodel()
    model, samples = hm.refit(kt.HyperParameters(), epochs=3)
    n = len(data.y_train) + len(data.y_val)
    assert samples == n == 240  # 300 digits less the 20% test split
    steps_per_epoch = -(-n // 32)
    assert int(model.optimizer.iterations) == 3 * steps_per_epoch  # every sample, each epoch, nothing else


def test_a_seeded_refit_is_the_same_model_whatever_ran_before():
    import numpy as np

    _, hm = _digits_hypermodel()
    first, _ = hm.refit(kt.HyperParameters(), epochs=1, seed=7)
    np.random.default_rng().random(3)
    keras.random.uniform((2,))  # Keras' global generator moves on
    again, _ = hm.refit(kt.HyperParameters(), epochs=1, seed=7)
    other, _ = hm.refit(kt.HyperParameters(), epochs=1, seed=8)
    same = [np.array_equal(a, b) for a, b in zip(first.get_weights(), again.get_weights())]
    assert all(same)
    assert not all(np.array_equal(a, b) for a, b in zip(first.get_weights(), other.get_weights()))


def test_cosine_schedule_anneals_each_fit_over_its_own_epochs():
    import math

    data, hm = _digits_hypermodel(train={"batch_size": 32, "learning_rate": 0.004, "lr_schedule": "cosine"})
    hp = kt.HyperParameters()
    trial = hm.fit(hp, hm.build(hp), epochs=4).history["learning_rate"]
    assert trial == pytest.approx([0.004 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)], rel=1e-6)
    refit, _ = hm.refit(hp, epochs=2)  # a refit anneals over its own (here shorter) epoch count
    assert float(keras.ops.convert_to_numpy(refit.optimizer.learning_rate)) == pytest.approx(0.002, rel=1e-6)
    _, constant = _digits_hypermodel(train={"batch_size": 32, "learning_rate": 0.004})
    model = constant.build(hp)
    constant.fit(hp, model, epochs=2)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.004)
    with pytest.raises(ValueError, match="train.lr_schedule.*'constant', 'cosine'"):
        _digits_hypermodel(train={"lr_schedule": "linear"})


def test_folds_are_disjoint_stratified_and_cover_train_plus_validation():
    import numpy as np

    data, hm = _digits_hypermodel(cv_folds=3)
    y = np.concatenate([data.y_train, data.y_val])
    folds = training.folds(hm)
    held = [set(h.tolist()) for _, h in folds]
    assert len(folds) == 3 and set().union(*held) == set(range(len(y)))
    assert all(not (a & b) for i, a in enumerate(held) for b in held[i + 1 :])  # disjoint
    for train, h in folds:
        assert not set(train.tolist()) & set(h.tolist())
        for label in np.unique(y):  # each class split in proportion (stratified): within one sample
            assert abs(np.sum(y[h] == label) - np.sum(y == label) / 3) <= 1


def test_fold_mean_averages_every_validation_value_and_adds_the_objective_std():
    import numpy as np

    from kerascnn.search.training import FoldMean

    callback = FoldMean(
        [{"val_accuracy": [0.5, 0.7], "val_loss": [1.0, 0.9]}, {"val_accuracy": [0.6, 0.8], "val_loss": [1.2, 0.7]}],
        objective="val_accuracy",
    )
    logs = {"val_accuracy": 0.4, "val_loss": 0.5, "loss": 2.0}
    callback.on_epoch_end(1, logs)
    assert logs["val_accuracy"] == pytest.approx(np.mean([0.4, 0.7, 0.8]))
    assert logs["val_accuracy_std"] == pytest.approx(np.std([0.4, 0.7, 0.8]))
    assert logs["val_loss"] == pytest.approx(0.7) and "val_loss_std" not in logs
    assert logs["loss"] == 2.0  # training values are fold 1's own


def test_k_fold_fit_trains_every_fold_and_reports_their_mean(monkeypatch):
    import numpy as np

    import kerascnn.search.training as module

    data, hm = _digits_hypermodel(cv_folds=3, objective="val_accuracy")
    fold_sizes = []
    real_fit = module.keras.Model.fit

    def counting_fit(model, x=None, *args, **kwargs):
        fold_sizes.append(sum(len(batch[1]) for batch in x))  # the samples of one epoch
        return real_fit(model, x, *args, **kwargs)

    monkeypatch.setattr(module.keras.Model, "fit", counting_fit)
    seen = []

    class RecordingFoldMean(module.FoldMean):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((logs["val_accuracy"], [h["val_accuracy"][epoch] for h in self.fold_logs]))
            super().on_epoch_end(epoch, logs)

    monkeypatch.setattr(module, "FoldMean", RecordingFoldMean)
    model = hm.build(kt.HyperParameters())
    history = hm.fit(kt.HyperParameters(), model, epochs=2).history
    folds = module.folds(hm)
    # folds 2 and 3 first (their own models), then fold 1 with keras-tuner's callbacks
    assert fold_sizes == [len(folds[1][0]), len(folds[2][0]), len(folds[0][0])]
    assert len(history["val_accuracy"]) == 2 and len(history["val_accuracy_std"]) == 2
    own, others = seen[-1]
    assert len(others) == 2
    assert history["val_accuracy"][-1] == pytest.approx(np.mean([own, *others]))
    assert history["val_accuracy_std"][-1] == pytest.approx(np.std([own, *others]))
    _, held = folds[0]  # fold 1's own value is its model's accuracy on its held-out part
    x_all = np.concatenate([data.x_train, data.x_val])
    y_all = np.concatenate([data.y_train, data.y_val])
    assert own == pytest.approx(float(np.mean(model.predict(x_all[held], verbose=0).argmax(1) == y_all[held])))


def test_a_searched_kernel_size_reaches_conv2d_in_few_hops(monkeypatch):
    """From the candidate's declaration to the Conv2D that takes the value: the kit's functions on the way.

    check_candidate -> candidate -> resolve -> _arch_kwargs -> _per_block_kwargs -> _knob declares it (6 deep);
    build -> ModelPlan.build -> the plan's assembler -> build_sequential_model -> apply_specs -> make_layers
    -> _conv_layers makes the layer (7 deep, 9 before the candidate was kept). Kept so by this test."""
    import traceback

    import keras

    from kerascnn.search import hypermodel as module

    def kit_frames():
        return [f.name for f in traceback.extract_stack()[:-2] if "/kerascnn/" in f.filename]

    seen = {}
    real_conv, real_declare = keras.layers.Conv2D.__init__, module.declare

    def conv(self, *args, **kwargs):
        seen.setdefault("conv", (kit_frames(), kwargs.get("kernel_size")))
        return real_conv(self, *args, **kwargs)

    def declare(hp, name, *args, **kwargs):
        if name == "kernel_size":
            seen.setdefault("declare", kit_frames())
        return real_declare(hp, name, *args, **kwargs)

    monkeypatch.setattr(keras.layers.Conv2D, "__init__", conv)
    monkeypatch.setattr(module, "declare", declare)
    hm = CNNHyperModel((8, 8, 1), 10, space={"kernel_size": [5, 7]}, tune_unlisted=False, params={"conv_layers": 1})
    hp = kt.HyperParameters()
    assert hm.check_candidate(hp) is None
    hm.build(hp)
    frames, kernel = seen["conv"]
    assert kernel == (5, 5) and frames[0] == "build" and len(frames) <= 7, frames
    assert seen["declare"][0] == "check_candidate" and len(seen["declare"]) <= 6, seen["declare"]
