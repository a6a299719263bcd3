"""AlexNet (Krizhevsky et al., 2012), single-stream.

227×227×3 -> conv 96 (11×11 /4) -> pool -> conv 256 (5×5) -> pool -> conv 384 ->
conv 384 -> conv 256 -> pool -> FC 4096 -> FC 4096 -> 1000: 62,378,344
parameters. The paper split layers over two GPUs; the single-stream form
merges them. Local response normalisation is replaced by the optional
batch-norm variant (``bn_placement="before_activation"``), as modern
re-implementations do.
"""

from __future__ import annotations

from kerascnn.architectures._common import check_input_shape, planned, sequential_plan
from kerascnn.architectures.registry import register_model
from kerascnn.layers.conv import conv_block_specs
from kerascnn.layers.heads import head_specs

_POOL = {"pool": "max", "pool_size": 3, "pool_strides": 2}  # overlapping pooling
ALEXNET_CONVS = (
    {"filters": 96, "kernel_size": 11, "strides": 4, "padding": "valid", **_POOL},
    {"filters": 256, "kernel_size": 5, "padding": "same", **_POOL},
    {"filters": 384, "kernel_size": 3, "padding": "same"},
    {"filters": 384, "kernel_size": 3, "padding": "same"},
    {"filters": 256, "kernel_size": 3, "padding": "same", **_POOL},
)
ALEXNET_DENSE = (4096, 4096)


@register_model(family="alexnet", default_input_shape=(227, 227, 3))
@planned
def alexnet(
    input_shape=(227, 227, 3),
    num_classes: int = 1000,
    input_tensor=None,
    *,
    activation="relu",
    bn_placement: str = "none",
    dropout: float = 0.5,
    include_top: bool = True,
    pooling=None,
    classifier_activation="softmax",
    name: str = "alexnet",
):
    """Single-stream AlexNet; ``dropout`` follows each hidden FC layer (0.5 in the paper)."""
    input_shape = check_input_shape(input_shape, ranks=(2,))
    specs = []
    for i, stage in enumerate(ALEXNET_CONVS, start=1):
        specs += conv_block_specs(**stage, activation=activation, bn_placement=bn_placement, name=f"conv{i}")
    dense = [{"units": u, "activation": activation, "dropout": dropout} for u in ALEXNET_DENSE]
    specs += head_specs(
        include_top=include_top,
        num_classes=num_classes,
        pooling=pooling,
        classifier_activation=classifier_activation,
        dense_layers=dense,
    )
    return sequential_plan(name, input_shape, specs)
