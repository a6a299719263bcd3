"""torchvision / timm state dicts into the kit's ResNet-18/34 (kerascnn/architectures/torch_weights.py)."""

import sys

import numpy as np
import pytest
from safetensors.numpy import save_file

import keras

import kerascnn
from kerascnn.architectures import torch_weights

SHAPE = (32, 32, 3)


def _randomised(name="resnet18", num_classes=10, seed=1, **kwargs):
    """A kit model whose batch norms have non-trivial statistics and affine terms."""
    model = kerascnn.create_model(
        name, input_shape=SHAPE, num_classes=num_classes, classifier_activation=None, **kwargs
    )
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(0, 0.1, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype("float32"))
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.1, n).astype("float32"))
    return model


def _save(tensors, path):
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path))
    return str(path)


def _out(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def _x(n=2, shape=SHAPE, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n,) + shape).astype("float32")


def test_export_then_import_gives_identical_outputs(tmp_path):
    model = _randomised()
    tensors = torch_weights.state_dict(model)
    assert tensors["conv1.weight"].shape == (64, 3, 7, 7)  # PyTorch's (out, in, h, w)
    assert tensors["layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1)
    assert tensors["layer4.1.bn2.running_var"].shape == (512,) and tensors["fc.weight"].shape == (10, 512)
    assert len(tensors) == 122  # torchvision's resnet18 state dict: 122 entries
    path = _save(tensors, tmp_path / "resnet18.safetensors")
    loaded = kerascnn.create_model(
        "resnet18", input_shape=SHAPE, num_classes=10, classifier_activation=None, weights=path
    )
    np.testing.assert_array_equal(_out(loaded, _x()), _out(model, _x()))


def test_a_wrong_missing_or_extra_tensor_is_named_and_nothing_is_loaded(tmp_path):
    model = _randomised()
    tensors = torch_weights.state_dict(model)
    before = _out(model, _x())
    cases = [
        (
            {**tensors, "layer1.0.conv1.weight": np.zeros((64, 64, 5, 5), "float32")},
            r"tensor 'layer1.0.conv1.weight' of the state dict has shape \(64, 64, 5, 5\), which does not fit",
        ),
        (
            {k: v for k, v in tensors.items() if k != "layer3.1.bn2.running_var"},
            r"missing 1 tensor\(s\) the model needs, e.g. \['layer3.1.bn2.running_var'\]",
        ),
        (
            {**tensors, "layer5.0.conv1.weight": np.zeros((1,), "float32")},
            r"1 tensor\(s\) the model has no place for, e.g. \['layer5.0.conv1.weight'\]",
        ),
        (
            {**{k: v * 0 for k, v in tensors.items()}, "fc.weight": np.zeros((5, 512), "float32")},
            r"'fc.weight' .* \(use num_classes=1000, or include_top=False\)",
        ),
        (  # a quantized tensor of the right shape would be cast to float without a word
            {**tensors, "layer2.0.conv2.weight": tensors["layer2.0.conv2.weight"].astype("int8")},
            r"tensor 'layer2.0.conv2.weight' of the state dict holds int8 values; weights are floating point",
        ),
        (
            {**tensors, "bn1.running_var": tensors["bn1.running_var"] > 0},
            r"tensor 'bn1.running_var' of the state dict holds bool values",
        ),
    ]
    for state, message in cases:
        with pytest.raises(ValueError, match=message):
            torch_weights.load_state_dict(model, state)
    np.testing.assert_array_equal(_out(model, _x()), before)  # a refused file changes nothing
    headless = kerascnn.create_model(
        "resnet18",
        input_shape=SHAPE,
        include_top=False,
        pooling="avg",
        weights=_save(tensors, tmp_path / "r18.safetensors"),
    )
    assert headless.output_shape == (None, 512)  # the classifier's tensors are simply not used


def test_only_torchvision_architectures_take_state_dicts(tmp_path):
    path = _save({"x": np.zeros(1, "float32")}, tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="PyTorch state dicts fit resnet18, resnet34"):
        kerascnn.create_model("vgg11", weights=path)


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="PyTorch is Keras' backend here, so it cannot be absent")
def test_pth_without_torch_says_how_to_convert(tmp_path, monkeypatch):
    path = tmp_path / "resnet18.pth"
    path.write_bytes(b"not read without torch")
    monkeypatch.setitem(sys.modules, "torch", None)  # as on a machine without PyTorch
    with pytest.raises(ValueError, match="needs PyTorch, which is not installed.*safetensors.torch"):
        kerascnn.create_model("resnet18", input_shape=SHAPE, weights=str(path))


def test_imagenet_comes_from_the_keras_cache_and_is_never_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(
        FileNotFoundError,
        match=r"resnet18.tv_in1k.safetensors .* resnet18-f37072fd.pth into "
        rf"{tmp_path / 'models'}.*published at https://download.pytorch.org",
    ):
        kerascnn.create_model("resnet18", weights="imagenet")
    model = _randomised(num_classes=1000)
    (tmp_path / "models").mkdir()
    _save(torch_weights.state_dict(model), tmp_path / "models" / "resnet18.tv_in1k.safetensors")
    loaded = kerascnn.create_model("resnet18", input_shape=SHAPE, classifier_activation=None, weights="imagenet")
    np.testing.assert_array_equal(_out(loaded, _x()), _out(model, _x()))


@pytest.mark.torch
@pytest.mark.parametrize("name", ["resnet18", "resnet34"])
def test_torchvision_weights_give_torchvisions_logits(name, tmp_path):
    """torchvision's own model, random weights and batch-norm statistics, saved and loaded: the same logits."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (the comparison needs torchvision)")
    torchvision = pytest.importorskip("torchvision", reason="torchvision is not installed")
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(weights=None)
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
    reference.eval()
    path = tmp_path / f"{name}.pth"
    torch.save(reference.state_dict(), path)
    shape = (97, 97, 3)  # odd: every stride-2 padding must agree with PyTorch's
    ours = kerascnn.create_model(name, input_shape=shape, weights=str(path), classifier_activation=None)
    x = _x(2, shape)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    got = _out(ours, x)
    scale = np.abs(expected).max()
    diff = np.abs(got - expected).max()
    print(f"{name}: max |kit - torchvision| = {diff:.3g}, logits scale {scale:.3g}, relative {diff / scale:.3g}")
    assert diff <= 1e-4 * scale
