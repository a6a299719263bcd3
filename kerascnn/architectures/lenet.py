"""LeNet-5 (LeCun et al., 1998) in its common modern form.

32×32×1 -> C1 conv 6 (5×5) -> S2 pool -> C3 conv 16 (5×5) -> S4 pool -> F5 120 ->
F6 84 -> 10 outputs: 61,706 parameters. C3 connects to all of S2's maps (the
paper's sparse connection table is dropped, as in every modern rendition).
"""

from __future__ import annotations

from kerascnn.architectures._common import check_input_shape, planned, sequential_plan
from kerascnn.architectures.registry import register_model
from kerascnn.layers.conv import conv_block_specs
from kerascnn.layers.heads import head_specs

#: The two convolution stages, as data.
LENET5_CONVS = ({"filters": 6, "kernel_size": 5}, {"filters": 16, "kernel_size": 5})
LENET5_DENSE = (120, 84)


@register_model(family="lenet", default_input_shape=(32, 32, 1))
@planned
def lenet5(
    input_shape=(32, 32, 1),
    num_classes: int = 10,
    input_tensor=None,
    *,
    activation="tanh",
    pool: str = "avg",
    bn_placement: str = "none",
    dropout: float = 0.0,
    padding="valid",
    include_top: bool = True,
    pooling=None,
    classifier_activation="softmax",
    name: str = "lenet5",
):
    """LeNet-5: two 5×5 conv + subsampling stages, then 120 -> 84 -> classes.

    Defaults follow the original (tanh, average subsampling); the notes'
    variant is ``lenet5(activation="relu", pool="max")``. ``padding="same"``
    lets it run on 28×28 MNIST digits without resizing, as LeCun padded them.
    """
    input_shape = check_input_shape(input_shape, ranks=(2,))
    specs = []
    for i, stage in enumerate(LENET5_CONVS, start=1):
        specs += conv_block_specs(
            **stage,
            padding=padding,
            activation=activation,
            bn_placement=bn_placement,
            pool=pool,
            pool_size=2,
            name=f"conv{i}",
        )
    dense = [
        {"units": u, "activation": activation, "bn_placement": bn_placement, "dropout": dropout} for u in LENET5_DENSE
    ]
    specs += head_specs(
        include_top=include_top,
        num_classes=num_classes,
        pooling=pooling,
        classifier_activation=classifier_activation,
        dense_layers=dense,
    )
    return sequential_plan(name, input_shape, specs)
