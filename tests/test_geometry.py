"""Conv arithmetic against the notes' formula and against Keras' own shapes."""

import itertools
import re

import numpy as np
import pytest

import keras

from kerascnn import geometry
from kerascnn.geometry import (
    GeometryError,
    LayerSpec,
    check_fits,
    conv_output_length,
    conv_transpose_output_length,
    min_input_size,
    pool_output_length,
    trace,
)
from kerascnn.layers import conv_block, conv_block_specs, pool_specs


# --- the notes' worked sizes -------------------------------------------------
@pytest.mark.parametrize(
    "n, f, s, p, expected",
    [(7, 3, 1, 0, 5), (7, 3, 2, 0, 3), (7, 3, 1, 1, 7), (7, 3, 2, 1, 4), (32, 3, 1, 1, 32), (227, 11, 4, 0, 55)],
)
def test_notes_formula(n, f, s, p, expected):
    assert conv_output_length(n, f, s, p) == expected
    assert conv_output_length(n, f, s, p) == (n - f + 2 * p) // s + 1


@pytest.mark.parametrize("n, f", [(7, 3), (32, 5), (8, 7), (5, 1)])
def test_same_keeps_size_at_stride_1_and_full_gives_n_plus_f_minus_1(n, f):
    assert conv_output_length(n, f, 1, "same") == n
    assert conv_output_length(n, f, 1, "full") == n + f - 1
    # NumPy's convolve modes are the notes' reference for 'full' and 'valid'.
    assert conv_output_length(n, f, 1, "full") == len(np.convolve(np.ones(n), np.ones(f), mode="full"))
    assert conv_output_length(n, f, 1, "valid") == len(np.convolve(np.ones(n), np.ones(f), mode="valid"))


def test_collapsed_output_is_zero_and_unknown_size_stays_unknown():
    assert conv_output_length(2, 3) == 0
    assert conv_output_length(5, 3, dilation=3) == 0  # dilated span 7 > 5
    assert pool_output_length(1, 2) == 0
    assert conv_output_length(None, 3, 2, "same") is None


def test_bad_padding_is_refused():
    with pytest.raises(ValueError, match="Received: padding='half'"):
        conv_output_length(7, 3, padding="half")
    with pytest.raises(ValueError, match="Received: padding=-1"):
        conv_output_length(7, 3, padding=-1)


# --- agreement with Keras over a grid ----------------------------------------
def _keras_len(layer, n):
    y = layer(np.zeros((1, n, 1), "float32"))
    return int(y.shape[1])


GRID = [
    (n, k, s, d, pad)
    for n, k, s, d, pad in itertools.product(range(1, 12), (1, 2, 3, 5), (1, 2, 3), (1, 2), ("valid", "same"))
    if not (d > 1 and s > 1)
]


def test_conv_output_length_matches_keras_conv1d_on_grid():
    mismatches = []
    for n, k, s, d, pad in GRID:
        expected = conv_output_length(n, k, s, pad, d)
        if expected == 0:
            continue  # collapses: covered by the next test
        got = _keras_len(keras.layers.Conv1D(1, k, strides=s, padding=pad, dilation_rate=d), n)
        if got != expected:
            mismatches.append((n, k, s, d, pad, got, expected))
    assert not mismatches


def test_collapsing_cases_are_exactly_keras_empty_or_failing_ones():
    for n, k, s, d, pad in GRID:
        if conv_output_length(n, k, s, pad, d) != 0:
            continue
        try:
            got = _keras_len(keras.layers.Conv1D(1, k, strides=s, padding=pad, dilation_rate=d), n)
        except Exception:  # Keras refuses a negative dimension: also a collapse
            continue
        assert got <= 0, (n, k, s, d, pad, got)


def test_conv2d_non_square_kernels_strides_and_dilation_match_keras():
    x = np.zeros((1, 9, 7, 2), "float32")
    cases = [((1, 3), (1, 1), (1, 1)), ((3, 1), (2, 1), (1, 1)), ((3, 2), (1, 1), (2, 3)), ((5, 3), (3, 2), (1, 1))]
    for (k, s, d), pad in itertools.product(cases, ("valid", "same")):
        got = keras.layers.Conv2D(3, k, strides=s, padding=pad, dilation_rate=d)(x).shape[1:3]
        expected = tuple(conv_output_length(n, k[a], s[a], pad, d[a]) for a, n in enumerate((9, 7)))
        assert tuple(got) == expected, (k, s, d, pad)


def test_transposed_output_length_matches_keras_on_grid():
    for n, k, s, pad in itertools.product((1, 2, 5, 8), (1, 2, 3, 4, 5), (1, 2, 3), ("valid", "same")):
        for out_pad in [None] + list(range(s)):
            layer = keras.layers.Conv1DTranspose(1, k, strides=s, padding=pad, output_padding=out_pad)
            expected = conv_transpose_output_length(n, k, s, pad, 1, out_pad)
            spec = conv_block_specs(
                1, k, strides=s, padding=pad, conv_type="transposed", output_padding=out_pad, rank=1
            )
            if not check_fits((n, 1), spec).ok:  # collapses: TensorFlow refuses it or returns an empty map,
                try:  # depending on the CPU kernels (oneDNN on AVX-512 returns one)
                    got = _keras_len(layer, n)
                except Exception:
                    got = 0
                assert got <= 0, (n, k, s, pad, out_pad, got)
                continue
            assert _keras_len(layer, n) == expected, (n, k, s, pad, out_pad)


def test_pool_output_length_matches_keras_on_grid():
    collapsed = 0
    for n, p, s, pad in itertools.product(range(2, 12), (2, 3), (1, 2, 3), ("valid", "same")):
        if pool_output_length(n, p, s, pad) == 0:
            # Never run: TensorFlow's oneDNN max-pool kills the process (SIGFPE) on an empty output on
            # AVX-512 CPUs; the geometry gate exists so that no kit model reaches it.
            assert pad == "valid" and n < p, (n, p, s, pad)
            collapsed += 1
            continue
        for cls in (keras.layers.MaxPooling1D, keras.layers.AveragePooling1D):
            assert _keras_len(cls(p, strides=s, padding=pad), n) == pool_output_length(n, p, s, pad), (n, p, s, pad)
    assert collapsed == 3  # n=2, p=3, valid, for each stride


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(padding="full"),
        dict(padding=2),
        dict(padding=(1, 0)),
        dict(padding=((2, 0), (0, 1))),
        dict(padding="full", dilation=2),
        dict(padding=1, strides=2),
        dict(padding="full", strides=3),
        dict(conv_type="transposed", strides=2, padding=1),
        dict(conv_type="transposed", padding="full"),
        dict(conv_type="transposed", strides=2, padding=1, output_padding=1),
        dict(conv_type="transposed", dilation=2, padding=2),
        dict(conv_type="transposed", dilation=2),
        dict(conv_type="transposed", dilation=3, padding=(7, 5)),
        dict(conv_type="transposed", dilation=2, padding="same"),
        dict(conv_type="separable", padding="full", pool="max", pool_size=3, pool_strides=2),
        dict(conv_type="depthwise", filters=None, padding=1, pool="avg", pool_padding="same"),
    ],
)
def test_conv_block_padding_modes_shapes_and_params_match_geometry(kwargs):
    kwargs = {"filters": 4, "kernel_size": 3, **kwargs}
    inputs = keras.Input((11, 8, 3))
    model = keras.Model(inputs, conv_block(inputs, **kwargs))
    table = trace((11, 8, 3), conv_block_specs(rank=2, **kwargs))
    assert tuple(model.output_shape[1:]) == table[-1].output_shape
    assert model.count_params() == geometry.total_params(table)
    # and the built model runs
    assert model(np.zeros((1, 11, 8, 3), "float32")).shape[1:] == table[-1].output_shape


def test_transposed_explicit_padding_is_pytorchs_formula():
    # PyTorch: (N - 1) S - 2P + d (F - 1) + output_padding + 1
    for n, f, s, p, d in [(7, 3, 2, 1, 1), (5, 4, 2, 1, 1), (9, 3, 1, 2, 2), (6, 5, 3, 2, 1)]:
        assert conv_transpose_output_length(n, f, s, p, d) == (n - 1) * s - 2 * p + d * (f - 1) + 1


# --- receptive fields ---------------------------------------------------------
def test_receptive_field_of_stacked_convs_and_pooling():
    specs = (
        conv_block_specs(8, 3, padding="valid", rank=2, name="c1")
        + conv_block_specs(8, 3, padding="valid", rank=2, name="c2")
        + pool_specs("max", 2, rank=2, name="p")
        + conv_block_specs(8, 3, padding="valid", rank=2, name="c3")
    )
    t = {g.name: g for g in trace((32, 32, 1), specs)}
    assert t["c1_conv"].rf_size == (3, 3) and t["c2_conv"].rf_size == (5, 5)  # two 3x3 see 5x5
    assert t["p"].rf_size == (6, 6) and t["p"].rf_jump == (2, 2)
    assert t["c3_conv"].rf_size == (10, 10) and t["c3_conv"].rf_jump == (2, 2)
    # centres: first unit of c2 sits over input pixel 2 (0-based), i.e. 2.5 in pixel-edge units
    assert t["c2_conv"].rf_start == (2.5, 2.5)
    assert t["c3_conv"].rf_start == (5.0, 5.0)


def test_receptive_field_with_dilation_and_same_padding():
    specs = conv_block_specs(1, 3, dilation=2, padding="same", rank=1, name="d")
    (g,) = trace((10, 1), specs)
    assert g.rf_size == (5,) and g.rf_start == (0.5,)  # centred on pixel 0, padded by 2


# --- fit checks ----------------------------------------------------------------
def test_check_fits_names_the_collapsing_layer_and_why():
    specs = []
    for i in range(1, 5):
        specs += conv_block_specs(8, 3, padding="same", pool="max", rank=2, name=f"block{i}")
    assert check_fits((16, 16, 1), specs).ok
    report = check_fits((8, 8, 1), specs)
    assert not report.ok
    assert report.layer == "block4_pool"
    assert "axis 0 has size 1" in report.reason and "pool window 2" in report.reason
    assert [g.output_shape for g in report.table][-1] == (1, 1, 8)
    with pytest.raises(GeometryError) as err:
        trace((8, 8, 1), specs)
    assert err.value.layer == "block4_pool" and isinstance(err.value, ValueError)


def test_min_input_size():
    specs = conv_block_specs(8, 5, padding="valid", pool="max", rank=2, name="a")
    specs += conv_block_specs(8, 5, padding="valid", pool="max", rank=2, name="b")
    # 5x5 valid, pool 2, 5x5 valid, pool 2: 16 -> 12 -> 6 -> 2 -> 1
    assert min_input_size(specs, channels=1) == 16
    assert check_fits((16, 16, 1), specs).ok and not check_fits((15, 15, 1), specs).ok


def test_min_input_size_by_bisection_equals_the_linear_scan_in_few_traces(monkeypatch):
    """Doubling then bisection finds what trying every size from 1 finds, for stacks of every kind."""
    calls = []
    real = geometry.check_fits
    monkeypatch.setattr(geometry, "check_fits", lambda shape, specs: calls.append(shape) or real(shape, specs))
    cases = 0
    for kernel, stride, padding, pool, depth, dilation in itertools.product(
        (1, 3, 7), (1, 2, 3), ("valid", "same"), ("max", "none"), (1, 2, 4), (1, 2)
    ):
        if stride > 1 and dilation > 1:
            continue
        specs = []
        for i in range(depth):
            specs += conv_block_specs(
                4, kernel, strides=stride, padding=padding, pool=pool, dilation=dilation, rank=1, name=f"b{i}"
            )
        linear = next((n for n in range(1, 600) if real((n, 1), specs).ok), None)
        calls.clear()
        assert min_input_size(specs, channels=1, rank=1, limit=599) == linear, (kernel, stride, padding, pool, depth)
        if linear:
            assert len(calls) <= 2 * max(1, linear).bit_length() + 1, (linear, len(calls))
        cases += 1
    assert cases > 100


def test_layers_after_flatten_must_not_be_spatial():
    specs = [LayerSpec("flatten", "f")] + conv_block_specs(4, 3, rank=2, name="c")
    with pytest.raises(GeometryError, match="already flattened"):
        trace((8, 8, 1), specs)


def test_kernel_rank_must_match_input():
    with pytest.raises(GeometryError, match="2D kernel"):
        trace((8, 1), conv_block_specs(4, 3, rank=2))


def test_bad_input_shape():
    with pytest.raises(ValueError, match="Received: input_shape"):
        trace((0, 8, 1), [])


def test_format_table_lists_every_layer():
    specs = conv_block_specs(4, 3, bn_placement="before_activation", pool="max", rank=2, name="b1")
    text = geometry.format_table(trace((8, 8, 3), specs))
    for name in ("b1_conv", "b1_bn", "b1_relu", "b1_pool"):
        assert name in text
    assert "4×4×4" in text


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: conv_output_length(5, 0), "Received: kernel_size=0"),
        (lambda: conv_output_length(5, 3, strides=0), "Received: strides=0"),
        (lambda: conv_output_length(5, 3, dilation=0), "Received: dilation=0"),
        (lambda: conv_output_length(-1, 3), "Received: size=-1"),
        (lambda: conv_output_length(5, 2.5), "Received: kernel_size=2.5"),
        (lambda: pool_output_length(8, 2, strides=0), "Received: strides=0"),
        (lambda: pool_output_length(8, 0), "Received: pool_size=0"),
        (lambda: geometry.conv_transpose_output_length(4, 3, strides=0), "Received: strides=0"),
        (lambda: geometry.same_padding_amounts(4, 3, strides=0), "Received: strides=0"),
    ],
)
def test_arguments_are_checked_like_the_builders_check_them(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):  # never a wrong number or a ZeroDivisionError
        call()
