"""Test-sample figures per rank: misclassified samples and first-layer feature maps, in files and TensorBoard."""

import numpy as np
import pytest

import keras

from kerascnn import create_model
from kerascnn.evaluation import samples


@pytest.mark.parametrize("rank, shape", [(1, (40, 2)), (2, (10, 10, 3)), (3, (6, 6, 6, 1))])
def test_the_misclassified_samples_are_shown_with_true_and_predicted_class(rank, shape):
    x = np.random.default_rng(0).random((30,) + shape).astype("float32")
    y_true = np.arange(30) % 3
    y_pred = y_true.copy()
    y_pred[[4, 9, 20]] = (y_true[[4, 9, 20]] + 1) % 3
    fig = samples.examples_figure(x, y_true, y_pred, ["a", "b", "c"], rank)
    titles = [ax.get_title() for ax in fig.axes] + [ax.get_ylabel() for ax in fig.axes]
    assert "3 misclassified of 30" in fig._suptitle.get_text()
    shown = [t for t in titles if "true" in t]
    assert len(shown) == 3 and "true b, pred c" in shown[0].replace("\n", ", ")  # sample 4: true 1, predicted 2
    if rank == 1:
        assert len(fig.axes[0].lines) == 2  # one line per channel
    if rank == 3:
        assert len(fig.axes) == 9  # three middle slices per volume
    index, wrong = samples.pick_examples(y_true, y_true, rank)
    assert not wrong and len(index) > 0  # nothing misclassified: the first samples are shown


@pytest.mark.backend
@pytest.mark.parametrize("shape", [(40, 1), (8, 8, 1), (6, 6, 6, 1)])
def test_test_figures_are_written_and_logged_to_tensorboard(tmp_path, shape):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = create_model("simple_cnn", input_shape=shape, num_classes=3, conv_layers=1, filters=4)
    x = np.random.default_rng(0).random((12,) + shape).astype("float32")
    y = np.arange(12) % 3
    paths = samples.write_test_figures(tmp_path, model, x, y, (y + 1) % 3, ["a", "b", "c"], len(shape) - 1)
    assert sorted(p.name for p in paths) == sorted(samples.FIGURES.values())
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    events = EventAccumulator(str(tmp_path / "tb" / samples.TB_FOLDER)).Reload()
    assert set(events.Tags()["tensors"]) == {"examples", "feature_maps"}  # image-plugin tensors, as tf.summary.image
    png = events.Tensors("examples")[0].tensor_proto.string_val[2]
    assert png == (tmp_path / samples.FIGURES["examples"]).read_bytes()


def test_a_model_without_convolutions_still_gets_its_examples(tmp_path):
    inputs = keras.Input((5, 1))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    x, y = np.zeros((4, 5, 1), "float32"), np.array([0, 1, 0, 1])
    paths = samples.write_test_figures(tmp_path, model, x, y, y, ["a", "b"], 1)
    assert [p.name for p in paths] == [samples.FIGURES["examples"]]


@pytest.mark.backend
def test_feature_maps_reach_inside_seed_averaged_augmented_models(tmp_path):
    """final_model.keras with search.refit_seeds > 1 averages augmented models: the probe finds the conv inside."""
    from kerascnn.data import augmentation_layers
    from kerascnn.evaluation.ensemble import average_model

    def member(seed):
        inner = create_model("simple_cnn", input_shape=(40, 1), num_classes=3, conv_layers=1, filters=4)
        inputs = keras.Input((40, 1))
        x = inputs
        for layer in augmentation_layers({"translation": 0.1}, seed=seed, rank=1):
            x = layer(x)
        return keras.Model(inputs, inner(x), name=f"member_{seed}")

    model = average_model([member(0), member(1)], names=["a", "b"])
    x = np.random.default_rng(0).random((6, 40, 1)).astype("float32")
    y = np.arange(6) % 3
    paths = samples.write_test_figures(tmp_path, model, x, y, (y + 1) % 3, ["a", "b", "c"], 1)
    assert sorted(p.name for p in paths) == sorted(samples.FIGURES.values())
