import keras
import pytest

from kerascnn import config, device


def test_switches_validate_and_explain_themselves_on_cpu():
    notes = device.configure({"mixed_precision": True, "jit_compile": True, "profile_batch": [2, 3]}, printer=lambda s: None)
    assert keras.mixed_precision.global_policy().name == "float32"  # no GPU: stays float32, and says so
    assert any("no GPU" in n for n in notes) and any("XLA" in n for n in notes) and any("profiler" in n for n in notes)


@pytest.mark.parametrize("key, value", [("mixed_precision", "yes"), ("jit_compile", "xla"), ("profile_batch", [3, 2])])
def test_bad_switches(key, value):
    with pytest.raises(config.ConfigError, match=f"train.{key}"):
        config.resolve({"train": {key: value}})


MIRRORED_SCRIPT = '''
import json, sys
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
print("RESULT", json.dumps({"batch_size": info["batch_size"], "completed": summary["counts"]["completed"]}))
'''


def test_mirrored_strategy_over_two_logical_cpus(tmp_path):
    """Logical devices must be set before TensorFlow starts: a process of its own."""
    import json
    import os
    import subprocess
    import sys

    script = tmp_path / "mirror.py"
    script.write_text(MIRRORED_SCRIPT)
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "runs")], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mirrored over 2 device(s)" in result.stdout
    line = next(l for l in result.stdout.splitlines() if l.startswith("RESULT"))
    assert json.loads(line[len("RESULT "):]) == {"batch_size": 32, "completed": 1}  # 16 per replica × 2
