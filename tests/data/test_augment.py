"""Augmentation for signals and volumes: active in training only, what each does, saved with the model."""

import numpy as np
import pytest

import keras

from kerascnn.data import augmentation_layers
from kerascnn.data.augment import RandomAmplitude, RandomAxisFlip, RandomShift


def _signals(n=16, length=40, channels=2, seed=0):
    return np.random.default_rng(seed).standard_normal((n, length, channels)).astype("float32")


def _volumes(n=4, size=8, seed=0):
    return np.random.default_rng(seed).standard_normal((n, size, size, size, 1)).astype("float32")


def _np(x):
    return keras.ops.convert_to_numpy(x)


LAYERS = [lambda: RandomShift(0.2, seed=1), lambda: RandomAxisFlip((1,), seed=1), lambda: RandomAmplitude(0.3, seed=1)]


@pytest.mark.backend
@pytest.mark.parametrize("make", LAYERS, ids=["shift", "flip", "amplitude"])
@pytest.mark.parametrize("data", [_signals, _volumes], ids=["signals", "volumes"])
def test_each_layer_changes_samples_in_training_only(make, data):
    layer, x = make(), data()
    np.testing.assert_array_equal(_np(layer(x, training=False)), x)  # inference: untouched
    y = _np(layer(x, training=True))
    assert y.shape == x.shape
    changed = [not np.allclose(a, b) for a, b in zip(y, x)]
    assert any(changed)  # some samples moved, flipped or scaled


def _shifted(signal, s):
    """``signal`` moved ``s`` steps later (earlier when negative), zeros filling the gap."""
    out = np.zeros_like(signal)
    if s >= 0:
        out[s:] = signal[: len(signal) - s]
    else:
        out[:s] = signal[-s:]
    return out


@pytest.mark.backend
def test_shift_moves_a_signal_along_time_and_fills_with_zeros():
    base = np.arange(1, 41, dtype="float32")
    y = _np(RandomShift(0.1, seed=3)(np.tile(base, (64, 1))[..., None], training=True))[..., 0]
    shifts = []
    for row in y:
        matches = [s for s in range(-4, 5) if np.array_equal(row, _shifted(base, s))]
        assert len(matches) == 1, row  # a pure shift by at most 10 % of the 40 steps
        shifts += matches
    assert len(set(shifts)) > 3  # drawn per sample


@pytest.mark.backend
def test_flip_reverses_the_named_axis_and_amplitude_scales_by_one_factor():
    x = _volumes(n=32)
    y = _np(RandomAxisFlip((1,), seed=0)(x, training=True))
    for a, b in zip(y, x):
        assert np.array_equal(a, b) or np.array_equal(a, b[::-1])  # depth reversed, or untouched
    s = _signals(n=32)
    ratio = _np(RandomAmplitude(0.2, seed=0)(s, training=True)) / s
    per_sample = ratio.reshape(32, -1)
    np.testing.assert_allclose(per_sample, per_sample[:, :1].repeat(per_sample.shape[1], axis=1), rtol=1e-5)
    assert np.all((per_sample >= 0.8 - 1e-6) & (per_sample <= 1.2 + 1e-6))


@pytest.mark.backend
@pytest.mark.parametrize(
    "rank, settings",
    [
        (1, {"translation": 0.1, "flip": "horizontal", "amplitude": 0.2, "noise": 0.05}),
        (3, {"translation": 0.1, "flip": "all", "amplitude": 0.1, "noise": 0.05}),
    ],
)
def test_augmented_models_round_trip_through_keras_files(tmp_path, rank, settings):
    shape = (40, 1) if rank == 1 else (8, 8, 8, 1)
    inputs = keras.Input(shape)
    x = inputs
    for layer in augmentation_layers(settings, seed=0, rank=rank):
        x = layer(x)
    pooled = (keras.layers.GlobalAveragePooling1D() if rank == 1 else keras.layers.GlobalAveragePooling3D())(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(pooled))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    sample = np.random.default_rng(0).standard_normal((2,) + shape).astype("float32")
    np.testing.assert_allclose(_np(loaded(sample, training=False)), _np(model(sample, training=False)), atol=1e-6)


@pytest.mark.parametrize(
    "rank, settings, message",
    [
        (1, {"rotation": 0.1}, "data.augmentation.rotation.*no form for signals.*flip, translation, amplitude, noise"),
        (1, {"flip": "vertical"}, "flip \\(for signals\\)"),
        (3, {"zoom": 0.1}, "data.augmentation.zoom.*no form for volumes"),
    ],
)
def test_a_setting_a_rank_has_no_form_for_is_refused_by_name(rank, settings, message):
    with pytest.raises(ValueError, match=message):
        augmentation_layers(settings, rank=rank)
