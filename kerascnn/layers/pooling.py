"""Pooling as layer specs: max/avg windows and global pooling, any rank."""

from __future__ import annotations

from typing import Any

from kerascnn.geometry import LayerSpec
from kerascnn.validation import check_choice, int_tuple

POOLS = ("max", "avg", "global_max", "global_avg", "none")


def pool_specs(
    pool: str | None,
    pool_size: Any = 2,
    strides: Any = None,
    padding: str = "valid",
    *,
    rank: int = 2,
    name: str = "pool",
) -> list[LayerSpec]:
    """Validate pooling arguments and return zero or one spec.

    Args:
        pool: ``max``, ``avg``, ``global_max``, ``global_avg`` or ``none``/``None``.
        pool_size: window, int or per-axis tuple.
        strides: step; defaults to ``pool_size`` (non-overlapping windows).
        padding: ``valid`` or ``same``.
    """
    pool = check_choice("pool", "none" if pool is None else pool, POOLS)
    if pool == "none":
        return []
    if pool.startswith("global_"):
        return [LayerSpec("global_pool", name, {"pool": pool[len("global_") :]})]
    size = int_tuple("pool_size", pool_size, rank)
    step = size if strides is None else int_tuple("pool_strides", strides, rank)
    check_choice("pool_padding", padding, ("valid", "same"))
    return [LayerSpec("pool", name, {"pool": pool, "pool_size": size, "strides": step, "padding": padding})]
