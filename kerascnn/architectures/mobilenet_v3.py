"""MobileNetV3 Small and Large (Howard et al., 2019), as keras.applications builds them.

MobileNetV2's inverted residuals (1×1 expansion, depthwise k×k, linear 1×1
projection) with two additions found by architecture search: a
squeeze-and-excitation gate (hard sigmoid) in some blocks, and hard-swish
(``x·ReLU6(x+3)/6``, cheap on phones) instead of ReLU in the later ones. The
head pools first, then a 1×1 conv widens the vector (``conv_2``) before the
``logits`` conv. At 224×224×3 and 1000 classes: Small has 2,554,968
parameters, Large 5,507,432, with keras.applications' layer names and
weights. The input is rescaled to [-1, 1] inside the model
(``include_preprocessing``), as in keras: feed raw 0-255 pixels.

Knobs: ``se_ratio`` (0.25; 0 switches squeeze-and-excitation off),
``activation`` (``hard_swish``; ``relu`` is keras' "minimalistic" choice),
``alpha`` (width multiplier), ``kernel_size`` (the 5×5 depthwise kernels).
``minimalistic=True`` is keras': 3×3 kernels, ReLU, no SE. Also builds on
signals ``(L, C)`` with DepthwiseConv1D; Keras has no 3D depthwise layer.
"""

from __future__ import annotations

import keras
from keras import layers as L

from kerascnn.architectures._common import branching_plan, check_input_shape, keras_names, keras_pad, planned
from kerascnn.architectures.registry import register_model, variant
from kerascnn.layers.blocks import make_divisible, squeeze_excite
from kerascnn.layers.build import apply_specs, model_input
from kerascnn.layers.conv import conv_block_specs
from kerascnn.layers.heads import check_head_args, head_specs
from kerascnn.validation import check_bool, check_fraction, check_int, check_positive, check_rate

#: Blocks: (expansion, output channels, kernel, stride, squeeze-excite, activation). Kernel ``"k"`` is the
#: ``kernel_size`` knob (5); activation ``"act"`` is the ``activation`` knob (hard-swish), else ReLU.
SMALL = (
    (1, 16, 3, 2, True, "relu"),
    (72 / 16, 24, 3, 2, False, "relu"),
    (88 / 24, 24, 3, 1, False, "relu"),
    (4, 40, "k", 2, True, "act"),
    (6, 40, "k", 1, True, "act"),
    (6, 40, "k", 1, True, "act"),
    (3, 48, "k", 1, True, "act"),
    (3, 48, "k", 1, True, "act"),
    (6, 96, "k", 2, True, "act"),
    (6, 96, "k", 1, True, "act"),
    (6, 96, "k", 1, True, "act"),
)
LARGE = (
    (1, 16, 3, 1, False, "relu"),
    (4, 24, 3, 2, False, "relu"),
    (3, 24, 3, 1, False, "relu"),
    (3, 40, "k", 2, True, "relu"),
    (3, 40, "k", 1, True, "relu"),
    (3, 40, "k", 1, True, "relu"),
    (6, 80, 3, 2, False, "act"),
    (2.5, 80, 3, 1, False, "act"),
    (2.3, 80, 3, 1, False, "act"),
    (2.3, 80, 3, 1, False, "act"),
    (6, 112, 3, 1, True, "act"),
    (6, 112, 3, 1, True, "act"),
    (6, 160, "k", 2, True, "act"),
    (6, 160, "k", 1, True, "act"),
    (6, 160, "k", 1, True, "act"),
)
#: variant: (blocks, channels of the widened pooled vector ``conv_2``).
VARIANTS = {"small": (SMALL, 1024), "large": (LARGE, 1280)}
BN = {"epsilon": 1e-3, "momentum": 0.999}
#: The kit's block names -> keras.applications' (``expanded_conv_3_depthwise``, ``conv_1_bn``...).
KERAS_NAMES = (("(.*)_conv", r"\1"),)


@planned
def mobilenet_v3(
    size: str = "large",
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    input_tensor=None,
    *,
    alpha: float = 1.0,
    minimalistic: bool = False,
    se_ratio: float = 0.25,
    activation="hard_swish",
    kernel_size: int = 5,
    dropout: float = 0.2,
    dropout_rate: float | None = None,
    include_preprocessing: bool = True,
    include_top: bool = True,
    pooling=None,
    classifier_activation="softmax",
    name: str | None = None,
):
    """Family builder: the Small or Large block table (:data:`VARIANTS`).

    Args:
        alpha: width multiplier (channels rounded to multiples of 8).
        minimalistic: keras' variant without SE, hard-swish or 5×5 kernels
            (sets ``se_ratio=0``, ``activation="relu"``, ``kernel_size=3``).
        se_ratio: squeeze channels per expanded channel (0: no SE).
        activation: of the later blocks and the head (hard-swish in the paper).
        kernel_size: the depthwise kernels the paper makes 5×5.
        dropout: before the logits (keras' 0.2); ``dropout_rate`` is keras'
            name for it, accepted so keras.applications calls work unchanged.
        include_preprocessing: ``Rescaling(1/127.5, offset=-1)`` inside the model.
    """
    if size not in VARIANTS:
        raise ValueError(f"Invalid `size`: expected one of {sorted(VARIANTS)}. Received: size={size!r}")
    input_shape = check_input_shape(input_shape, ranks=(1, 2))
    rank = len(input_shape) - 1
    alpha = check_positive("alpha", alpha, "a positive width multiplier (0.75 and 1.0 are published)")
    if check_bool("minimalistic", minimalistic):
        se_ratio, activation, kernel_size = 0.0, "relu", 3
    se_ratio = check_fraction("se_ratio", se_ratio)
    k = check_int("kernel_size", kernel_size)
    if dropout_rate is not None:
        dropout = check_rate("dropout_rate", dropout_rate)
    dropout = check_rate("dropout", dropout)
    check_bool("include_preprocessing", include_preprocessing)
    check_head_args(num_classes, include_top, pooling, classifier_activation)
    table, last_point = VARIANTS[size]
    if name is None:
        name = f"MobileNetV3{size.title()}"

    def conv_bn(filters, kernel, layer_name, act, **kwargs):
        specs = conv_block_specs(
            filters,
            kernel,
            activation=act,
            bn_placement="before_activation",
            use_bias=False,
            bn_params=BN,
            rank=rank,
            name=layer_name,
            **kwargs,
        )
        return keras_names(specs, *KERAS_NAMES)

    stem = conv_bn(16, 3, "conv", activation, strides=2)
    blocks, spine, channels = [], list(stem), 16
    for i, (expansion, out, kernel, stride, se, block_act) in enumerate(table):
        prefix = f"expanded_conv_{i}_" if i else "expanded_conv_"
        kernel = k if kernel == "k" else kernel
        act = activation if block_act == "act" else "relu"
        out = make_divisible(out * alpha)
        expanded = make_divisible(channels * expansion)
        expand = conv_bn(expanded, 1, f"{prefix}expand", act) if i else []
        pad = keras_pad(input_shape, spine + expand, kernel) if stride == 2 else "same"  # keras' depthwise_pad
        depthwise = conv_bn(None, kernel, f"{prefix}depthwise", act, strides=stride, padding=pad, conv_type="depthwise")
        project = conv_bn(out, 1, f"{prefix}project", "linear")
        squeeze = make_divisible(expanded * se_ratio) if se and se_ratio > 0 else 0
        blocks.append((prefix, expand + depthwise, squeeze, project, stride == 1 and channels == out))
        spine += expand + depthwise + project
        channels = out
    last_conv = conv_bn(make_divisible(channels * 6), 1, "conv_1", activation)
    if alpha > 1.0:
        last_point = make_divisible(last_point * alpha)
    spine += last_conv

    def assemble(input_tensor):
        inputs, image = model_input(input_shape, input_tensor)
        x = L.Rescaling(1.0 / 127.5, offset=-1.0)(image) if include_preprocessing else image  # unnamed, as keras
        x = apply_specs(x, stem)
        for prefix, main, squeeze, project, skip in blocks:
            y = apply_specs(x, main)
            if squeeze:
                y = squeeze_excite(
                    y,
                    squeeze,
                    activation="relu",
                    gate="hard_sigmoid",
                    name=f"{prefix}squeeze_excite",
                    style="mobilenet_v3",
                )
            y = apply_specs(y, project)
            x = L.Add(name=f"{prefix}add")([x, y]) if skip else y
        x = apply_specs(x, last_conv)
        x = _top(x, rank, include_top, num_classes, pooling, classifier_activation, last_point, activation, dropout)
        return keras.Model(inputs, x, name=name)

    return branching_plan(name, input_shape, spine, assemble)


def _top(x, rank, include_top, num_classes, pooling, classifier_activation, last_point, activation, dropout):
    """keras' MobileNetV3 head: pool (keeping the axes), 1×1 ``conv_2``, dropout, 1×1 ``logits``, flatten."""
    if not include_top:  # the shared headless ending: the feature map, or `pooling` to a vector
        return apply_specs(x, head_specs(include_top=False, num_classes=num_classes, pooling=pooling,
                                         classifier_activation=None))  # fmt: skip
    x = getattr(L, f"GlobalAveragePooling{rank}D")(keepdims=True, name="head_pool")(x)
    head = conv_block_specs(last_point, 1, activation=activation, bn_placement="none", rank=rank, name="conv_2")
    x = apply_specs(x, keras_names(head, ("conv_2_conv", "conv_2")))
    if dropout > 0:
        x = L.Dropout(dropout, name="head_dropout")(x)
    logits = conv_block_specs(num_classes, 1, activation="linear", rank=rank, name="logits")
    x = apply_specs(x, keras_names(logits, ("logits_conv", "logits")))
    x = L.Flatten(name="head_flatten")(x)
    act = "linear" if classifier_activation is None else classifier_activation
    return L.Activation(act, dtype="float32", name="predictions")(x)


def _register(size: str):
    return register_model(
        variant(
            mobilenet_v3,
            f"mobilenet_v3_{size}",
            model_name=f"MobileNetV3{size.title()}",
            description=f"MobileNetV3-{size.title()}: inverted residuals with squeeze-excitation and hard-swish.",
            size=size,
        ),
        family="mobilenet",
        default_input_shape=(224, 224, 3),
        base=mobilenet_v3,
        keras_twin=f"MobileNetV3{size.title()}",
        ranks=(1, 2),
    )


mobilenet_v3_small = _register("small")
mobilenet_v3_large = _register("large")
