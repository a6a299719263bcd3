import json
import os
import subprocess
import sys

import pytest

import keras

from kerascnn import config, device
from kerascnn.startup import is_noise


@pytest.mark.backend
def test_switches_validate_and_explain_themselves_on_cpu():
    notes = device.configure(
        {"mixed_precision": True, "jit_compile": True, "profile_batch": [2, 3]}, printer=lambda s: None
    )
    assert keras.mixed_precision.global_policy().name == "float32"  # no GPU: stays float32, and says so
    assert any("no GPU" in n for n in notes) and any("profiler" in n for n in notes)
    jit = next(n for n in notes if n.startswith("train.jit_compile"))
    assert {"tensorflow": "XLA", "jax": "always on", "torch": "torch.compile"}[keras.backend.backend()] in jit
    device.configure({"mixed_precision": "bfloat16"}, printer=lambda s: None)  # asked for explicitly: used as asked
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    device.configure({}, printer=lambda s: None)
    assert keras.mixed_precision.global_policy().name == "float32"


def test_mixed_precision_true_picks_bfloat16_where_the_gpu_has_it(monkeypatch):
    monkeypatch.setattr(device, "_compute_capability", lambda: (9, 0))
    assert device.precision_policy(True, ["NVIDIA H100"])[0] == "mixed_bfloat16"
    monkeypatch.setattr(device, "_compute_capability", lambda: (7, 5))
    assert device.precision_policy(True, ["Tesla T4"])[0] == "mixed_float16"
    assert device.precision_policy("float16", ["NVIDIA H100"])[0] == "mixed_float16"
    assert device.precision_policy(False, ["NVIDIA H100"]) == ("float32", None)


def test_steps_per_execution(monkeypatch):
    monkeypatch.setattr(device, "gpu_names", lambda: [])
    assert device.steps_per_execution({"steps_per_execution": "auto"}, 18) == 1
    assert device.steps_per_execution({"steps_per_execution": 4}, 18) == 4
    monkeypatch.setattr(device, "gpu_names", lambda: ["NVIDIA H100"])
    assert device.steps_per_execution({"steps_per_execution": "auto"}, 18) == 18  # one call per epoch
    assert device.steps_per_execution({"steps_per_execution": "auto"}, 500) == 64


def test_mirrored_on_pytorch_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(device, "_backend", lambda: "torch")
    with pytest.raises(ValueError, match="train.strategy: mirrored needs the TensorFlow .* or JAX .*'torch'"):
        device.strategy({"strategy": "mirrored"})


@pytest.mark.parametrize(
    "key, value",
    [
        ("mixed_precision", "yes"),
        ("mixed_precision", 1),
        ("jit_compile", "xla"),
        ("profile_batch", [3, 2]),
        ("steps_per_execution", 0),
    ],
)
def test_bad_switches(key, value):
    with pytest.raises(config.ConfigError, match=f"train.{key}"):
        config.resolve({"train": {key: value}})


MIRRORED_SCRIPT = """
import json, sys
import keras
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from kerascnn import config
from kerascnn.search import run_search
cfg = config.resolve({"name": "mirror", "data": {"source": "digits"},
    "model": {"architecture": "simple_cnn", "params": {"conv_layers": 2, "dense_units": 16}},
    "search": {"max_trials": 1, "space": {"filters": [8]}},
    "train": {"epochs": 1, "batch_size": 16, "strategy": "mirrored"}})
run_dir = run_search(cfg, out=sys.argv[1])
info = json.loads(next((run_dir / "tuner").glob("trial_*/kerascnn.json")).read_text())
summary = json.loads((run_dir / "summary.json").read_text())
print("RESULT", json.dumps({"batch_size": info["batch_size"], "completed": summary["counts"]["completed"],
                            "test": summary["data"]["test"]
                                    == len(open(run_dir / "predictions_test.csv").readlines()) - 1}))
"""


@pytest.mark.backend
@pytest.mark.slow  # ~20 s (a subprocess with two host devices); `make test-slow` runs it
def test_mirrored_strategy_over_two_host_devices(tmp_path):
    """tf.distribute on TensorFlow, keras.distribution.DataParallel on JAX, over two CPU devices.

    The devices must be set up before the backend starts: a process of its own.
    """
    script = tmp_path / "mirror.py"
    script.write_text(MIRRORED_SCRIPT)
    flags = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "XLA_FLAGS": flags},
    )
    if keras.backend.backend() == "torch":  # no mirrored strategy there: refused by name, before any run folder
        assert result.returncode != 0 and "train.strategy: mirrored needs the TensorFlow" in result.stderr
        assert not (tmp_path / "runs").exists()
        return
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mirrored over 2 device(s)" in result.stdout
    line = next(l for l in result.stdout.splitlines() if l.startswith("RESULT"))
    # 16 per replica × 2; every test sample predicted once although 360 / 2 devices is checked batch by batch
    assert json.loads(line[len("RESULT ") :]) == {"batch_size": 32, "completed": 1, "test": True}


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's own start-up log")
def test_no_cuda_start_up_noise_on_a_machine_without_an_nvidia_driver():
    """TensorFlow's CUDA build logs "failed call to cuInit" at ERROR level when it first lists devices on a
    CPU-only machine; importing kerascnn first keeps that line out of every run's output."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    script = (
        "import os, kerascnn, tensorflow as tf; tf.config.list_physical_devices(); "
        "print('level', os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    expected = "1" if os.path.exists("/proc/driver/nvidia") else "3"
    assert f"level {expected}" in done.stdout
    if expected == "3":
        assert "cuInit" not in done.stderr and "CUDA error" not in done.stderr, done.stderr
    assert not [line for line in done.stderr.splitlines() if is_noise(line, expected == "1")], done.stderr
