"""The experiments that ship with the kit: found by name from any folder, listed, copied to edit."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from kerascnn import cli, config, experiments

ROOT = Path(__file__).resolve().parents[1]


def test_every_built_in_experiment_is_valid_and_says_what_it_shows():
    assert experiments.names()[0] == "digits" == experiments.DEFAULT
    assert set(experiments.names()) >= {"digits", "digits_zoo", "mnist1d", "shapes3d"}
    for name in experiments.names():
        cfg = config.load(experiments.path(name))
        assert cfg.name and experiments.summary(name).endswith("."), name
        assert (ROOT / "experiments" / f"{name}.yaml").read_text() == experiments.path(name).read_text()


def test_a_name_finds_the_built_in_from_any_folder_and_a_local_file_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config.load("mnist1d").data.source == "mnist1d"
    assert config.load("digits.yaml").name == "digits-simple"
    (tmp_path / "digits.yaml").write_text("name: mine\n")
    assert config.load("digits.yaml").name == "mine"  # a file in the folder is the user's
    with pytest.raises(config.ConfigError, match="not found: nope.*ship with the kit: digits, digits_zoo"):
        config.load("nope")


def test_experiments_lists_them_and_init_copies_one_without_overwriting(tmp_path, capsys, monkeypatch):
    assert cli.main(["experiments"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("digits ") and any(line.startswith("mnist1d ") for line in lines)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["init", "mine", "--from", "shapes3d"]) == 0
    assert (tmp_path / "mine.yaml").read_text() == experiments.path("shapes3d").read_text()  # comments kept
    assert "kerascnn search mine.yaml" in capsys.readouterr().out
    (tmp_path / "mine.yaml").write_text("name: edited\n")
    assert cli.main(["init", "mine.yaml"]) == cli.EXIT_BAD_INPUT
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "mine.yaml").read_text() == "name: edited\n"  # the user's file is untouched
    assert cli.main(["init", "other.yaml", "--from", "cifar"]) == cli.EXIT_BAD_INPUT
    assert "'cifar' is not a built-in experiment" in capsys.readouterr().err


@pytest.mark.slow
def test_a_non_editable_install_runs_the_built_ins_from_an_empty_folder(tmp_path):
    """The wheel carries the experiments: installed (no source tree on the path), from an empty folder."""
    wheels, site, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "empty"
    work.mkdir()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)], check=True, timeout=600
    )
    (wheel,) = wheels.glob("kerascnn-*.whl")
    assert {f"kerascnn/experiments/{n}.yaml" for n in experiments.names()} <= set(zipfile.ZipFile(wheel).namelist())
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
        timeout=600,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = (
        "import kerascnn, sys; from kerascnn import cli, config; assert kerascnn.__file__.startswith(sys.argv[1]); "
        "print(config.load('digits').name); sys.exit(cli.main(['init', 'mine.yaml', '--from', 'mnist1d']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(site)], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("digits-simple") and done.stderr == ""
    assert yaml.safe_load((work / "mine.yaml").read_text())["name"] == "mnist1d-conv1d"


def test_init_refuses_a_folder_or_a_missing_folder_by_name(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["init", "."]) == cli.EXIT_BAD_INPUT
    assert "init writes a file: give its name" in capsys.readouterr().err
    assert cli.main(["init", "no/such/folder/x.yaml"]) == cli.EXIT_BAD_INPUT
    assert "the folder no/such/folder does not exist" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing written
