"""Inception-ResNet-v2 (Szegedy et al., 2017), as keras.applications builds it.

Inception modules as the residual branch of a ResNet block: each block
runs a few conv branches side by side, concatenates them (``..._mixed``),
projects back to the input's width with a 1×1 conv with bias
(``..._conv``) and adds the result, scaled down (0.17, 0.1, 0.2) so that
the sum stays stable in a 164-layer network. Ten 35×35 blocks
(``block35_*``), a reduction (``mixed_6a``), twenty 17×17 blocks with
1×7, 7×1 factorised kernels (``block17_*``), a reduction (``mixed_7a``),
ten 8×8 blocks with 1×3, 3×1 (``block8_*``; the last unscaled and without ReLU) and
``conv_7b``. At 299×299×3 and 1000 classes it has keras.applications'
55,873,736 parameters, layer names and weights (copied in layer order:
keras names the branch convs automatically).

Knobs: ``factorize`` (``False`` puts the square n×n and 3×3 kernels back
in place of the 1×n, n×1 and 1×3, 3×1 pairs), ``kernel_size`` (n of the
17×17 blocks, 7 in the paper), ``activation``.
"""

from __future__ import annotations

import keras
from keras import layers as L

from kerascnn.architectures._common import branching_plan, check_input_shape, keras_names, planned
from kerascnn.architectures.registry import register_model
from kerascnn.geometry import LayerSpec
from kerascnn.layers.activations import resolve_activation
from kerascnn.layers.blocks import classifier_top
from kerascnn.layers.build import apply_specs, model_input
from kerascnn.layers.conv import conv_block_specs
from kerascnn.layers.heads import check_head_args
from kerascnn.layers.pooling import pool_specs
from kerascnn.validation import check_bool, check_int

#: Block types: (count, residual scale, width of the input they add to).
BLOCKS = {"block35": (10, 0.17, 320), "block17": (20, 0.1, 1088), "block8": (10, 0.2, 2080)}


@register_model(family="inception", default_input_shape=(299, 299, 3), keras_twin="InceptionResNetV2")
@planned
def inception_resnet_v2(
    input_shape=(299, 299, 3),
    num_classes: int = 1000,
    input_tensor=None,
    *,
    factorize: bool = True,
    kernel_size: int = 7,
    activation="relu",
    dropout: float = 0.0,
    include_top: bool = True,
    pooling=None,
    classifier_activation="softmax",
    name: str = "inception_resnet_v2",
):
    """Inception-ResNet-v2: stem, ``mixed_5b``, 10 × block35, ``mixed_6a``, 20 × block17, ``mixed_7a``, 10 × block8.

    Args:
        factorize: the paper's 1×n, n×1 (and 1×3, 3×1) pairs; ``False`` uses
            the square kernels they replace.
        kernel_size: n of the 17×17 blocks' factorised n×n.
        activation: after each batch norm and block (ReLU in the paper).
        dropout: before the classifier (keras.applications has none).
    """
    input_shape = check_input_shape(input_shape, ranks=(2,))
    check_bool("factorize", factorize)
    n = check_int("kernel_size", kernel_size)
    act_name, options = resolve_activation(activation)
    check_head_args(num_classes, include_top, pooling, classifier_activation)
    counter = iter(range(10**6))

    def cbn(filters, kernel, strides=1, padding="same", layer_name=None):
        """keras' ``conv2d_bn``: conv without bias, batch norm without scale, the activation."""
        specs = conv_block_specs(
            filters,
            kernel,
            strides=strides,
            padding=padding,
            activation=activation,
            bn_placement="before_activation",
            use_bias=False,
            bn_params={"scale": False},
            name=layer_name or f"conv2d_bn_{next(counter)}",
        )
        return keras_names(specs, ("(conv_7b)_conv", r"\1"), (f"(conv_7b)_{act_name}", r"\1_ac"))

    def pair(first, second, kernel):
        """A factorised k×k: 1×k then k×1 (or one k×k of the second's width)."""
        if not factorize:
            return cbn(second, kernel)
        return cbn(first, (1, kernel)) + cbn(second, (kernel, 1))

    def branches(block_type):
        if block_type == "block35":
            return [cbn(32, 1), cbn(32, 1) + cbn(32, 3), cbn(32, 1) + cbn(48, 3) + cbn(64, 3)]
        if block_type == "block17":
            return [cbn(192, 1), cbn(128, 1) + pair(160, 192, n)]
        return [cbn(192, 1), cbn(192, 1) + pair(224, 256, 3)]

    stem = (
        cbn(32, 3, strides=2, padding="valid")
        + cbn(32, 3, padding="valid")
        + cbn(64, 3)
        + pool_specs("max", 3, 2, name="stem_pool1")
        + cbn(80, 1, padding="valid")
        + cbn(192, 3, padding="valid")
        + pool_specs("max", 3, 2, name="stem_pool2")
    )
    # a stage: ("concat", name, branches) or ("residual", name, branches, scale, width, activation?)
    stages = [
        (
            "concat",
            "mixed_5b",
            [
                cbn(96, 1),
                cbn(48, 1) + cbn(64, 5),
                cbn(64, 1) + cbn(96, 3) + cbn(96, 3),
                pool_specs("avg", 3, 1, "same", name="mixed_5b_pool") + cbn(64, 1),
            ],
        )
    ]

    def residual_blocks(block_type, last_linear=False):
        count, scale, width = BLOCKS[block_type]
        for i in range(1, count + 1):
            linear = last_linear and i == count  # keras' block8_10: unscaled, no activation
            stages.append(
                ("residual", f"{block_type}_{i}", branches(block_type), 1.0 if linear else scale, width, not linear)
            )

    residual_blocks("block35")
    stages.append(
        (
            "concat",
            "mixed_6a",
            [
                cbn(384, 3, strides=2, padding="valid"),
                cbn(256, 1) + cbn(256, 3) + cbn(384, 3, strides=2, padding="valid"),
                pool_specs("max", 3, 2, "valid", name="mixed_6a_pool"),
            ],
        )
    )
    residual_blocks("block17")
    stages.append(
        (
            "concat",
            "mixed_7a",
            [
                cbn(256, 1) + cbn(384, 3, strides=2, padding="valid"),
                cbn(256, 1) + cbn(288, 3, strides=2, padding="valid"),
                cbn(256, 1) + cbn(288, 3) + cbn(320, 3, strides=2, padding="valid"),
                pool_specs("max", 3, 2, "valid", name="mixed_7a_pool"),
            ],
        )
    )
    residual_blocks("block8", last_linear=True)
    tail = cbn(1536, 1, layer_name="conv_7b")

    def assemble(input_tensor):
        inputs, image = model_input(input_shape, input_tensor)
        x = apply_specs(image, stem)
        for kind, sname, parts, *residual in stages:
            if kind == "concat":
                x = L.Concatenate(name=sname)([apply_specs(x, part) for part in parts])
                continue
            scale, width, with_activation = residual
            mixed = L.Concatenate(name=f"{sname}_mixed")([apply_specs(x, part) for part in parts])
            up = apply_specs(
                mixed, conv_block_specs(width, 1, activation="linear", use_bias=True, name=sname)
            )  # {sname}_conv
            x = L.Add(name=f"{sname}_add")([x, L.Rescaling(scale, name=f"{sname}_scale")(up)])
            if with_activation:
                x = apply_specs(
                    x, [LayerSpec("activation", f"{sname}_ac", {"activation": act_name, "options": options})]
                )
        x = classifier_top(
            apply_specs(x, tail),
            include_top=include_top,
            num_classes=num_classes,
            pooling=pooling,
            classifier_activation=classifier_activation,
            dropout=dropout,
        )
        return keras.Model(inputs, x, name=name)

    # the path that sets the grid: each concat's first branch (a reduction's strided conv)
    spine = stem + [s for stage in stages if stage[0] == "concat" for s in stage[2][0]] + tail
    return branching_plan(name, input_shape, spine, assemble)
