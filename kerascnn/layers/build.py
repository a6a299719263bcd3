"""Turn :class:`~kerascnn.geometry.LayerSpec` lists into Keras layers.

The only place that maps a spec kind to a Keras class, per rank. Everything
here is plain ``keras`` (no ``tf.*``), so models build on any Keras 3 backend.
"""

from __future__ import annotations

from typing import Iterable

import keras
from keras import layers as L

from kerascnn.geometry import LayerSpec
from kerascnn.layers.activations import activation_layer
from kerascnn.layers.kernels import CLASSIC_KERNELS, ClassicKernel

_CONV = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}
_TRANSPOSED = {1: L.Conv1DTranspose, 2: L.Conv2DTranspose, 3: L.Conv3DTranspose}
_DEPTHWISE = {1: L.DepthwiseConv1D, 2: L.DepthwiseConv2D}
_SEPARABLE = {1: L.SeparableConv1D, 2: L.SeparableConv2D}
_PAD = {1: L.ZeroPadding1D, 2: L.ZeroPadding2D, 3: L.ZeroPadding3D}
_CROP = {1: L.Cropping1D, 2: L.Cropping2D, 3: L.Cropping3D}
_POOL = {
    "max": {1: L.MaxPooling1D, 2: L.MaxPooling2D, 3: L.MaxPooling3D},
    "avg": {1: L.AveragePooling1D, 2: L.AveragePooling2D, 3: L.AveragePooling3D},
}
_GLOBAL_POOL = {
    "max": {1: L.GlobalMaxPooling1D, 2: L.GlobalMaxPooling2D, 3: L.GlobalMaxPooling3D},
    "avg": {1: L.GlobalAveragePooling1D, 2: L.GlobalAveragePooling2D, 3: L.GlobalAveragePooling3D},
}
_SPATIAL_DROPOUT = {1: L.SpatialDropout1D, 2: L.SpatialDropout2D, 3: L.SpatialDropout3D}


def _initializer(value):
    if isinstance(value, str) and value in CLASSIC_KERNELS:
        return ClassicKernel(value)
    return value


def _conv_layers(spec: LayerSpec, rank: int, in_channels: int | None) -> list:
    p = spec.params
    common = dict(
        kernel_size=p["kernel_size"],
        strides=p["strides"],
        padding=p["padding"],
        dilation_rate=p["dilation"],
        use_bias=p["use_bias"],
        activation=p.get("activation"),
    )
    init, reg = _initializer(p.get("kernel_initializer", "glorot_uniform")), p.get("kernel_regularizer")
    if spec.kind == "conv":
        return [_CONV[rank](p["filters"], kernel_initializer=init, kernel_regularizer=reg, name=spec.name, **common)]
    if spec.kind == "transposed":
        return [
            _TRANSPOSED[rank](
                p["filters"],
                output_padding=p.get("output_padding"),
                kernel_initializer=init,
                kernel_regularizer=reg,
                name=spec.name,
                **common,
            )
        ]
    mult = p.get("depth_multiplier", 1)
    if rank in _DEPTHWISE:
        if spec.kind == "depthwise":
            return [
                _DEPTHWISE[rank](
                    depth_multiplier=mult,
                    depthwise_initializer=init,
                    depthwise_regularizer=reg,
                    name=spec.name,
                    **common,
                )
            ]
        return [
            _SEPARABLE[rank](
                p["filters"],
                depth_multiplier=mult,
                depthwise_initializer=init,
                depthwise_regularizer=reg,
                pointwise_regularizer=reg,
                name=spec.name,
                **common,
            )
        ]
    # Keras has no 3D depthwise/separable layers: a grouped Conv3D (one group per
    # input channel) is the depthwise step, with the same parameter count.
    if spec.kind == "depthwise":
        return [
            L.Conv3D(
                in_channels * mult,
                groups=in_channels,
                kernel_initializer=init,
                kernel_regularizer=reg,
                name=spec.name,
                **common,
            )
        ]
    depthwise = dict(common, use_bias=False, activation=None)
    return [
        L.Conv3D(
            in_channels * mult,
            groups=in_channels,
            kernel_initializer=init,
            kernel_regularizer=reg,
            name=f"{spec.name}_depthwise",
            **depthwise,
        ),
        L.Conv3D(
            p["filters"],
            1,
            use_bias=p["use_bias"],
            activation=p.get("activation"),
            kernel_regularizer=reg,
            name=spec.name,
        ),
    ]


def make_layers(spec: LayerSpec, rank: int, in_channels: int | None = None) -> list:
    """The Keras layer(s) for one spec; ``rank`` is the number of spatial axes."""
    p, kind = spec.params, spec.kind
    if kind in ("conv", "transposed", "depthwise", "separable"):
        return _conv_layers(spec, rank, in_channels)
    if kind == "zero_padding":
        pads = p["pads"][0] if rank == 1 else p["pads"]
        return [_PAD[rank](pads, name=spec.name)]
    if kind == "cropping":
        crops = p["pads"][0] if rank == 1 else p["pads"]
        return [_CROP[rank](crops, name=spec.name)]
    if kind == "batch_norm":
        return [L.BatchNormalization(name=spec.name, **p)]
    if kind == "layer_norm":
        return [L.LayerNormalization(name=spec.name, **p)]
    if kind == "activation":
        layer = activation_layer({"name": p["activation"], **p.get("options", {})}, name=spec.name, rank=rank)
        return [] if layer is None else [layer]
    if kind == "pool":
        return [_POOL[p["pool"]][rank](p["pool_size"], strides=p["strides"], padding=p["padding"], name=spec.name)]
    if kind == "global_pool":
        return [_GLOBAL_POOL[p["pool"]][rank](name=spec.name)]
    if kind == "flatten":
        return [L.Flatten(name=spec.name)]
    if kind == "dense":
        extra = {"dtype": p["dtype"]} if p.get("dtype") else {}
        return [
            L.Dense(
                p["units"], activation=p.get("activation"), use_bias=p.get("use_bias", True), name=spec.name, **extra
            )
        ]
    if kind == "dropout":
        if p.get("spatial") and rank:
            return [_SPATIAL_DROPOUT[rank](p["rate"], name=spec.name)]
        if p.get("per_sample"):  # stochastic depth: drop a whole residual branch per sample
            return [L.Dropout(p["rate"], noise_shape=(None,) + (1,) * (rank + 1), name=spec.name)]
        return [L.Dropout(p["rate"], name=spec.name)]
    raise ValueError(f"Unknown layer spec kind {kind!r} for layer {spec.name!r}")  # guarded by LayerSpec


def apply_specs(x, specs: Iterable[LayerSpec]):
    """Apply ``specs`` to the Keras tensor ``x`` in order and return the output."""
    for spec in specs:
        rank = len(x.shape) - 2
        for layer in make_layers(spec, rank, x.shape[-1]):
            x = layer(x)
    return x


def model_input(input_shape, input_tensor=None):
    """keras.applications' ``input_tensor`` contract: ``(the model's inputs, the tensor the network starts from)``.

    Without ``input_tensor`` both are a new ``Input(input_shape)``. With one (a
    Keras tensor, e.g. the output of preprocessing layers) the network is
    built on it and the model's inputs are its source inputs, so the layers
    before it become part of the model.
    """
    if input_tensor is None:
        inputs = keras.Input(shape=tuple(input_shape), name="input")
        return inputs, inputs
    if not keras.backend.is_keras_tensor(input_tensor):
        raise ValueError(
            "Invalid `input_tensor`: expected a Keras tensor (from keras.Input or a layer applied to "
            f"one). Received: input_tensor of type {type(input_tensor).__name__}"
        )
    sources = keras.utils.get_source_inputs(input_tensor)
    return (sources[0] if len(sources) == 1 else sources), input_tensor


def build_sequential_model(input_shape, specs, name: str, input_tensor=None) -> keras.Model:
    """A functional ``keras.Model`` made of ``specs`` on an ``Input(input_shape)`` (or on ``input_tensor``)."""
    inputs, image = model_input(input_shape, input_tensor)
    return keras.Model(inputs, apply_specs(image, specs), name=name)
