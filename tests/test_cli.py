"""The command line, run as users run it (a subprocess: the console script).

``python -m kerascnn`` is the program tests/search/test_run.py starts in its subprocess tests.
"""

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
    assert lines[0].split() == [
        "name",
        "family",
        "ranks",
        "input",
        "shape",
        "parameters",
        "keras",
        "twin",
        "searchable",
        "knobs",
    ]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["vgg16"][1:6] == ["vgg", "1D,2D,3D", "224×224×3", "138,357,544", "VGG16"]  # signals, images, volumes
    assert rows["lenet5"][1:6] == ["lenet", "2D", "32×32×1", "61,706", "-"]
    assert rows["alexnet"][4] == "62,378,344"
    assert set(rows) >= {"simple_cnn", "vgg11", "vgg13", "vgg19", "vgg19_bn"}
    assert rows["mobilenet_v2"][4] == "3,538,984" and "resnet50" not in rows
    # the family knobs a search can tune, and signals for MobileNetV3
    assert rows["mobilenet_v3_small"][2] == "1D,2D" and rows["mobilenet_v3_small"][5] == "MobileNetV3Small"
    assert {"se_ratio", "activation", "alpha"} <= set(rows["mobilenet_v3_small"][6].split(","))


def test_models_in_process_with_filters_and_shape(capsys):
    assert cli.main(["models", "simple*", "--input-shape", "28,28,1", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "28×28×1" in out and "simple_cnn" in out and "vgg" not in out
    # too small for a model: reported in the table, not a crash
    assert cli.main(["models", "alexnet", "--input-shape", "32,32,3"]) == 0
    assert "n/a (Invalid `input_shape` for alexnet" in capsys.readouterr().out
    # a signal: VGG builds its 1D form, LeNet (images only) says so in the table
    assert cli.main(["models", "[lv]*1*", "--input-shape", "40,1"]) == 0
    assert cli.main(["models", "lenet5", "--input-shape", "40,1"]) == 0
    out = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if line[:1] in "lv"}
    assert out["vgg11"][2:5] == ["1D,2D,3D", "40×1", "26,054,504"]
    assert out["lenet5"][2:5] == ["2D", "40×1", "n/a"]


def test_models_lists_the_family_knobs_and_ranks(capsys):
    assert cli.main(["models", "convnext_t*", "--no-params"]) == 0
    row = capsys.readouterr().out.splitlines()[2].split()
    assert row[:3] == ["convnext_tiny", "convnext", "1D,2D,3D"] and row[5] == "ConvNeXtTiny"
    assert row[6].split(",") == ["kernel_size", "norm", "drop_path_rate"]


def test_no_match_and_bad_shape(capsys):
    assert cli.main(["models", "inception_v9*"]) == 1
    with pytest.raises(SystemExit):
        cli.main(["models", "--input-shape", "big"])
    assert "expected sizes like 32,32,3" in capsys.readouterr().err


# ------------------------------------------------------------------ bad input and run safety (in-process)
def _experiment(tmp_path, **data):
    import yaml

    path = tmp_path / "exp.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "run",
                "data": {"source": "digits", "subset": 300, **data},
                "model": {"architecture": "simple_cnn", "params": {"conv_layers": 1, "dense_units": 8}},
                "search": {"max_trials": 1, "space": {"filters": [4]}},
                "train": {"epochs": 1},
            }
        )
    )
    return str(path)


def test_overwrite_never_removes_a_folder_the_kit_did_not_make(tmp_path, capsys):
    out = tmp_path / "runs"
    (out / "other-run").mkdir(parents=True)
    (out / "other-run" / "trials.csv").write_text("kept")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.tex").write_text("kept")
    exp = _experiment(tmp_path)
    for name in ("../victim", "."):  # outside --out, and --out itself
        assert cli.main(["search", exp, "--out", str(out), "--set", f"name={name}", "--overwrite"]) == 2
        err = capsys.readouterr().err
        assert "Invalid `name`" in err and f"Received: name={name!r}" in err and "Traceback" not in err
    # a run named like the image folder it trains on, with --out pointing at its parent
    photos = tmp_path / "photos"
    for label in ("cats", "dogs"):
        (photos / label).mkdir(parents=True)
        (photos / label / "1.png").write_bytes(b"not checked before the refusal")
    exp = _experiment(tmp_path, source="image_folder", path=str(photos))
    assert cli.main(["search", exp, "--out", str(tmp_path), "--set", "name=photos", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert f"the run directory (--out / name) '{photos}' is the image folder data.path" in err
    for argv in (["--out", str(photos)], ["--set", f"data.cache={photos / 'cache'}"]):  # inside it: refused too
        assert cli.main(["search", exp, "--out", str(tmp_path / "runs"), *argv]) == 2
        assert "or inside it: the folder's next listing would read it as a class" in capsys.readouterr().err
    assert (victim / "thesis.tex").read_text() == "kept" and (out / "other-run" / "trials.csv").read_text() == "kept"
    assert sorted(p.name for p in photos.iterdir()) == ["cats", "dogs"] and (photos / "cats" / "1.png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--set", "search.space.kernel_size=[3, 5"],
            "Invalid --set 'search.space.kernel_size=[3, 5': the value is not valid YAML",
        ),
        (
            ["--set", "search.space.kernel_size=[0, 3]"],
            "Invalid `search.space.kernel_size`: expected integers >= 1. Received: search.space.kernel_size=0",
        ),
        (["--set", "train=3"], "`train` must be a mapping"),
        (["--max-trials", "0"], "Invalid `search.max_trials`"),
    ],
)
def test_bad_input_is_one_line_with_status_2(tmp_path, capsys, argv, message):
    assert cli.main(["search", _experiment(tmp_path), "--out", str(tmp_path / "runs"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2
    assert not (tmp_path / "runs").exists()


def test_a_top_level_list_with_a_flag_is_a_message(tmp_path, capsys):
    listed = tmp_path / "list.yaml"
    listed.write_text("- name: a\n- name: b\n")
    assert cli.main(["search", str(listed), "--epochs", "3"]) == 2
    assert "must be a mapping of sections" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path):
    from kerascnn.config import ConfigError

    with pytest.raises(ConfigError):
        cli.main(["--debug", "search", _experiment(tmp_path), "--set", "search.space.kernel_size=[3, 5"])


def test_a_file_system_error_is_named_with_status_74(tmp_path, capsys, monkeypatch):
    from kerascnn import rundir

    def refuse(run_dir, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(run_dir))

    monkeypatch.setattr(rundir, "open_run", refuse)
    assert cli.main(["search", _experiment(tmp_path), "--out", str(tmp_path / "ro")]) == 74
    err = capsys.readouterr().err
    assert f"cannot use '{tmp_path / 'ro' / 'run'}': Permission denied (check its permissions" in err
    assert "Traceback" not in err


def test_a_full_disk_mid_search_is_one_line_status_74_and_the_rerun_trains_the_lost_trial(tmp_path):
    """A file-size limit (``ulimit -f``, as a full disk) hit by the first trial's checkpoint: HDF5 used to print
    dozens of tracebacks, record the trial FAILED and crash (status 139). Now: one line naming the file, status
    74, the trial not recorded; the same command with room trains it and finishes."""
    import csv
    import resource

    exp, out = _experiment(tmp_path), tmp_path / "runs"

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))  # a model checkpoint is about 45 KB

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [str(BIN / "kerascnn"), "search", exp, "--out", str(out), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, preexec_fn=small_files)
    assert done.returncode == 74, (done.returncode, done.stderr[-2000:])
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "checkpoint.weights.h5': File too large (a file would exceed" in done.stderr
    assert "trial 0 was not recorded and runs again then" in done.stderr
    assert not (out / "run" / "trials.csv").exists()  # no trial was recorded, as failed or otherwise
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    with open(out / "run" / "trials.csv", newline="") as f:
        assert [(r["trial_id"], r["status"]) for r in csv.DictReader(f)] == [("0", "COMPLETED")]


def test_a_read_only_tuner_folder_is_one_line_with_status_74(tmp_path, capsys, monkeypatch):
    """keras-tuner makes trial folders with TensorFlow's file API, which words a read-only folder as
    ``PermissionDeniedError: <path>; Read-only file system`` (seen with a read-only bind mount of tuner/;
    here TensorFlow's error is raised where keras-tuner makes the folder, since root ignores permissions)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("keras-tuner uses TensorFlow's file API only where TensorFlow is installed")
    import tensorflow as tf

    exp, out = _experiment(tmp_path), tmp_path / "runs"

    def read_only(path):
        raise tf.errors.PermissionDeniedError(None, None, f"{path}; Read-only file system")

    monkeypatch.setattr(tf.io.gfile, "makedirs", read_only)  # what keras-tuner calls to make a folder
    assert cli.main(["search", exp, "--out", str(out), "--quiet"]) == 74
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Read-only file system (the file system is read-only" in err, err
    assert f"cannot use '{out / 'run' / 'tuner'}" in err


def test_the_file_systems_refusal_is_found_however_a_library_words_it():
    from kerascnn.rundir import environment_error

    hdf5 = RuntimeError(
        "Can't decrement id ref count (file write failed: time = Mon Dec  7 07:03:26 2026\n, filename = "
        "'runs/x/checkpoint.weights.h5', file descriptor = 5, errno = 28, error message = 'No space left')"
    )
    tf = RuntimeError("ro/full/tuner/trial_1; Read-only file system")
    wrapped = ValueError("could not save")
    wrapped.__cause__ = OSError(122, "Disk quota exceeded", "runs/x/summary.json")
    found = [environment_error(e) for e in (hdf5, tf, wrapped)]
    assert [(e.errno, e.filename) for e in found] == [
        (28, "runs/x/checkpoint.weights.h5"),
        (30, "ro/full/tuner/trial_1"),
        (122, "runs/x/summary.json"),
    ]
    assert environment_error(ValueError("kernel_size 3 > input 2")) is None
    assert environment_error(FileNotFoundError(2, "No such file or directory", "x.npz")) is None


@pytest.mark.skipif(
    os.geteuid() == 0,
    reason="root ignores permission bits, so a read-only folder cannot be made "
    "here; the mapping of the OSError is tested above",
)
def test_a_read_only_out_folder(tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        assert cli.main(["search", _experiment(tmp_path), "--out", str(out)]) == 74
        assert "Permission denied" in capsys.readouterr().err
    finally:
        out.chmod(0o700)


def test_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "runs").write_text("a file")
    assert cli.main(["search", _experiment(tmp_path), "--out", str(tmp_path / "runs")]) == 3
    assert "is a file, not a folder" in capsys.readouterr().err


def test_a_photo_folder_run_keeps_its_split_through_resume_and_evaluate(tmp_path, capsys):
    import csv

    from tests.data.test_streaming import _folder

    photos = _folder(tmp_path / "photos")
    exp = _experiment(tmp_path, source="image_folder", path=str(photos), image_size=[8, 8], subset=None)
    out = tmp_path / "runs"
    assert cli.main(["search", exp, "--out", str(out)]) == 0
    split = (out / "run" / "split.csv").read_text()
    rows = list(csv.DictReader(split.splitlines()))
    assert len(rows) == 24 and {r["part"] for r in rows} == {"train", "validation", "test"}
    _folder(photos, counts=(("cat", 30, 30),))  # more photos arrive before the resume (the first 12 as they were)
    assert cli.main(["search", exp, "--out", str(out), "--max-trials", "2"]) == 0
    assert (out / "run" / "split.csv").read_text() == split
    predicted = list(csv.DictReader((out / "run" / "predictions_test.csv").read_text().splitlines()))
    assert [p["file"] for p in predicted] == [r["file"] for r in rows if r["part"] == "test"]
    capsys.readouterr()
    assert cli.main(["evaluate", str(out / "run" / "best_model.keras"), "--data", exp]) == 0
    tested = sum(r["part"] == "test" for r in rows)
    assert f"test samples: {tested}\n" in capsys.readouterr().out
