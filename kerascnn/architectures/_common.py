"""Shared builder plumbing: input checks and the geometry gate before building.

Every builder ends in :func:`sequential_model` (or, for branching families,
checks its downsampling path with :func:`check_fits`), so a too-small input
fails at once with the minimum size instead of a Keras negative-dimension
error from deep inside the graph.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass

from kerascnn import geometry
from kerascnn.layers.build import build_sequential_model
from kerascnn.validation import invalid, is_int


def check_input_shape(input_shape, *, ranks=(1, 2, 3)) -> tuple:
    """A ``channels_last`` input shape with the allowed number of spatial axes."""
    if (
        not isinstance(input_shape, (tuple, list))
        or len(input_shape) - 1 not in ranks
        or not all(d is None or (is_int(d) and d >= 1) for d in input_shape[:-1])
        or not (is_int(input_shape[-1]) and input_shape[-1] >= 1)
    ):
        forms = {1: "(length, channels)", 2: "(height, width, channels)", 3: "(depth, height, width, channels)"}
        raise invalid(
            "input_shape", input_shape,
            " or ".join(forms[r] for r in ranks) + " with positive sizes (channels_last, no batch axis)",
        )
    return tuple(input_shape)


def check_fits(model_name: str, input_shape: tuple, specs) -> None:
    """Raise a ``ValueError`` naming the minimum input if ``specs`` collapse on ``input_shape``."""
    report = geometry.check_fits(input_shape, specs)
    if report.ok:
        return
    rank, channels = len(input_shape) - 1, input_shape[-1]
    smallest = geometry.min_input_size(specs, channels, rank)
    need = (f"the smallest input it accepts is {'×'.join([str(smallest)] * rank)}×{channels}"
            if smallest else "it accepts no input size up to 4096")
    raise ValueError(
        f"Invalid `input_shape` for {model_name}: too small, {need}. {report.reason} "
        f"Received: input_shape={tuple(input_shape)}"
    )


@dataclass(frozen=True)
class ModelPlan:
    """A sequential model described but not built: its input and layer specs."""

    name: str
    input_shape: tuple
    specs: tuple

    def trace(self):
        """Per-layer shapes, parameters and receptive fields (see :func:`geometry.trace`)."""
        return geometry.trace(self.input_shape, self.specs)

    def count_params(self) -> int:
        return geometry.total_params(self.trace())


_PLANNING = contextvars.ContextVar("kerascnn_planning", default=False)


@contextlib.contextmanager
def planning():
    """Within this context, sequential builders return a :class:`ModelPlan` instead of a model."""
    token = _PLANNING.set(True)
    try:
        yield
    finally:
        _PLANNING.reset(token)


def check_branching(name: str, input_shape, spine) -> bool:
    """The geometry gate of a branching model (ResNet, DenseNet, U-Net...).

    ``spine`` is the model's downsampling path: the specs, in order, that the
    main path applies (branches that keep the size need not be listed). It is
    checked against ``input_shape`` before any layer exists, so a too-small
    input fails with the minimum size.

    Returns:
        ``False`` inside :func:`planning` (the caller returns ``None``: a
        branching model is measured by building it), else ``True``.
    """
    if not isinstance(name, str) or not name:
        raise invalid("name", name, "a non-empty string")
    check_fits(name, tuple(input_shape), list(spine))
    return not _PLANNING.get()


def sequential_model(name: str, input_shape, specs, input_tensor=None):
    """Check ``specs`` against ``input_shape`` with :mod:`kerascnn.geometry`, then build.

    Inside :func:`planning` the checked :class:`ModelPlan` is returned instead,
    so callers (the search, ``kerascnn models``) learn shapes and parameter
    counts without allocating a single weight.
    """
    input_shape = check_input_shape(input_shape)
    if not isinstance(name, str) or not name:
        raise invalid("name", name, "a non-empty string")
    specs = list(specs)
    check_fits(name, input_shape, specs)
    if _PLANNING.get():
        return ModelPlan(name, input_shape, tuple(specs))
    return build_sequential_model(input_shape, specs, name=name, input_tensor=input_tensor)
