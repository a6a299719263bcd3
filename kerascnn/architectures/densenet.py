"""DenseNet-121/169/201 (Huang et al., 2017), as keras.applications builds them.

Every layer of a dense block sees the concatenation of all earlier outputs:
``BN -> ReLU -> 1×1 conv (4k) -> BN -> ReLU -> 3×3 conv (k)`` then
concatenate; transitions halve channels (``reduction``) and size (2×2 average
pool). Layer names, ``epsilon=1.001e-5`` and parameter counts equal
keras.applications', so its weights load.

Small inputs: each transition's 2×2 valid pool needs at least 2×2, so the
ImageNet stem needs 29×29 or more (checked before building, with the minimum
in the message); ``stem_strides=1, stem_pool=False`` (the CIFAR stem) takes
inputs from 8×8.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers as L

from kerascnn.architectures._common import branching_plan, check_input_shape, keras_names, planned
from kerascnn.architectures.registry import register_model, variant
from kerascnn.geometry import LayerSpec
from kerascnn.layers.blocks import classifier_top
from kerascnn.layers.build import apply_specs, model_input
from kerascnn.layers.conv import conv_block_specs, norm_act_specs
from kerascnn.layers.heads import check_head_args
from kerascnn.layers.pooling import pool_specs
from kerascnn.validation import check_bool, check_int, invalid

DENSENET_BLOCKS = {121: (6, 12, 24, 16), 169: (6, 12, 32, 32), 201: (6, 12, 48, 32)}
BN = {"epsilon": 1.001e-5}


@planned
def densenet(
    blocks: Sequence[int],
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    input_tensor=None,
    *,
    growth_rate: int = 32,
    bottleneck_width: int = 4,
    reduction: float = 0.5,
    stem_filters: int = 64,
    stem_kernel_size: int = 7,
    stem_strides: int = 2,
    stem_pool: bool = True,
    kernel_size: int = 3,
    activation="relu",
    dropout: float = 0.0,
    include_top: bool = True,
    pooling=None,
    classifier_activation="softmax",
    name: str = "densenet",
):
    """Family builder: ``blocks[i]`` conv layers in dense block ``i``.

    Args:
        growth_rate: channels each layer adds (k).
        bottleneck_width: the 1×1 conv has ``bottleneck_width * k`` filters.
        reduction: fraction of channels a transition keeps (compression).
        stem_filters, stem_kernel_size, stem_strides, stem_pool: the stem.
        kernel_size: the dense layers' spatial kernel.
        dropout: before the classifier.
    """
    input_shape = check_input_shape(input_shape, ranks=(2,))
    growth_rate = check_int("growth_rate", growth_rate)
    bottleneck_width = check_int("bottleneck_width", bottleneck_width)
    if not isinstance(reduction, (int, float)) or not 0 < reduction <= 1:
        raise invalid("reduction", reduction, "a fraction in (0, 1]")
    check_bool("stem_pool", stem_pool)
    check_head_args(num_classes, include_top, pooling, classifier_activation)
    blocks = [check_int(f"blocks[{i}]", b) for i, b in enumerate(blocks)]
    norm = dict(bn_params=BN, bn_placement="before_activation", activation=activation)

    stem = conv_block_specs(
        stem_filters, stem_kernel_size, strides=stem_strides, padding=stem_kernel_size // 2, name="conv1", **norm
    )
    if stem_pool:
        stem += [LayerSpec("zero_padding", "pool1_pad", {"pads": ((1, 1), (1, 1))})]
        stem += pool_specs("max", 3, 2, name="pool1")
    transitions, channels = [], stem_filters
    for i, count in enumerate(blocks[:-1]):
        channels = int((channels + count * growth_rate) * reduction)
        _, pre = norm_act_specs(f"pool{i + 2}", activation, "before_activation", bn_params=BN)
        transitions.append(
            pre + conv_block_specs(channels, 1, activation="linear", use_bias=False, pool="avg", name=f"pool{i + 2}")
        )

    def assemble(input_tensor):
        def dense_layer(x, lname):
            _, pre = norm_act_specs(f"{lname}_0", activation, "before_activation", bn_params=BN)
            y = apply_specs(
                x,
                pre
                + conv_block_specs(bottleneck_width * growth_rate, 1, name=f"{lname}_1", **norm)
                + conv_block_specs(
                    growth_rate, kernel_size, padding="same", activation="linear", use_bias=False, name=f"{lname}_2"
                ),
            )
            return L.Concatenate(name=f"{lname}_concat")([x, y])

        inputs, image = model_input(input_shape, input_tensor)
        x = apply_specs(image, stem)
        for i, count in enumerate(blocks):
            for j in range(1, count + 1):
                x = dense_layer(x, f"conv{i + 2}_block{j}")
            if i < len(transitions):
                x = apply_specs(x, transitions[i])
        _, post = norm_act_specs("post", activation, "before_activation", bn_params=BN)
        post = keras_names(post, ("post_bn", "bn"), ("post_(.*)", r"\1"))  # keras.applications' "bn", "relu"
        x = classifier_top(
            apply_specs(x, post),
            include_top=include_top,
            num_classes=num_classes,
            pooling=pooling,
            classifier_activation=classifier_activation,
            dropout=dropout,
        )
        return keras.Model(inputs, x, name=name)

    return branching_plan(name, input_shape, stem + [s for t in transitions for s in t], assemble)


def _register(depth: int, description: str):
    builder = variant(densenet, f"densenet{depth}", description, blocks=DENSENET_BLOCKS[depth])
    return register_model(
        builder, family="densenet", default_input_shape=(224, 224, 3), base=densenet, keras_twin=f"DenseNet{depth}"
    )


densenet121 = _register(121, "DenseNet-121: dense blocks (6, 12, 24, 16), growth rate 32.")
densenet169 = _register(169, "DenseNet-169: dense blocks (6, 12, 32, 32), growth rate 32.")
densenet201 = _register(201, "DenseNet-201: dense blocks (6, 12, 48, 32), growth rate 32.")
