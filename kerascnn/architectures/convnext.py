"""ConvNeXt Tiny, Small, Base, Large and XLarge (Liu et al., 2022), as keras.applications builds them.

"A ConvNet for the 2020s": a ResNet modernised step by step towards a
vision transformer. A 4×4 stride-4 "patchify" stem; four stages joined by
2×2 stride-2 convs; each block is a 7×7 depthwise conv, layer norm, an
inverted bottleneck of two pointwise layers (×4, GELU) and a learned
per-channel scale (:class:`~kerascnn.layers.scale.LayerScale`, 1e-6) on the
residual. At 224×224×3 and 1000 classes the counts, layer names (nested
``{name}_stem`` / ``{name}_downsampling_block_{i}`` models included) and
weights are keras.applications' (28,589,128 for Tiny). The input is
normalised with ImageNet's mean and variance inside the model, as keras.

Knobs: ``kernel_size`` (the depthwise kernel, 7), ``norm`` (``layer``, the
paper's; ``batch`` is the ResNet habit it replaced), ``drop_path_rate``
(stochastic depth, growing linearly to the last block; 0 in keras'
builder, 0.1–0.5 in the paper's ImageNet training). Also builds on signals
and volumes: every layer it uses exists in 1D and 3D.
"""

from __future__ import annotations

import keras
from keras import layers as L

from kerascnn.architectures._common import branching_plan, check_input_shape, keras_names, planned
from kerascnn.architectures.registry import register_model, variant
from kerascnn.geometry import LayerSpec
from kerascnn.layers.build import apply_specs, make_layers, model_input
from kerascnn.layers.conv import conv_block_specs
from kerascnn.layers.heads import check_head_args, head_specs
from kerascnn.layers.scale import LayerScale
from kerascnn.validation import check_choice, check_int, check_positive, check_rate

#: variant: (blocks per stage, channels per stage).
CONFIGS = {
    "tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "small": ((3, 3, 27, 3), (96, 192, 384, 768)),
    "base": ((3, 3, 27, 3), (128, 256, 512, 1024)),
    "large": ((3, 3, 27, 3), (192, 384, 768, 1536)),
    "xlarge": ((3, 3, 27, 3), (256, 512, 1024, 2048)),
}
NORMS = ("layer", "batch")
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_VARIANCE = ((0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2)


@planned
def convnext(
    size: str = "tiny",
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    input_tensor=None,
    *,
    kernel_size: int = 7,
    norm: str = "layer",
    drop_path_rate: float = 0.0,
    layer_scale_init_value: float | None = 1e-6,
    include_preprocessing: bool = True,
    include_top: bool = True,
    pooling=None,
    classifier_activation="softmax",
    name: str | None = None,
):
    """Family builder: the stage table of ``size`` (:data:`CONFIGS`).

    Args:
        kernel_size: the depthwise kernel of every block (7 in the paper).
        norm: ``layer`` (layer norm, the paper's) or ``batch``.
        drop_path_rate: stochastic depth of the last block (0 at the first).
        layer_scale_init_value: LayerScale's initial value; 0 removes it.
        include_preprocessing: ImageNet normalisation of 0-255 pixels inside
            the model (3-channel inputs), as keras.
    """
    if size not in CONFIGS:
        raise ValueError(f"Invalid `size`: expected one of {sorted(CONFIGS)}. Received: size={size!r}")
    input_shape = check_input_shape(input_shape, ranks=(1, 2, 3))
    rank = len(input_shape) - 1
    k = check_int("kernel_size", kernel_size)
    norm = check_choice("norm", norm, NORMS)
    drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
    if layer_scale_init_value:
        check_positive("layer_scale_init_value", layer_scale_init_value, "a positive number, or 0 for no LayerScale")
    check_head_args(num_classes, include_top, pooling, classifier_activation)
    depths, widths = CONFIGS[size]
    name = f"convnext_{size}" if name is None else name

    def conv(filters, kernel, stride, layer_name):  # keras' plain convs: bias, no activation, "valid"
        specs = conv_block_specs(filters, kernel, strides=stride, padding="valid", activation="linear", rank=rank,
                                 name=layer_name)  # fmt: skip
        return keras_names(specs, ("(.*)_conv_conv", r"\1_conv"), (r"(.*)_conv_(\d+)_conv", r"\1_conv_\2"))

    def norm_spec(layer_name):
        if norm == "layer":
            return LayerSpec("layer_norm", layer_name, {"epsilon": 1e-6})
        return LayerSpec("batch_norm", layer_name.replace("layernorm", "batchnorm"), {})

    # the downsampling path: stem, then norm + 2×2 conv before stages 2-4; blocks keep the size
    downsampling = [
        (f"{name}_stem", conv(widths[0], 4, 4, f"{name}_stem_conv") + [norm_spec(f"{name}_stem_layernorm")])
    ]
    for i in range(3):
        layers = [norm_spec(f"{name}_downsampling_layernorm_{i}")] + conv(
            widths[i + 1], 2, 2, f"{name}_downsampling_conv_{i}"
        )
        downsampling.append((f"{name}_downsampling_block_{i}", layers))
    total = sum(depths)
    rates = [drop_path_rate * i / (total - 1) if total > 1 else 0.0 for i in range(total)]  # np.linspace(0, rate)
    stages, spine, index = [], [], 0
    for i, (depth, width) in enumerate(zip(depths, widths)):
        blocks = []
        for j in range(depth):
            blocks.append((f"{name}_stage_{i}_block_{j}", width, rates[index]))
            index += 1
        stages.append(blocks)
        depthwise = conv_block_specs(
            None, k, conv_type="depthwise", activation="linear", rank=rank, name=f"{name}_stage_{i}_depthwise"
        )
        spine += downsampling[i][1] + depthwise  # one block's depthwise: its receptive field, same size

    def block(x, prefix, width, rate):
        y = L.Conv1D if rank == 1 else L.Conv2D if rank == 2 else L.Conv3D
        y = y(width, k, padding="same", groups=width, name=f"{prefix}_depthwise_conv")(x)
        y = _apply(y, norm_spec(f"{prefix}_layernorm"), rank)
        y = L.Dense(4 * width, name=f"{prefix}_pointwise_conv_1")(y)
        y = L.Activation("gelu", name=f"{prefix}_gelu")(y)
        y = L.Dense(width, name=f"{prefix}_pointwise_conv_2")(y)
        if layer_scale_init_value:
            y = LayerScale(layer_scale_init_value, width, name=f"{prefix}_layer_scale")(y)
        if rate:
            y = _apply(y, LayerSpec("dropout", f"{prefix}_stochastic_depth", {"rate": rate, "per_sample": True}), rank)
        else:
            y = L.Activation("linear", name=f"{prefix}_identity")(y)
        return L.Add(name=f"{prefix}_add")([x, y])

    def assemble(input_tensor):
        inputs, x = model_input(input_shape, input_tensor)
        if include_preprocessing and input_shape[-1] == 3:
            x = L.Normalization(mean=IMAGENET_MEAN, variance=IMAGENET_VARIANCE, name=f"{name}_prestem_normalization")(x)
        for (group, specs), blocks in zip(downsampling, stages):
            x = keras.Sequential([layer for spec in specs for layer in make_layers(spec, rank)], name=group)(x)
            for prefix, width, rate in blocks:
                x = block(x, prefix, width, rate)
        x = _head(x, rank, name, norm_spec, include_top, num_classes, pooling, classifier_activation)
        return keras.Model(inputs, x, name=name)

    return branching_plan(name, input_shape, spine, assemble)


def _apply(x, spec, rank):
    for layer in make_layers(spec, rank):
        x = layer(x)
    return x


def _head(x, rank, name, norm_spec, include_top, num_classes, pooling, classifier_activation):
    """keras' ConvNeXt head: pool, norm, ``{name}_head_dense``; without a top the features are normed too."""
    if include_top:
        x = getattr(L, f"GlobalAveragePooling{rank}D")(name=f"{name}_head_gap")(x)
        x = _apply(x, norm_spec(f"{name}_head_layernorm"), rank)
        act = "linear" if classifier_activation is None else classifier_activation
        return L.Dense(num_classes, activation=act, dtype="float32", name=f"{name}_head_dense")(x)
    x = apply_specs(
        x, head_specs(include_top=False, num_classes=num_classes, pooling=pooling, classifier_activation=None)
    )
    return _apply(x, norm_spec(f"{name}_features_layernorm"), rank)


def _register(size: str):
    return register_model(
        variant(
            convnext,
            f"convnext_{size}",
            description=f"ConvNeXt-{size.title()}: patchify stem, 7×7 depthwise blocks with layer norm and GELU.",
            size=size,
        ),
        family="convnext",
        default_input_shape=(224, 224, 3),
        base=convnext,
        keras_twin=f"ConvNeXt{'XLarge' if size == 'xlarge' else size.title()}",
        ranks=(1, 2, 3),
    )


convnext_tiny = _register("tiny")
convnext_small = _register("small")
convnext_base = _register("base")
convnext_large = _register("large")
convnext_xlarge = _register("xlarge")
