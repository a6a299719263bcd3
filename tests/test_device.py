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
