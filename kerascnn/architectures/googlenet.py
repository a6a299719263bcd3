"""GoogLeNet / Inception v1 (Szegedy et al., 2014).

An Inception module runs four branches on the same input and concatenates
them: a 1×1 conv; a 1×1 reduction then 3×3; a 1×1 reduction then 5×5; a 3×3
max pool then a 1×1 projection. The nine modules of the paper's Table 1 are
data (:data:`INCEPTION_V1`). Without the auxiliary classifiers the model has
6,998,552 parameters at 1000 classes (the paper's "about 7M").

Departures, documented: no local response normalisation (Keras has none, and
later work found it useless); the final 7×7 average pool is a global average
pool (identical at 224×224, and it lets any input size through); pools use
"same" padding, so nothing collapses on small inputs (the auxiliary
classifiers' 5×5/3 valid pool needs the 4a/4d maps to be at least 5×5, which
is checked). Small-input adaptation: ``stem_strides=1, stem_pool=False``.
"""

from __future__ import annotations

import keras
from keras import layers as L

from kerascnn.architectures._common import branching_plan, check_input_shape, planned, require_fit
from kerascnn.architectures.registry import register_model
from kerascnn.geometry import LayerSpec
from kerascnn.layers.build import apply_specs, model_input
from kerascnn.layers.conv import conv_block_specs
from kerascnn.layers.heads import check_head_args, head_specs
from kerascnn.layers.pooling import pool_specs
from kerascnn.validation import check_bool, check_int, check_rate

#: Inception modules (name, 1×1, 3×3 reduce, 3×3, 5×5 reduce, 5×5, pool projection); "pool" = 3×3/2 max pool.
INCEPTION_V1 = (
    ("3a", 64, 96, 128, 16, 32, 32),
    ("3b", 128, 128, 192, 32, 96, 64),
    "pool",
    ("4a", 192, 96, 208, 16, 48, 64),
    ("4b", 160, 112, 224, 24, 64, 64),
    ("4c", 128, 128, 256, 24, 64, 64),
    ("4d", 112, 144, 288, 32, 64, 64),
    ("4e", 256, 160, 320, 32, 128, 128),
    "pool",
    ("5a", 256, 160, 320, 32, 128, 128),
    ("5b", 384, 192, 384, 48, 128, 128),
)
#: The auxiliary classifiers sit on these modules' outputs.
AUX_AFTER = ("4a", "4d")


@register_model(family="inception", default_input_shape=(224, 224, 3))
@planned
def googlenet(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    input_tensor=None,
    *,
    aux_classifiers: bool = False,
    kernel_size: int = 5,
    stem_kernel_size: int = 7,
    stem_strides: int = 2,
    stem_pool: bool = True,
    activation="relu",
    bn_placement: str = "none",
    dropout: float = 0.4,
    include_top: bool = True,
    pooling=None,
    classifier_activation="softmax",
    name: str = "googlenet",
):
    """GoogLeNet: stem, nine Inception modules, global average pool, dropout, classifier.

    Args:
        aux_classifiers: add the two training-time auxiliary heads (after 4a
            and 4d); the model then has three outputs ``[main, aux1, aux2]``
            (the paper weights their losses by 0.3).
        kernel_size: the large branch's kernel (5 in the paper).
        bn_placement: ``none`` (the 2014 paper) or a batch-norm placement
            (Inception v2's change).
        dropout: before the classifier (0.4).
    """
    input_shape = check_input_shape(input_shape, ranks=(2,))
    check_bool("aux_classifiers", aux_classifiers)
    check_bool("stem_pool", stem_pool)
    kernel_size = check_int("kernel_size", kernel_size)
    dropout = check_rate("dropout", dropout)
    check_head_args(num_classes, include_top, pooling, classifier_activation)
    if aux_classifiers and not include_top:
        raise ValueError(
            "Invalid `aux_classifiers`: the auxiliary classifiers need include_top=True. "
            "Received: aux_classifiers=True, include_top=False"
        )
    conv = dict(activation=activation, bn_placement=bn_placement, padding="same")

    def max_pool(pname):
        return pool_specs("max", 3, 2, "same", name=pname)

    stem = conv_block_specs(64, stem_kernel_size, strides=stem_strides, name="conv1", **conv)
    stem += max_pool("pool1") if stem_pool else []
    stem += conv_block_specs(64, 1, name="conv2_reduce", **conv) + conv_block_specs(192, 3, name="conv2", **conv)
    stem += max_pool("pool2") if stem_pool else []

    stages, spine, pools = [], list(stem), 2
    for item in INCEPTION_V1:
        if item == "pool":
            pools += 1
            stages.append(("pool", max_pool(f"pool{pools}")))
            spine += stages[-1][1]
            continue
        key, c1, r3, c3, r5, c5, proj = item
        branches = [
            conv_block_specs(c1, 1, name=f"inception{key}_1x1", **conv),
            conv_block_specs(r3, 1, name=f"inception{key}_3x3_reduce", **conv)
            + conv_block_specs(c3, 3, name=f"inception{key}_3x3", **conv),
            conv_block_specs(r5, 1, name=f"inception{key}_5x5_reduce", **conv)
            + conv_block_specs(c5, kernel_size, name=f"inception{key}_5x5", **conv),
            pool_specs("max", 3, 1, "same", name=f"inception{key}_pool")
            + conv_block_specs(proj, 1, name=f"inception{key}_pool_proj", **conv),
        ]
        stages.append((key, branches))
    aux_pool = {key: pool_specs("avg", 5, 3, name=f"aux_{key}_pool") for key in AUX_AFTER}
    if aux_classifiers:  # the 5×5/3 valid pool is the only layer that can collapse
        upto = list(stem)
        for key, branches in stages:
            if key == "pool":
                upto += branches
            elif key in AUX_AFTER:
                require_fit(name, input_shape, upto + aux_pool[key])

    def aux_head(x, key):
        specs = (
            aux_pool[key]
            + conv_block_specs(128, 1, name=f"aux_{key}_conv", **conv)
            + head_specs(
                include_top=True,
                num_classes=num_classes,
                pooling=None,
                classifier_activation=classifier_activation,
                name_prefix=f"aux_{key}_fc",
                dense_layers=[{"units": 1024, "activation": activation, "dropout": 0.7}],
            )
        )
        # the head's fixed names ("flatten", "predictions") get the branch's prefix
        specs = [s if s.name.startswith("aux_") else LayerSpec(s.kind, f"aux_{key}_{s.name}", s.params) for s in specs]
        return apply_specs(x, specs)

    def assemble(input_tensor):
        inputs, image = model_input(input_shape, input_tensor)
        x, aux = apply_specs(image, stem), []
        for key, branches in stages:
            if key == "pool":
                x = apply_specs(x, branches)
                continue
            x = L.Concatenate(name=f"inception{key}_concat")([apply_specs(x, b) for b in branches])
            if aux_classifiers and key in AUX_AFTER:
                aux.append(aux_head(x, key))
        x = apply_specs(
            x,
            head_specs(
                include_top=include_top,
                num_classes=num_classes,
                pooling=pooling,
                classifier_activation=classifier_activation,
                flatten=False,
                dropout=dropout,
            ),
        )
        return keras.Model(inputs, [x] + aux if aux else x, name=name)

    return branching_plan(name, input_shape, spine, assemble)
