"""Convolution arithmetic: output sizes, shapes, parameters and receptive fields.

Pure Python (no Keras import), so the search can reject a candidate whose
feature maps collapse before a single layer is built. The same
:class:`LayerSpec` list that :func:`kerascnn.layers.apply_specs` turns into
Keras layers is what :func:`trace` walks here, which is why the arithmetic and
the built model cannot disagree.

All shapes are ``channels_last`` and exclude the batch axis:
``(length, channels)``, ``(height, width, channels)`` or
``(depth, height, width, channels)``. A spatial size may be ``None`` (unknown);
it then stays ``None`` downstream.

The notes' formula ``(N - F + 2P) / S + 1`` is :func:`conv_output_length` with
an explicit integer padding ``P``; ``"same"`` keeps ``ceil(N / S)`` and
``"full"`` pads ``F - 1`` on each side, giving ``N + F - 1`` at stride 1 (NumPy's
``mode="full"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from kerascnn.validation import check_choice, check_int, invalid, is_int

PADDING_MODES = ("valid", "same", "full")
CONV_KINDS = ("conv", "depthwise", "separable", "transposed")
SPEC_KINDS = CONV_KINDS + (
    "zero_padding",
    "cropping",
    "batch_norm",
    "layer_norm",
    "activation",
    "dropout",
    "pool",
    "global_pool",
    "flatten",
    "dense",
)


# --------------------------------------------------------------------------
# One dimension at a time
# --------------------------------------------------------------------------
def dilated_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """Span of a dilated kernel: ``d * (k - 1) + 1``."""
    return dilation * (kernel_size - 1) + 1


def _check_axis(size, kernel_size, strides=1, dilation=1, *, kernel_arg="kernel_size"):
    """One axis' arguments, checked as the builders check them (``size`` may be ``None``)."""
    if size is not None:
        check_int("size", size, min_value=0)
    check_int(kernel_arg, kernel_size)
    check_int("strides", strides)
    check_int("dilation", dilation)


def explicit_padding(
    padding: Any, kernel_size: int, dilation: int = 1, *, arg: str = "padding"
) -> tuple[int, int] | None:
    """Padding as ``(before, after)`` zeros, or ``None`` for Keras' own ``valid``/``same``.

    ``"full"`` pads ``d * (k - 1)`` on each side; an int pads that much on both
    sides; a pair ``(before, after)`` is taken as it is.
    """
    if padding == "full":
        p = dilated_kernel_size(kernel_size, dilation) - 1
        return (p, p)
    if is_int(padding):
        if padding < 0:
            raise invalid(arg, padding, "a non-negative integer")
        return (int(padding), int(padding))
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and all(is_int(p) and p >= 0 for p in padding):
        return (int(padding[0]), int(padding[1]))
    if isinstance(padding, str) and padding in ("valid", "same"):
        return None
    raise invalid(arg, padding, "'valid', 'same', 'full', a non-negative integer or a (before, after) pair")


def conv_output_length(size, kernel_size, strides=1, padding="valid", dilation=1):
    """Output length of a convolution along one axis.

    Args:
        size: input length, or ``None`` when unknown.
        kernel_size: kernel length ``F``.
        strides: step ``S``.
        padding: ``"valid"``, ``"same"``, ``"full"``, an int ``P`` (both sides)
            or a ``(before, after)`` pair.
        dilation: dilation rate ``d``; the kernel then spans ``d * (F - 1) + 1``.

    Returns:
        ``floor((N + P_before + P_after - d(F-1) - 1) / S) + 1``, clamped at 0
        (0 means the kernel does not fit: the feature map collapsed), or
        ``ceil(N / S)`` for ``"same"``; ``None`` if ``size`` is ``None``.
    """
    _check_axis(size, kernel_size, strides, dilation)
    pads = explicit_padding(padding, kernel_size, dilation) or (0, 0)
    if size is None:
        return None
    span = dilated_kernel_size(kernel_size, dilation)
    if padding == "same":
        return -(-size // strides)
    return max(0, (size + pads[0] + pads[1] - span) // strides + 1)


def conv_transpose_output_length(size, kernel_size, strides=1, padding="valid", dilation=1, output_padding=None):
    """Output length of a transposed convolution along one axis.

    ``"valid"`` and ``"same"`` follow Keras exactly (with ``output_padding=None``
    Keras picks the smallest length that a forward conv would map back to
    ``size``). An int ``P`` or a pair is the amount cropped from each side, as in
    PyTorch's ``ConvTranspose`` (``(N-1)S - 2P + d(F-1) + 1``); ``"full"`` crops
    ``d(F-1)``, the inverse of a full convolution.
    """
    _check_axis(size, kernel_size, strides, dilation)
    crop = explicit_padding(padding, kernel_size, dilation)
    if output_padding is not None:
        check_int("output_padding", output_padding, min_value=0)
    if size is None:
        return None
    span = dilated_kernel_size(kernel_size, dilation)
    if padding in ("valid", "same"):
        if output_padding is None:
            return size * strides + max(span - strides, 0) if padding == "valid" else size * strides
        pad = span // 2 if padding == "same" else 0
        return max(0, (size - 1) * strides + span - 2 * pad + output_padding)
    full = (size - 1) * strides + span + (output_padding or 0)
    assert crop is not None  # an explicit or "full" padding has its crop
    return max(0, full - crop[0] - crop[1])


def pool_output_length(size, pool_size, strides=None, padding="valid"):
    """Output length of max/average pooling; ``strides`` defaults to ``pool_size``."""
    check_int("pool_size", pool_size)
    check_choice("padding", padding, ("valid", "same"))
    return conv_output_length(size, pool_size, pool_size if strides is None else strides, padding)


def same_padding_amounts(size, kernel_size, strides=1, dilation=1) -> tuple[int, int]:
    """The ``(before, after)`` zeros TensorFlow/Keras add for ``padding="same"``.

    The odd zero goes after, which is why the receptive-field start shifts.
    """
    _check_axis(size, kernel_size, strides, dilation)
    if size is None:
        span = dilated_kernel_size(kernel_size, dilation)
        return ((span - 1) // 2, span // 2) if strides == 1 else (0, 0)
    out = -(-size // strides)
    total = max((out - 1) * strides + dilated_kernel_size(kernel_size, dilation) - size, 0)
    return (total // 2, total - total // 2)


# --------------------------------------------------------------------------
# Layer specs: the shared description of a layer stack
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerSpec:
    """One layer of a stack, described without Keras.

    ``kind`` is one of :data:`SPEC_KINDS`; ``params`` holds what that kind
    needs (already validated and normalised to per-axis tuples by the block
    that made it, e.g. :func:`kerascnn.layers.conv_block_specs`):

    - conv kinds: ``filters`` (``None`` for depthwise), ``kernel_size``,
      ``strides``, ``dilation`` (tuples), ``padding`` (``"valid"``/``"same"``),
      ``use_bias``, optional ``depth_multiplier``, ``output_padding``,
      ``activation`` (a fused string activation or ``None``);
    - ``zero_padding`` / ``cropping``: ``pads``, a ``(before, after)`` per axis;
    - ``pool``: ``pool`` (``"max"``/``"avg"``), ``pool_size``, ``strides``, ``padding``;
    - ``global_pool``: ``pool``; ``dense``: ``units``, ``use_bias``, ``activation``;
    - ``dropout``: ``rate``, ``spatial``; ``activation``: ``activation``;
    - ``batch_norm`` / ``layer_norm``: the Keras layer's own arguments (``epsilon``...).
    """

    kind: str
    name: str
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        check_choice("kind", self.kind, SPEC_KINDS)

    def get(self, key, default=None):
        return self.params.get(key, default)


@dataclass
class LayerGeometry:
    """What :func:`trace` knows about one layer's output.

    ``rf_size``, ``rf_jump`` and ``rf_start`` are per spatial axis, in input
    pixels: the receptive field's extent, the distance between neighbouring
    output units, and the centre of the first unit's field (negative when it
    sits in the padding). They are ``None`` once the spatial axes are gone.
    """

    name: str
    kind: str
    output_shape: tuple
    params: int | None
    rf_size: tuple | None = None
    rf_jump: tuple | None = None
    rf_start: tuple | None = None

    @property
    def spatial_shape(self) -> tuple:
        return tuple(self.output_shape[:-1])


class GeometryError(ValueError):
    """A layer stack that does not fit its input: names the layer and says why."""

    def __init__(self, message, *, index=None, layer=None, table=None):
        super().__init__(message)
        self.index = index
        self.layer = layer
        self.table = table or []


def check_input_shape(input_shape, *, ranks=(1, 2, 3)) -> tuple:
    """A ``channels_last`` input shape with the allowed number of spatial axes (spatial sizes may be None)."""
    if (
        not isinstance(input_shape, (tuple, list))
        or len(input_shape) - 1 not in ranks
        or not all(d is None or (is_int(d) and d >= 1) for d in input_shape[:-1])
        or not (is_int(input_shape[-1]) and input_shape[-1] >= 1)
    ):
        forms = {1: "(length, channels)", 2: "(height, width, channels)", 3: "(depth, height, width, channels)"}
        raise invalid(
            "input_shape",
            input_shape,
            " or ".join(forms[r] for r in ranks)
            + " with positive sizes (channels_last, no batch axis; spatial sizes may be None)",
        )
    return tuple(input_shape)


def _conv_params(spec: LayerSpec, cin, kernel_elems):
    """Parameter count and output channels of a conv-kind spec (Keras' own formulas)."""
    kind, bias = spec.kind, spec.get("use_bias", True)
    if kind == "depthwise":
        mult = spec.get("depth_multiplier", 1)
        cout = None if cin is None else cin * mult
        params = None if cin is None else kernel_elems * cout + (cout if bias else 0)
        return params, cout
    cout = spec.get("filters")
    if cin is None:
        return None, cout
    if kind == "separable":
        mult = spec.get("depth_multiplier", 1)
        return kernel_elems * cin * mult + cin * mult * cout + (cout if bias else 0), cout
    return kernel_elems * cin * cout + (cout if bias else 0), cout


def _describe(spec: LayerSpec) -> str:
    k = spec.kind
    if k in CONV_KINDS or k == "pool":
        size = spec.get("kernel_size") or spec.get("pool_size")
        label = {
            "conv": "conv",
            "depthwise": "depthwise conv",
            "separable": "separable conv",
            "transposed": "transposed conv",
            "pool": f"{spec.get('pool')} pool",
        }[k]
        extra = ""
        if any(d > 1 for d in spec.get("dilation", (1,))):
            extra = f", dilation {_fmt(spec.get('dilation'))}"
        return f"{label} {_fmt(size)} stride {_fmt(spec.get('strides'))}{extra}, padding '{spec.get('padding')}'"
    if k == "cropping":
        return f"cropping {spec.get('pads')}"
    return k.replace("_", " ")


def _fmt(shape) -> str:
    return "×".join("?" if s is None else str(s) for s in shape)


class _Collapse(Exception):
    """Raised by a handler: the layer's output collapses (``trace`` turns it into its message)."""


@dataclass
class _TraceState:
    """What :func:`trace` carries from layer to layer."""

    shape: tuple  # the input's
    spatial: list
    channels: int | None
    rf_size: list
    rf_jump: list
    rf_start: list
    flat: bool = False  # spatial axes gone (flatten / global pool)

    @property
    def rank(self) -> int:
        return len(self.shape) - 1


def _trace_window(st: _TraceState, spec: LayerSpec, i: int, table: list):
    """A conv (any kind) or a pooling window: output lengths, receptive field, conv parameters."""
    kind, rank = spec.kind, st.rank
    is_pool = kind == "pool"
    ks = spec.get("pool_size") if is_pool else spec.get("kernel_size")
    strides = spec.get("strides")
    dl = (1,) * rank if is_pool else spec.get("dilation", (1,) * rank)
    pad = spec.get("padding")
    if len(ks) != rank:
        raise GeometryError(
            f"Layer {i} ({spec.name}) has a {len(ks)}D kernel {ks} but the input has "
            f"{rank} spatial axes (shape {_fmt(st.shape)}).",
            index=i,
            layer=spec.name,
            table=table,
        )
    new = []
    for a in range(rank):
        n = st.spatial[a]
        if kind == "transposed":
            out_pad = spec.get("output_padding") or (None,) * rank
            out = conv_transpose_output_length(n, ks[a], strides[a], pad, dl[a], out_pad[a])
            if out and n is not None and conv_output_length(out, ks[a], strides[a], pad, dl[a]) != n:
                # TensorFlow computes a transposed conv as the gradient of the forward
                # conv, so it refuses an output the forward conv would not map back to n.
                raise _Collapse(
                    f"axis {a}: output_padding={out_pad[a]} gives length {out}, which a forward conv "
                    f"maps to {conv_output_length(out, ks[a], strides[a], pad, dl[a])}, "
                    f"not the input's {n}"
                )
        else:
            out = conv_output_length(n, ks[a], strides[a], pad, dl[a])
        span = dilated_kernel_size(ks[a], dl[a])
        if out == 0:
            what = "pool window" if is_pool else "kernel"
            dil = f" (dilated span {span})" if span != ks[a] else ""
            raise _Collapse(
                f"axis {a} has size {n}, smaller than the {what} {ks[a]}{dil} "
                f"with padding '{pad}', so the output would be 0"
            )
        new.append(out)
        if kind == "transposed":  # receptive field
            st.rf_jump[a] /= strides[a]
            st.rf_size[a] += (math.ceil(span / strides[a]) - 1) * st.rf_jump[a] * strides[a]
        else:
            before = same_padding_amounts(n, ks[a], strides[a], dl[a])[0] if pad == "same" else 0
            st.rf_size[a] += (span - 1) * st.rf_jump[a]
            st.rf_start[a] += ((span - 1) / 2 - before) * st.rf_jump[a]
            st.rf_jump[a] *= strides[a]
    st.spatial = new
    if is_pool:
        return 0
    params, st.channels = _conv_params(spec, st.channels, math.prod(ks))
    return params


def _trace_pad_or_crop(st: _TraceState, spec: LayerSpec, i: int, table: list):
    sign = 1 if spec.kind == "zero_padding" else -1
    pads = spec.get("pads")
    new = []
    for a in range(st.rank):
        n = st.spatial[a]
        out = None if n is None else n + sign * (pads[a][0] + pads[a][1])
        if out is not None and out <= 0:
            raise _Collapse(f"axis {a} has size {n}, but {pads[a][0] + pads[a][1]} would be cropped")
        new.append(out)
        st.rf_start[a] -= sign * pads[a][0] * st.rf_jump[a]
    st.spatial = new
    return 0


def _trace_batch_norm(st: _TraceState, spec: LayerSpec, i: int, table: list):
    # moving mean and variance, and gamma / beta unless scale / center is off (Inception-v3: no scale)
    per_channel = 2 + int(spec.get("scale", True)) + int(spec.get("center", True))
    return None if st.channels is None else per_channel * st.channels


def _trace_layer_norm(st: _TraceState, spec: LayerSpec, i: int, table: list):
    return None if st.channels is None else 2 * st.channels  # gamma and beta over the channel axis


def _trace_activation(st: _TraceState, spec: LayerSpec, i: int, table: list):
    return st.channels if spec.get("activation") == "prelu" else 0  # PReLU: one learned slope per channel


def _trace_global_pool(st: _TraceState, spec: LayerSpec, i: int, table: list):
    st.flat, st.spatial = True, []
    return 0


def _trace_flatten(st: _TraceState, spec: LayerSpec, i: int, table: list):
    st.flat = True
    st.channels = None if st.channels is None or None in st.spatial else st.channels * math.prod(st.spatial)
    st.spatial = []
    return 0


def _trace_dense(st: _TraceState, spec: LayerSpec, i: int, table: list):
    units = spec.get("units")
    params = None if st.channels is None else st.channels * units + (units if spec.get("use_bias", True) else 0)
    st.channels = units
    return params


def _trace_nothing(st: _TraceState, spec: LayerSpec, i: int, table: list):
    return 0  # dropout: the shape passes through


#: How each spec kind changes what :func:`trace` carries (one handler per kind, as ``layers/build.py`` has).
_TRACERS = {
    **{kind: _trace_window for kind in CONV_KINDS + ("pool",)},
    "zero_padding": _trace_pad_or_crop,
    "cropping": _trace_pad_or_crop,
    "batch_norm": _trace_batch_norm,
    "layer_norm": _trace_layer_norm,
    "activation": _trace_activation,
    "global_pool": _trace_global_pool,
    "flatten": _trace_flatten,
    "dense": _trace_dense,
}
#: Kinds that work on a flattened (or globally pooled) stack.
_FLAT_KINDS = ("dense", "dropout", "activation", "batch_norm", "layer_norm", "flatten")


def trace(input_shape: Sequence, specs: Iterable[LayerSpec], *, strict: bool = True) -> list[LayerGeometry]:
    """Shapes, parameter counts and receptive fields of a layer stack, unbuilt.

    Args:
        input_shape: ``channels_last`` shape without the batch axis.
        specs: the stack, as :class:`LayerSpec` objects.
        strict: raise :class:`GeometryError` at the first layer whose output
            collapses (a spatial size of 0); with ``False`` the trace stops
            there and returns the rows so far.

    Returns:
        One :class:`LayerGeometry` per spec, in order.
    """
    shape = check_input_shape(input_shape)
    rank = len(shape) - 1
    st = _TraceState(shape, list(shape[:-1]), shape[-1], [1.0] * rank, [1.0] * rank, [0.5] * rank)
    table: list[LayerGeometry] = []
    for i, spec in enumerate(specs):
        if st.flat and spec.kind not in _FLAT_KINDS:
            raise GeometryError(
                f"Layer {i} ({spec.name}, {_describe(spec)}) needs spatial axes, but the "
                "stack was already flattened or globally pooled before it.",
                index=i,
                layer=spec.name,
                table=table,
            )
        try:
            params = _TRACERS.get(spec.kind, _trace_nothing)(st, spec, i, table)
        except _Collapse as reason:
            msg = f"The feature map collapses at {spec.name} ({_describe(spec)}): {reason}."
            if table:
                msg += (
                    f" Shapes before it: {_fmt(shape)} -> ... -> "
                    + " -> ".join(_fmt(g.output_shape) for g in table[-3:])
                    + "."
                )
            if strict:
                raise GeometryError(msg, index=i, layer=spec.name, table=table) from None
            return table
        out_shape = tuple(st.spatial) + (st.channels,)
        if st.flat:
            table.append(LayerGeometry(spec.name, spec.kind, out_shape, params))
        else:
            table.append(
                LayerGeometry(
                    spec.name, spec.kind, out_shape, params, tuple(st.rf_size), tuple(st.rf_jump), tuple(st.rf_start)
                )
            )
    return table


@dataclass
class FitReport:
    """Answer of :func:`check_fits`: ``ok``, and if not, where and why."""

    ok: bool
    table: list
    index: int | None = None
    layer: str | None = None
    reason: str | None = None

    def __bool__(self):
        return self.ok


def check_fits(input_shape, specs) -> FitReport:
    """Whether ``specs`` fit ``input_shape``; if not, which layer collapses and why."""
    specs = list(specs)
    try:
        table = trace(input_shape, specs)
    except GeometryError as err:
        return FitReport(False, err.table, err.index, err.layer, str(err))
    return FitReport(True, table)


def total_params(table: Sequence[LayerGeometry]) -> int | None:
    """Sum of the parameter column (``None`` if any count is unknown)."""
    counts = [g.params for g in table]
    known = [c for c in counts if c is not None]
    return None if len(known) < len(counts) else sum(known)


def min_input_size(specs, channels: int, rank: int = 2, limit: int = 4096) -> int | None:
    """Smallest square (cubic, ...) spatial size the stack accepts, or ``None`` up to ``limit``.

    Found by doubling, then bisection: every layer's output length grows
    (never shrinks) with its input length, so once a size fits every larger
    one does. About ``2·log2(answer)`` traces instead of one per size.
    """
    check_int("channels", channels)
    specs = list(specs)

    def fits(n: int) -> bool:
        return check_fits((n,) * rank + (channels,), specs).ok

    low, high = 0, 1  # low: known not to fit (0 stands for "nothing yet"); high: the size tried
    while not fits(high):
        if high >= limit:
            return None
        low, high = high, min(2 * high, limit)
    while high - low > 1:  # invariant: high fits, low does not (or is 0)
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle
    return high


def format_table(table: Sequence[LayerGeometry]) -> str:
    """A plain-text table: layer, output shape, parameters, receptive field."""
    rows = [("layer", "kind", "output shape", "params", "receptive field", "jump", "start")]
    for g in table:
        rows.append(
            (
                g.name,
                g.kind,
                _fmt(g.output_shape),
                "?" if g.params is None else f"{g.params:,}",
                "-" if g.rf_size is None else _fmt(_clean(g.rf_size)),
                "-" if g.rf_jump is None else _fmt(_clean(g.rf_jump)),
                "-" if g.rf_start is None else _fmt(_clean(g.rf_start)),
            )
        )
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _clean(values):
    return tuple(int(v) if float(v).is_integer() else round(v, 3) for v in values)
