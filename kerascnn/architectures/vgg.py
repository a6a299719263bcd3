"""VGG-11/13/16/19 (Simonyan & Zisserman, 2014), each with a batch-norm variant.

Five stages of 3×3 convolutions (64, 128, 256, 512, 512 filters), each ended
by a 2×2 max pool, then FC 4096 -> FC 4096 -> classes. At 224×224×3 and 1000
classes ``vgg16``/``vgg19`` have exactly keras.applications' parameter counts
(138,357,544 and 143,667,240), with the weighted layers in the same order.
"""

from __future__ import annotations

from typing import Sequence

from kerascnn.architectures._common import check_input_shape, sequential_model
from kerascnn.architectures.registry import register_model
from kerascnn.layers.conv import conv_block_specs
from kerascnn.layers.heads import head_specs
from kerascnn.layers.pooling import pool_specs
from kerascnn.validation import check_int

VGG_WIDTHS = (64, 128, 256, 512, 512)
#: Convolutions per stage: the paper's configurations A, B, D and E.
VGG_DEPTHS = {"vgg11": (1, 1, 2, 2, 2), "vgg13": (2, 2, 2, 2, 2), "vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}


def vgg(
    depths: Sequence[int],
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    input_tensor=None,
    *,
    batch_norm: bool = False,
    bn_placement: str | None = None,
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
        batch_norm: the ``_bn`` variant (``BN`` before each activation).
        bn_placement: overrides ``batch_norm`` with any placement.
        widths: filters per stage; ``dense_units``: width of the two FC layers.
        dropout: after each FC layer, as in the paper's training setup.
    """
    input_shape = check_input_shape(input_shape, ranks=(2,))
    if bn_placement is None:
        bn_placement = "before_activation" if batch_norm else "none"
    if len(depths) != len(widths):
        raise ValueError(f"Invalid `widths`: one per stage ({len(depths)}). Received: widths={tuple(widths)}")
    specs = []
    for stage, (depth, width) in enumerate(zip(depths, widths), start=1):
        for i in range(1, check_int(f"depths[{stage - 1}]", depth) + 1):
            specs += conv_block_specs(width, kernel_size, padding="same", activation=activation,
                                      bn_placement=bn_placement, name=f"block{stage}_conv{i}")
        specs += pool_specs("max", 2, 2, rank=2, name=f"block{stage}_pool")
    dense = [{"units": dense_units, "activation": activation, "dropout": dropout}] * 2
    specs += head_specs(include_top=include_top, num_classes=num_classes, pooling=pooling,
                        classifier_activation=classifier_activation, dense_layers=dense)
    return sequential_model(name, input_shape, specs, input_tensor=input_tensor)


def _build(key: str, batch_norm: bool, kwargs: dict):
    name = key + ("_bn" if batch_norm else "")
    return vgg(VGG_DEPTHS[key], **{"batch_norm": batch_norm, "name": name, **kwargs})


_register = register_model(family="vgg", default_input_shape=(224, 224, 3), base=vgg)


@_register
def vgg11(**kwargs):
    """VGG-11 (configuration A)."""
    return _build("vgg11", False, kwargs)


@_register
def vgg13(**kwargs):
    """VGG-13 (configuration B)."""
    return _build("vgg13", False, kwargs)


@register_model(family="vgg", default_input_shape=(224, 224, 3), base=vgg, keras_twin="VGG16")
def vgg16(**kwargs):
    """VGG-16 (configuration D)."""
    return _build("vgg16", False, kwargs)


@register_model(family="vgg", default_input_shape=(224, 224, 3), base=vgg, keras_twin="VGG19")
def vgg19(**kwargs):
    """VGG-19 (configuration E)."""
    return _build("vgg19", False, kwargs)


@_register
def vgg11_bn(**kwargs):
    """VGG-11 with batch normalisation before each activation."""
    return _build("vgg11", True, kwargs)


@_register
def vgg13_bn(**kwargs):
    """VGG-13 with batch normalisation before each activation."""
    return _build("vgg13", True, kwargs)


@_register
def vgg16_bn(**kwargs):
    """VGG-16 with batch normalisation before each activation."""
    return _build("vgg16", True, kwargs)


@_register
def vgg19_bn(**kwargs):
    """VGG-19 with batch normalisation before each activation."""
    return _build("vgg19", True, kwargs)
