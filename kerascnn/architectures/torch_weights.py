"""torchvision / timm weights for the models whose architecture is torchvision's (ResNet-18 and -34).

keras.applications has no ResNet-18/34; torchvision and timm publish them as
PyTorch state dicts. The kit's ``resnet18``/``resnet34`` are built layer for
layer like torchvision's, so a state dict maps onto them by name:

==============================================  ==========================================
torchvision / timm key                          kerascnn layer
==============================================  ==========================================
``conv1.weight``, ``bn1.*``                     ``conv1_conv``, ``conv1_bn``
``layer{s}.{b}.conv{k}.weight``, ``.bn{k}.*``   ``conv{s+1}_block{b+1}_{k}_conv``, ``_bn``
``layer{s}.{b}.downsample.0.weight``, ``.1.*``  ``conv{s+1}_block{b+1}_0_conv``, ``_0_bn``
``fc.weight``, ``fc.bias``                      ``predictions``
==============================================  ==========================================

Convolution kernels go from PyTorch's ``(out, in, h, w)`` to Keras'
``(h, w, in, out)``, the fully connected kernel is transposed, batch norm's
``weight``/``bias``/``running_mean``/``running_var`` become ``gamma``/``beta``/
``moving_mean``/``moving_variance`` (``num_batches_tracked`` has no Keras
counterpart). Every tensor is matched by name, shape and kind: a missing, extra,
mis-shaped or non-floating tensor is an error that names it.

Files: ``.safetensors`` (what timm and the Hugging Face hub publish; read with
the ``safetensors`` package, no PyTorch needed) or ``.pth``/``.pt`` (read only
where PyTorch is installed). Inputs are what torchvision's weights expect:
RGB in [0, 1], normalised with ImageNet's mean and std, channels last.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

#: Models with torchvision's architecture, and the ImageNet files published for them
#: (torchvision's .pth, timm's .safetensors), looked up in the Keras cache for ``weights="imagenet"``.
TORCHVISION_MODELS = {
    "resnet18": {
        "pth": "resnet18-f37072fd.pth",
        "safetensors": "resnet18.tv_in1k.safetensors",
        "published": "https://download.pytorch.org/models/resnet18-f37072fd.pth, or model.safetensors "
        "of https://huggingface.co/timm/resnet18.tv_in1k",
    },
    "resnet34": {
        "pth": "resnet34-b627a593.pth",
        "safetensors": "resnet34.tv_in1k.safetensors",
        "published": "https://download.pytorch.org/models/resnet34-b627a593.pth, or model.safetensors "
        "of https://huggingface.co/timm/resnet34.tv_in1k",
    },
}
TORCH_SUFFIXES = (".safetensors", ".pth", ".pt")
_BN = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
_BLOCK = re.compile(r"conv(\d)_block(\d+)_(\d)_(conv|bn)")


def _torch_prefix(layer_name: str) -> str | None:
    """The state-dict prefix of a kit layer (``conv3_block1_0_bn`` -> ``layer2.0.downsample.1``)."""
    if layer_name in ("conv1_conv", "conv1_bn"):
        return "conv1" if layer_name.endswith("conv") else "bn1"
    if layer_name == "predictions":
        return "fc"
    match = _BLOCK.fullmatch(layer_name)
    if not match:
        return None
    stage, block, k, kind = int(match[1]) - 1, int(match[2]) - 1, match[3], match[4]
    if k == "0":
        return f"layer{stage}.{block}.downsample.{0 if kind == 'conv' else 1}"
    return f"layer{stage}.{block}.{'conv' if kind == 'conv' else 'bn'}{k}"


def key_map(model) -> dict:
    """``{state-dict key: (Keras variable, to_keras, to_torch)}`` for every weight of ``model``."""
    from kerascnn.architectures._common import all_layers

    out = {}
    for layer in all_layers(model):
        if not layer.weights:
            continue
        prefix = _torch_prefix(layer.name)
        if prefix is None:
            raise ValueError(
                f"Layer {layer.name!r} of {model.name!r} has no torchvision counterpart: torchvision "
                "weights fit resnet18/resnet34 as the kit builds them"
            )
        kind = type(layer).__name__
        if kind == "BatchNormalization":
            for torch_name, keras_name in _BN.items():
                var = next(w for w in layer.weights if w.path.endswith(keras_name))
                out[f"{prefix}.{torch_name}"] = (var, _same, _same)
        elif kind == "Conv2D":
            out[f"{prefix}.weight"] = (layer.kernel, _oihw_to_hwio, _hwio_to_oihw)
            if layer.use_bias:
                out[f"{prefix}.bias"] = (layer.bias, _same, _same)
        elif kind == "Dense":
            out[f"{prefix}.weight"] = (layer.kernel, _transpose, _transpose)
            out[f"{prefix}.bias"] = (layer.bias, _same, _same)
        else:
            raise ValueError(f"Layer {layer.name!r} ({kind}) has no torchvision counterpart")
    return out


def _same(a):
    return a


def _transpose(a):
    return np.ascontiguousarray(np.transpose(a))


def _oihw_to_hwio(a):
    return np.ascontiguousarray(np.transpose(a, (2, 3, 1, 0)))


def _hwio_to_oihw(a):
    return np.ascontiguousarray(np.transpose(a, (3, 2, 0, 1)))


def state_dict(model) -> dict:
    """The model's weights as a torchvision state dict of NumPy arrays (save with ``safetensors.numpy.save_file``)."""
    import keras

    out = {}
    for key, (var, _, to_torch) in key_map(model).items():
        out[key] = to_torch(keras.ops.convert_to_numpy(var))  # any backend (a torch variable requires grad)
        if key.endswith(".running_var"):
            out[key[: -len("running_var")] + "num_batches_tracked"] = np.zeros((), np.int64)
    return out


def read_state_dict(path: str | os.PathLike) -> dict:
    """A ``.safetensors`` / ``.pth`` / ``.pt`` state dict as ``{key: numpy array}``."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        try:
            return load_file(str(path))
        except Exception as err:  # safetensors raises its own error types for damaged files
            raise ValueError(f"Invalid `weights`: cannot read {str(path)!r} as safetensors ({err})") from None
    try:
        import torch
    except ImportError:
        raise ValueError(
            f"Invalid `weights`: reading {str(path)!r} needs PyTorch, which is not installed. Install it, or convert "
            'the file once where PyTorch is: python -c "import torch, safetensors.torch as s; '
            f"s.save_file(torch.load('{path.name}', map_location='cpu'), '{path.stem}.safetensors')\""
        ) from None
    loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):  # a training checkpoint
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict):
        raise ValueError(f"Invalid `weights`: {str(path)!r} holds a {type(loaded).__name__}, not a state dict")
    return {k: v.detach().cpu().numpy() for k, v in loaded.items()}


def load_state_dict(model, tensors: dict, source: str = "the state dict") -> None:
    """Copy a torchvision state dict into ``model``; every tensor matched by name and shape, or an error naming it."""
    mapping = key_map(model)
    given = {k: v for k, v in tensors.items() if not k.endswith("num_batches_tracked")}
    headless = not any(k.startswith("fc.") for k in mapping)
    extra = [k for k in given if k not in mapping and not (headless and k.startswith("fc."))]
    missing = [k for k in mapping if k not in given]
    if missing or extra:
        what = []
        if missing:
            what.append(f"missing {len(missing)} tensor(s) the model needs, e.g. {missing[:3]}")
        if extra:
            what.append(f"{len(extra)} tensor(s) the model has no place for, e.g. {extra[:3]}")
        raise ValueError(
            f"Invalid `weights`: {source} does not fit {model.name!r}: {'; '.join(what)}. "
            "torchvision weights fit resnet18/resnet34 as the kit builds them."
        )
    values = []
    for key, (var, to_keras, _) in mapping.items():
        value = to_keras(np.asarray(given[key]))
        if not np.issubdtype(value.dtype, np.floating):  # int8 or bool would be cast without a word
            raise ValueError(
                f"Invalid `weights`: tensor {key!r} of {source} holds {value.dtype} values; weights are floating "
                f"point (float16, float32 or float64), as {var.path} ({var.dtype}) is. Is it a quantized file?"
            )
        if tuple(value.shape) != tuple(var.shape):
            hint = " (use num_classes=1000, or include_top=False)" if key.startswith("fc.") else ""
            raise ValueError(
                f"Invalid `weights`: tensor {key!r} of {source} has shape {tuple(given[key].shape)}, "
                f"which does not fit {var.path} {tuple(var.shape)}{hint}"
            )
        values.append((var, value))
    for var, value in values:  # only once everything fits: a failed load leaves the model as it was
        var.assign(value.astype(var.dtype))


def imagenet_file(name: str) -> Path:
    """The torchvision/timm ImageNet file of ``name`` in the Keras cache (never downloaded)."""
    from kerascnn.data.sources import keras_cache_dir

    files = TORCHVISION_MODELS[name]
    folder = keras_cache_dir("models")
    for kind in ("safetensors", "pth"):
        if (folder / files[kind]).exists():
            return folder / files[kind]
    raise FileNotFoundError(
        f"ImageNet weights for {name} are not on this machine and kerascnn does not download at run time. Put "
        f"{files['safetensors']} (timm's model.safetensors, renamed) or {files['pth']} into {folder}; they are "
        f"published at {files['published']}."
    )
