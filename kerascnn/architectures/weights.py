"""Start a kit model from weights the user already has, never downloading.

:func:`copy_weights` moves weights between two models of the same network
that were built by different code (a keras.applications model and the kit's
builder): layers are paired by name where the names agree and in order for
the rest, and every pair is checked by shape, so a mismatch is an error and
never a silent mis-copy. :func:`offline` makes keras.applications read its
weights from the Keras cache only, failing with the path to put the file at.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

import keras

from kerascnn import saving
from kerascnn.architectures import torch_weights
from kerascnn.architectures._common import all_layers, check_data_format
from kerascnn.architectures.torch_weights import TORCH_SUFFIXES, TORCHVISION_MODELS
from kerascnn.validation import invalid


def weighted_layers(model) -> list:
    """Layers that own weights, in the model's order, looking inside nested models."""
    return [layer for layer in all_layers(model) if layer.weights and not isinstance(layer, keras.Model)]


def _fits(src, dst) -> bool:
    return len(src.weights) == len(dst.weights) and all(
        int(np.prod(a.shape)) == int(np.prod(b.shape)) for a, b in zip(src.weights, dst.weights)
    )


def copy_weights(source, target) -> int:
    """Copy every weight of ``target`` from the same layer of ``source``.

    ``source`` may have extra weighted layers at the end (a classifier top
    the target leaves out). Kernels whose shapes differ only by axes of size
    one (a 1×1 conv classifier and a Dense one) are reshaped.

    Returns:
        the number of layers copied.

    Raises:
        ValueError: naming the first pair of layers whose weights do not fit.
    """
    src, dst = weighted_layers(source), weighted_layers(target)
    if len(src) < len(dst):
        raise ValueError(
            f"Cannot copy weights from {source.name!r} into {target.name!r}: the source has {len(src)} "
            f"weighted layers, the target {len(dst)}. Are they the same architecture?"
        )
    by_name = {layer.name: layer for layer in src}
    pairs, left_dst = {}, []
    for layer in dst:
        match = by_name.get(layer.name)
        if match is not None and _fits(match, layer):
            pairs[id(layer)] = match
        else:
            left_dst.append(layer)
    used = {id(layer) for layer in pairs.values()}
    left_src = [layer for layer in src if id(layer) not in used]
    for layer, match in zip(left_dst, left_src):
        pairs[id(layer)] = match
    for layer in dst:
        match = pairs[id(layer)]
        if not _fits(match, layer):
            raise ValueError(
                f"Cannot copy weights from {source.name!r} into {target.name!r}: layer {match.name!r} has "
                f"weights {[tuple(w.shape) for w in match.weights]}, its counterpart {layer.name!r} has "
                f"{[tuple(w.shape) for w in layer.weights]}. Same architecture, input channels and classes?"
            )
        layer.set_weights([np.reshape(w, tuple(v.shape)) for w, v in zip(match.get_weights(), layer.weights)])
    return len(dst)


@contextlib.contextmanager
def offline():
    """keras.applications may use weight files already in the Keras cache, never download them.

    Inside this context Keras' ``get_file`` returns the cached file
    (``$KERAS_HOME/models/<name>``, default ``~/.keras/models``) as it is, or
    raises ``FileNotFoundError`` naming where to put it and where it is
    published. The file's hash is not checked: it is the user's file.
    """
    from kerascnn import _compat
    from kerascnn.data.sources import keras_cache_dir

    def cached_only(fname=None, origin=None, *args, cache_subdir="datasets", **kwargs):
        name = fname or os.path.basename(str(origin))
        path = keras_cache_dir(cache_subdir) / name
        if not path.exists():
            raise FileNotFoundError(
                f"Weights file {name!r} is not on this machine and kerascnn does not download at run time. "
                f"Put it at {path} (it is published at {origin}), or pass the path of a weights file or a "
                f"keras.Model as `weights`."
            )
        return str(path)

    with _compat.replaced_keras_get_file(cached_only):
        yield


def keras_application(twin: str, **kwargs):
    """Build ``keras.applications.<twin>(**kwargs)`` with weights from disk only."""
    with offline():
        return getattr(keras.applications, twin)(**kwargs)


def check_weights(weights, info):
    """Validate a ``weights`` argument before anything is built; returns it normalised."""
    if isinstance(weights, keras.Model):
        if any(getattr(layer, "data_format", None) == "channels_first" for layer in all_layers(weights)):
            check_data_format(f"the model {weights.name!r}")
        return weights
    if isinstance(weights, (str, os.PathLike)):
        text = os.fspath(weights)
        if text == "imagenet" and info.name in TORCHVISION_MODELS:  # torchvision's file, from the cache
            return torch_weights.imagenet_file(info.name)
        if text == "imagenet":
            if info.keras_twin is None:
                raise invalid(
                    "weights",
                    weights,
                    f"a keras.Model or a weights file: {info.name!r} has no keras.applications "
                    "twin with ImageNet weights",
                )
            return text
        if not os.path.exists(text):
            raise FileNotFoundError(f"Invalid `weights`: no such file {text!r}. Received: weights={text!r}")
        if text.endswith(TORCH_SUFFIXES):
            if info.name not in TORCHVISION_MODELS:
                raise invalid(
                    "weights",
                    text,
                    f"a .keras or .h5 file: PyTorch state dicts fit "
                    f"{', '.join(TORCHVISION_MODELS)} (torchvision's architecture), not {info.name!r}",
                )
            return Path(text)
        if not text.endswith((".keras", ".h5", ".hdf5")):
            raise invalid(
                "weights",
                text,
                "a .keras model file, a .weights.h5 or .h5 weights file"
                + (", or a torchvision/timm .safetensors / .pth state dict" if info.name in TORCHVISION_MODELS else ""),
            )
        return Path(text)
    raise invalid("weights", weights, "None, 'imagenet', a keras.Model or the path of a weights file")


def imagenet_kwargs(info) -> dict:
    """Builder arguments ``weights="imagenet"`` implies (EfficientNet's ImageNet std scaling)."""
    return {"imagenet_normalization": True} if "imagenet_normalization" in info.accepted_arguments() else {}


def _twin(info, kwargs, weights):
    keys = ("include_top", "pooling", "classifier_activation", "alpha", "minimalistic")
    head = {k: kwargs[k] for k in keys if k in kwargs}
    if "num_classes" in kwargs:
        head["classes"] = kwargs["num_classes"]
    return keras_application(info.keras_twin, weights=weights, input_shape=tuple(kwargs["input_shape"]), **head)


def load_into(model, source, info, kwargs) -> None:
    """Fill ``model`` (built by ``info``'s builder with ``kwargs``) from a checked ``weights`` source."""
    if isinstance(source, keras.Model):
        copy_weights(source, model)
        return
    if source == "imagenet":
        copy_weights(_twin(info, kwargs, "imagenet"), model)
        return
    path = str(source)
    if path.endswith(TORCH_SUFFIXES):
        torch_weights.load_state_dict(model, torch_weights.read_state_dict(path), source=repr(path))
        return
    if path.endswith(".keras"):
        copy_weights(saving.load_model(path, what="`weights`"), model)
    elif path.endswith(".weights.h5"):
        model.load_weights(path)
    elif info.keras_twin is not None:  # a keras.applications weights file (legacy .h5 by layer order)
        copy_weights(_twin(info, kwargs, path), model)
    else:
        model.load_weights(path)
