"""average_model: one Keras model whose output is the mean of its members' probabilities."""

import numpy as np
import pytest

import keras

import kerascnn
from kerascnn.evaluation.ensemble import average_model


@pytest.mark.backend
def test_predictions_are_the_mean_of_the_members_and_survive_save_and_load(tmp_path):
    members = []
    for seed in range(3):
        keras.backend.clear_session()  # members built apart reuse layer names: nesting keeps them apart
        keras.utils.set_random_seed(seed)
        members.append(kerascnn.create_model("simple_cnn", input_shape=(8, 8, 1), num_classes=10, conv_layers=2))
    ensemble = average_model(members, names=["a", "b", "c"])
    x = np.random.default_rng(0).random((7, 8, 8, 1)).astype("float32")
    expected = np.mean([keras.ops.convert_to_numpy(m.predict(x, verbose=0)) for m in members], axis=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ensemble.predict(x, verbose=0)), expected, atol=1e-6)
    ensemble.save(tmp_path / "e.keras")
    loaded = keras.saving.load_model(tmp_path / "e.keras")  # plain Keras, after import kerascnn
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded.predict(x, verbose=0)), expected, atol=1e-6)


def test_members_must_agree_and_be_several():
    a = kerascnn.create_model("simple_cnn", input_shape=(8, 8, 1), num_classes=10, conv_layers=1)
    b = kerascnn.create_model("simple_cnn", input_shape=(8, 8, 1), num_classes=3, conv_layers=1)
    with pytest.raises(ValueError, match="at least 2 models; received 1"):
        average_model([a])
    with pytest.raises(ValueError, match=r"output widths \[3, 10\]"):
        average_model([a, b])
