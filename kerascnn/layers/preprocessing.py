"""Inputs as a pretrained backbone's weights expect them, inside the model.

keras.applications' ``preprocess_input`` functions run outside the model, in
one of three modes: ``caffe`` (RGB to BGR, ImageNet's mean subtracted, pixels
0-255), ``tf`` (pixels to [-1, 1]) and ``torch`` (pixels to [0, 1],
normalised by ImageNet's mean and standard deviation); some families
(EfficientNet, ConvNeXt, MobileNetV3) preprocess inside the model already
(``none``). :class:`BackbonePreprocessing` does the same inside the model, so
a saved transfer model takes the kit's scaled inputs and cannot be fed
inputs preprocessed twice or not at all. A one-channel input is repeated to
three channels first (a grayscale photo for an RGB backbone), and an RGB one
becomes its luma for a one-channel backbone.
"""

from __future__ import annotations

import keras

from kerascnn.validation import check_choice, invalid, is_number

#: keras.applications' preprocessing modes, and ``none``.
MODES = ("none", "caffe", "tf", "torch")
_MEAN = (0.485, 0.456, 0.406)  # ImageNet's, RGB, of pixels in [0, 1]
_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN = (103.939, 116.779, 123.68)  # BGR, of pixels in [0, 255]
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as Pillow's convert("L")


@keras.saving.register_keras_serializable(package="kerascnn")
class BackbonePreprocessing(keras.layers.Layer):
    """Pixels as a backbone's weights expect them: ``mode`` of keras.applications' ``preprocess_input``.

    Args:
        mode: ``none``, ``caffe``, ``tf`` or ``torch`` (see the module).
        pixel_scale: what the inputs are multiplied by to give pixels in
            [0, 255]: 255 for the kit's scaled images (``data.scale: auto``),
            1 for raw pixels.
        channels: what the backbone takes: 3 repeats a one-channel input to
            RGB, 1 turns an RGB input into its luma; None leaves channels alone.
    """

    def __init__(self, mode: str = "none", pixel_scale: float = 255.0, channels: int | None = 3, **kwargs):
        super().__init__(**kwargs)
        self.mode = check_choice("preprocessing", mode, MODES)
        if not is_number(pixel_scale) or pixel_scale <= 0:
            raise invalid("pixel_scale", pixel_scale, "a positive number (255 for inputs in [0, 1])")
        self.pixel_scale, self.channels = float(pixel_scale), channels

    def call(self, x):
        x = keras.ops.cast(x, self.compute_dtype)
        if self.channels == 3 and x.shape[-1] == 1:
            x = keras.ops.repeat(x, 3, axis=-1)
        elif self.channels == 1 and x.shape[-1] == 3:  # an RGB photo for a grayscale backbone: its luma
            x = keras.ops.sum(x * keras.ops.array(_LUMA, x.dtype), axis=-1, keepdims=True)
        pixels = x * self.pixel_scale
        if self.mode == "tf":
            return pixels / 127.5 - 1.0
        if self.mode == "torch":
            return (pixels / 255.0 - keras.ops.array(_MEAN, x.dtype)) / keras.ops.array(_STD, x.dtype)
        if self.mode == "caffe":
            return keras.ops.flip(pixels, axis=-1) - keras.ops.array(_CAFFE_MEAN, x.dtype)
        return pixels if self.pixel_scale != 1.0 or self.mode != "none" else x

    def compute_output_shape(self, input_shape):
        channels = self.channels if self.channels in (1, 3) and input_shape[-1] in (1, 3) else input_shape[-1]
        return (*input_shape[:-1], channels)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "pixel_scale": self.pixel_scale, "channels": self.channels}
