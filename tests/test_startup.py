"""A quiet start: TensorFlow's start-up notices are filtered out of fd 2; everything else still shows."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kerascnn import startup

BIN = Path(sys.executable).parent
# What TensorFlow 2.21 printed, twice, before any kerascnn command's first line (this machine, 2026-12-07).
TF_221_NOTICES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1796613983.321278   23989 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders. To turn "
    "them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n",
    "I0000 00:00:1796613983.322271   23989 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    "not be used.\n",
    "I0000 00:00:1796613983.4   23989 cpu_feature_guard.cc:210] This TensorFlow binary is optimized to use available "
    "CPU instructions in performance-critical operations.\n",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
    "appropriate compiler flags.\n",
]
KEPT = [
    "E0000 00:00:1796613983.5   23989 some_op.cc:12] a real error\n",
    "Traceback (most recent call last):\n",
    "W0000 00:00:1796613983.5   23989 gpu_device.cc:1] a warning worth reading\n",
]


def test_the_start_up_notices_are_noise_and_errors_are_not():
    assert all(startup.is_noise(line, nvidia_driver=True) for line in TF_221_NOTICES)
    assert not any(startup.is_noise(line, nvidia_driver=True) for line in KEPT)
    cuinit = "E0000 00:00:1.5   1 cuda_executor.cc:1] failed call to cuInit: INTERNAL: CUDA error\n"
    assert startup.is_noise(cuinit, nvidia_driver=False) and not startup.is_noise(cuinit, nvidia_driver=True)


def test_the_filter_drops_only_the_notices_and_keeps_the_rest_in_order(capfd, monkeypatch):
    monkeypatch.setattr(startup, "filtering_wanted", lambda: True)
    with startup.quiet_tensorflow_import():
        for line in TF_221_NOTICES[:2] + KEPT[:1] + TF_221_NOTICES[2:] + KEPT[1:]:
            os.write(2, line.encode())  # as TensorFlow's C++ code writes: to the descriptor, not sys.stderr
    assert capfd.readouterr().err == "".join(KEPT)


def test_a_log_level_of_0_or_another_backend_turns_the_filter_off(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow")  # as in a fresh process
    assert startup.filtering_wanted({}) and startup.filtering_wanted({"TF_CPP_MIN_LOG_LEVEL": "3"})
    assert not startup.filtering_wanted({"TF_CPP_MIN_LOG_LEVEL": "0"})  # the user asked for every line
    assert not startup.filtering_wanted({"KERAS_BACKEND": "jax"})
    monkeypatch.undo()
    assert not startup.filtering_wanted({})  # TensorFlow is already loaded in this process


@pytest.mark.parametrize("level", [None, "3"])
def test_every_command_starts_quietly(level):
    """The console script's real stderr: not one line before (or after) the help text, whether the log level is
    left to the kit or set to 3 by the user."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    env.update({"TF_CPP_MIN_LOG_LEVEL": level} if level else {})
    done = subprocess.run([str(BIN / "kerascnn"), "--help"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.startswith("usage: kerascnn")
    assert done.stderr == ""


def _shadow(tmp_path, module: str, raises: str) -> str:
    """A package named ``module``, first on the path, whose import raises ``raises`` (Python source)."""
    shadow = tmp_path / "shadow" / module
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(f"raise {raises}\n")
    return str(shadow.parent)


def test_a_missing_backend_is_one_line_naming_the_extra_to_install(tmp_path):
    """``pip install kerascnn`` without an extra (here: Keras told to use PyTorch, made missing even where it is
    installed by a ``torch`` package first on the path that fails to import as an absent one does)."""
    path = _shadow(tmp_path, "torch", "ModuleNotFoundError(\"No module named 'torch'\", name='torch')")
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": path}
    for command in ([str(BIN / "kerascnn"), "models"], [sys.executable, "-m", "kerascnn", "search"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode == 2 and done.stdout == "", command
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("kerascnn: error: Keras' backend is 'torch'")
        assert 'pip install "kerascnn[torch]"' in done.stderr
    # --version and --help need no backend: they answer as usual
    from kerascnn import __version__

    for flags, out in ((["--version"], f"kerascnn {__version__}\n"), (["search", "--help"], "usage: kerascnn search")):
        done = subprocess.run([str(BIN / "kerascnn"), *flags], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and done.stdout.startswith(out) and done.stderr == "", (flags, done)


def test_ctrl_c_while_keras_loads_is_one_line_and_status_130(tmp_path):
    """A Ctrl-C in the seconds TensorFlow takes to import (made certain by a ``keras`` whose import is
    interrupted): the command says so in one line; ``import kerascnn`` in a script still raises it."""
    env = {**os.environ, "PYTHONPATH": _shadow(tmp_path, "keras", "KeyboardInterrupt")}
    done = subprocess.run([str(BIN / "kerascnn"), "models"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 130 and done.stdout == ""
    assert done.stderr.strip() == "kerascnn: interrupted while starting (nothing was done)", done.stderr
    script = subprocess.run([sys.executable, "-c", "import kerascnn"], env=env, capture_output=True, text=True)
    assert script.returncode != 0 and "KeyboardInterrupt" in script.stderr
