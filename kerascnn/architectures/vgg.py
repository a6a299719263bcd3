"""VGG-11/13/16/19 (Simonyan & Zisserman, 2014), each with a batch-norm variant.

Five stages of 3×3 convolutions (64, 128, 256, 512, 512 filters), each ended
by a 2×2 max pool, then FC 4096 -> FC 4096 -> classes. At 224×224×3 and 1000
classes ``vgg16``/``vgg19`` have exactly keras.applications' parameter counts
(138,357,544 and 143,667,240), with the weighted layers in the same order.
Every variant also builds on signals ``(L, C)`` and volumes ``(D, H, W, C)``
(the input's rank picks Conv1D/2D/3D and the matching pools).
"""

from __future__ import annotations

from typing import Sequence

from kerascnn.architectures._common import check_input_shape, keras_names, planned, sequential_plan
from kerascnn.architectures.registry import register_model, variant
from kerascnn.layers.conv import conv_block_specs
from kerascnn.layers.heads import head_specs
from kerascnn.layers.pooling import pool_specs
from kerascnn.validation import check_int

VGG_WIDTHS = (64, 128, 256, 512, 512)
#: Convolutions per stage: the paper's configurations A, B, D and E.
VGG_DEPTHS = {"vgg11": (1, 1, 2, 2, 2), "vgg13": (2, 2, 2, 2, 2), "vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}


@planned
def vgg(
    depths: Sequence[int],
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    input_tensor=None,
    *,
    bn_placement: str = "none",
    activation="relu",
    kernel_size=3,
    widths: Sequence[int] = VGG_WIDTHS,
    dense_units: int = 4096,
    dropout: float = 0.5,
    include_top: bool = True,
    pooling=None,
    classifier_activation="softmax",
    name: str = "vgg",
):
    """Family builder: ``depths[i]`` conv layers in stage ``i``.

    Args:
        bn_placement: where each conv layer's batch norm goes (the ``_bn``
            variants: ``"before_activation"``, as torchvision's).
        widths: filters per stage; ``dense_units``: width of the two FC layers.
        dropout: after each FC layer, as in the paper's training setup (0.5). VGG-16 and
            VGG-19, keras.applications' twins, default to none, as keras.applications has
            none: pass ``dropout=0.5`` for the paper's.
    """
    input_shape = check_input_shape(input_shape)
    rank = len(input_shape) - 1
    if len(depths) != len(widths):
        raise ValueError(f"Invalid `widths`: one per stage ({len(depths)}). Received: widths={tuple(widths)}")
    specs = []
    for stage, (depth, width) in enumerate(zip(depths, widths), start=1):
        for i in range(1, check_int(f"depths[{stage - 1}]", depth) + 1):
            specs += conv_block_specs(
                width,
                kernel_size,
                padding="same",
                activation=activation,
                bn_placement=bn_placement,
                rank=rank,
                name=f"block{stage}_conv{i}",
            )
        specs += pool_specs("max", 2, 2, rank=rank, name=f"block{stage}_pool")
    dense = [{"units": dense_units, "activation": activation, "dropout": dropout}] * 2
    specs += head_specs(
        include_top=include_top,
        num_classes=num_classes,
        pooling=pooling,
        classifier_activation=classifier_activation,
        dense_layers=dense,
    )
    # keras.applications' names (block5_conv3: the conv, its ReLU fused), which Grad-CAM scripts look up
    return sequential_plan(name, input_shape, keras_names(specs, (r"(block\d+_conv\d+)_conv", r"\1")))


def _register(key: str, bn: bool, description: str, keras_twin: str | None = None):
    name = key + ("_bn" if bn else "")
    fixed = {"depths": VGG_DEPTHS[key], **({"bn_placement": "before_activation"} if bn else {})}
    if keras_twin:  # exactly keras.applications' network: no dropout in the classifier
        fixed["dropout"] = 0.0
    return register_model(
        variant(vgg, name, description, **fixed),
        family="vgg",
        default_input_shape=(224, 224, 3),
        base=vgg,
        keras_twin=keras_twin,
        ranks=(1, 2, 3),
    )


vgg11 = _register("vgg11", False, "VGG-11 (configuration A).")
vgg13 = _register("vgg13", False, "VGG-13 (configuration B).")
vgg16 = _register("vgg16", False, "VGG-16 (configuration D).", keras_twin="VGG16")
vgg19 = _register("vgg19", False, "VGG-19 (configuration E).", keras_twin="VGG19")
vgg11_bn = _register("vgg11", True, "VGG-11 with batch normalisation before each activation.")
vgg13_bn = _register("vgg13", True, "VGG-13 with batch normalisation before each activation.")
vgg16_bn = _register("vgg16", True, "VGG-16 with batch normalisation before each activation.")
vgg19_bn = _register("vgg19", True, "VGG-19 with batch normalisation before each activation.")
