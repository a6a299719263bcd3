"""Inception-v3 (Szegedy et al., 2016, "Rethinking the Inception Architecture"), as keras.applications builds it.

GoogLeNet's modules with their large kernels factorised: a 5×5 becomes two
3×3 (modules A, ``mixed0``-``mixed2``), an n×n becomes a 1×n then an n×1
(modules B on the 17×17 grid, ``mixed4``-``mixed7``, n = 7), and on the
8×8 grid a 3×3 fans out into a 1×3 and a 3×1 side by side (modules C,
``mixed9``, ``mixed10``); grid reductions (``mixed3``, ``mixed8``) run a
strided conv beside a max pool. Every conv is followed by batch norm
without scale and ReLU (keras' ``conv2d_bn``). At 299×299×3 and 1000
classes it has keras.applications' 23,851,784 parameters, its
``mixed*`` names and its weights (copied in layer order: keras names the
convs automatically).

Knobs: ``factorize`` (``False`` puts the unfactorised n×n kernels back, and
one 3×3 of the same width in place of each 1×3 ∥ 3×1 pair: the ablation
of the paper's section 3), ``kernel_size`` (n of modules B, 7 in the
paper), ``activation``.
"""

from __future__ import annotations

import keras
from keras import layers as L

from kerascnn.architectures._common import branching_plan, check_input_shape, planned
from kerascnn.architectures.registry import register_model
from kerascnn.layers.blocks import classifier_top
from kerascnn.layers.build import apply_specs, model_input
from kerascnn.layers.conv import conv_block_specs
from kerascnn.layers.heads import check_head_args
from kerascnn.layers.pooling import pool_specs
from kerascnn.validation import check_bool, check_int

#: Modules A: (name, pool projection); modules B: (name, channels of the factorised 7×7 branches).
MODULES_A = (("mixed0", 32), ("mixed1", 64), ("mixed2", 64))
MODULES_B = (("mixed4", 128), ("mixed5", 160), ("mixed6", 160), ("mixed7", 192))


@register_model(family="inception", default_input_shape=(299, 299, 3), keras_twin="InceptionV3")
@planned
def inception_v3(
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
    name: str = "inception_v3",
):
    """Inception-v3: a conv stem, then modules A ×3, a reduction, B ×4, a reduction, C ×2.

    Args:
        factorize: the paper's factorised kernels (1×n then n×1; 1×3 ∥ 3×1);
            ``False`` uses the square kernels they replace.
        kernel_size: n of modules B's n×n (factorised: 1×n, n×1) convolutions.
        activation: after each batch norm (ReLU in the paper).
        dropout: before the classifier (keras.applications has none).
    """
    input_shape = check_input_shape(input_shape, ranks=(2,))
    check_bool("factorize", factorize)
    n = check_int("kernel_size", kernel_size)
    check_head_args(num_classes, include_top, pooling, classifier_activation)

    def cbn(filters, kernel, layer_name, strides=1, padding="same"):
        return conv_block_specs(
            filters,
            kernel,
            strides=strides,
            padding=padding,
            activation=activation,
            bn_placement="before_activation",
            use_bias=False,
            bn_params={"scale": False},
            name=layer_name,
        )

    def avg(layer_name):
        return pool_specs("avg", 3, 1, "same", name=layer_name)

    def factorised(filters_in, filters_out, layer_name, first="row"):
        """An n×n conv, or its 1×n, n×1 pair (``first="col"``: n×1 first)."""
        if not factorize:
            return cbn(filters_out, n, layer_name)
        shapes = ((1, n), (n, 1)) if first == "row" else ((n, 1), (1, n))
        return cbn(filters_in, shapes[0], f"{layer_name}a") + cbn(filters_out, shapes[1], f"{layer_name}b")

    def fan_out(filters, layer_name):
        """Module C's 1×3 ∥ 3×1 (concatenated); one 3×3 of their width unfactorised."""
        if not factorize:
            return [cbn(2 * filters, 3, layer_name)]
        return [
            ("split", layer_name, cbn(filters, (1, 3), f"{layer_name}_1x3"), cbn(filters, (3, 1), f"{layer_name}_3x1"))
        ]

    stem = (
        cbn(32, 3, "conv1", strides=2, padding="valid")
        + cbn(32, 3, "conv2", padding="valid")
        + cbn(64, 3, "conv3")
        + pool_specs("max", 3, 2, name="pool1")
        + cbn(80, 1, "conv4", padding="valid")
        + cbn(192, 3, "conv5", padding="valid")
        + pool_specs("max", 3, 2, name="pool2")
    )
    # a module: (concat name, branches); a branch: a list of spec lists and ("split", name, specs, specs)
    modules = []
    for mname, projection in MODULES_A:
        modules.append(
            (
                mname,
                [
                    [cbn(64, 1, f"{mname}_1x1")],
                    [cbn(48, 1, f"{mname}_5x5_reduce") + cbn(64, 5, f"{mname}_5x5")],
                    [
                        cbn(64, 1, f"{mname}_3x3dbl_reduce")
                        + cbn(96, 3, f"{mname}_3x3dbl_1")
                        + cbn(96, 3, f"{mname}_3x3dbl_2")
                    ],
                    [avg(f"{mname}_pool") + cbn(projection, 1, f"{mname}_pool_proj")],
                ],
            )
        )
    modules.append(
        (
            "mixed3",
            [
                [cbn(384, 3, "mixed3_3x3", strides=2, padding="valid")],
                [
                    cbn(64, 1, "mixed3_3x3dbl_reduce")
                    + cbn(96, 3, "mixed3_3x3dbl_1")
                    + cbn(96, 3, "mixed3_3x3dbl_2", strides=2, padding="valid")
                ],
                [pool_specs("max", 3, 2, name="mixed3_pool")],
            ],
        )
    )
    for mname, c in MODULES_B:
        modules.append(
            (
                mname,
                [
                    [cbn(192, 1, f"{mname}_1x1")],
                    [cbn(c, 1, f"{mname}_7x7_reduce") + factorised(c, 192, f"{mname}_7x7")],
                    [
                        cbn(c, 1, f"{mname}_7x7dbl_reduce")
                        + factorised(c, c, f"{mname}_7x7dbl_1", first="col")
                        + factorised(c, 192, f"{mname}_7x7dbl_2", first="col")
                    ],
                    [avg(f"{mname}_pool") + cbn(192, 1, f"{mname}_pool_proj")],
                ],
            )
        )
    modules.append(
        (
            "mixed8",
            [
                [cbn(192, 1, "mixed8_3x3_reduce") + cbn(320, 3, "mixed8_3x3", strides=2, padding="valid")],
                [
                    cbn(192, 1, "mixed8_7x7x3_reduce")
                    + factorised(192, 192, "mixed8_7x7x3")
                    + cbn(192, 3, "mixed8_7x7x3_3x3", strides=2, padding="valid")
                ],
                [pool_specs("max", 3, 2, name="mixed8_pool")],
            ],
        )
    )
    for i in range(2):
        mname = f"mixed{9 + i}"
        modules.append(
            (
                mname,
                [
                    [cbn(320, 1, f"{mname}_1x1")],
                    [cbn(384, 1, f"{mname}_3x3_reduce")] + fan_out(384, f"mixed9_{i}"),
                    [cbn(448, 1, f"{mname}_3x3dbl_reduce") + cbn(384, 3, f"{mname}_3x3dbl")]
                    + fan_out(384, f"{mname}_3x3dbl_fan"),
                    [avg(f"{mname}_pool") + cbn(192, 1, f"{mname}_pool_proj")],
                ],
            )
        )

    def run_branch(x, branch):
        for item in branch:
            if isinstance(item, tuple):  # a fan-out: both convs on x, concatenated
                _, cname, left, right = item
                x = L.Concatenate(name=cname)([apply_specs(x, left), apply_specs(x, right)])
            else:
                x = apply_specs(x, item)
        return x

    def assemble(input_tensor):
        inputs, image = model_input(input_shape, input_tensor)
        x = apply_specs(image, stem)
        for mname, branches in modules:
            x = L.Concatenate(name=mname)([run_branch(x, branch) for branch in branches])
        x = classifier_top(
            x,
            include_top=include_top,
            num_classes=num_classes,
            pooling=pooling,
            classifier_activation=classifier_activation,
            dropout=dropout,
        )
        return keras.Model(inputs, x, name=name)

    def main_path(branches):  # the branch that sets the grid: a reduction's strided conv, else the 1×1
        return [s for item in branches[0] for s in (item[2] if isinstance(item, tuple) else item)]

    return branching_plan(name, input_shape, stem + [s for _, b in modules for s in main_path(b)], assemble)
