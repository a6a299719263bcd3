"""The command line, run as users run it (a subprocess: the console script)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kerascnn import cli

BIN = Path(sys.executable).parent


def _run(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)


def test_console_script_lists_models_with_parameter_counts():
    # a filter keeps it quick: branching models (mobilenet_v2) are built to be counted
    result = _run(str(BIN / "kerascnn"), "models", "[alsvm]*")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "family", "input", "shape", "parameters"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["vgg16"][1:] == ["vgg", "224×224×3", "138,357,544"]
    assert rows["lenet5"][1:] == ["lenet", "32×32×1", "61,706"]
    assert rows["alexnet"][-1] == "62,378,344"
    assert set(rows) >= {"simple_cnn", "vgg11", "vgg13", "vgg19", "vgg19_bn"}
    assert rows["mobilenet_v2"][-1] == "3,538,984" and "resnet50" not in rows


def test_python_dash_m_is_the_same_program():
    result = _run(sys.executable, "-m", "kerascnn", "models", "--family", "lenet")
    assert result.returncode == 0, result.stderr
    assert "61,706" in result.stdout and "vgg" not in result.stdout


def test_models_in_process_with_filters_and_shape(capsys):
    assert cli.main(["models", "simple*", "--input-shape", "28,28,1", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "28×28×1" in out and "simple_cnn" in out and "vgg" not in out
    # too small for a model: reported in the table, not a crash
    assert cli.main(["models", "alexnet", "--input-shape", "32,32,3"]) == 0
    assert "n/a (Invalid `input_shape` for alexnet" in capsys.readouterr().out


def test_no_match_and_bad_shape(capsys):
    assert cli.main(["models", "inception_v9*"]) == 1
    with pytest.raises(SystemExit):
        cli.main(["models", "--input-shape", "big"])
    assert "expected sizes like 32,32,3" in capsys.readouterr().err
