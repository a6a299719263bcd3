"""End-to-end searches on digits: the run directory, rejections, failures, seeds, resume."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import keras

import kerascnn
from kerascnn import config, geometry, rundir
from kerascnn.results.report import leaderboard
from kerascnn.search import run_search


def _config(name, **sections):
    raw = {
        "name": name,
        "data": {"source": "digits"},
        "model": {"architecture": "simple_cnn", "params": {"conv_layers": 2, "dense_units": 32}},
        "search": {"tuner": "random", "max_trials": 2, "space": {"kernel_size": [3, 5], "filters": [8, 16]}},
        "train": {"epochs": 1, "batch_size": 64},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return config.resolve(raw)


def _tiny(name, **sections):
    """A quick experiment: 300 of the digits."""
    return _config(name, data={"source": "digits", "subset": 300}, **sections)


def _rows(run_dir):
    with open(Path(run_dir) / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    lines = []
    run_dir = run_search(_tiny("e2e"), out=out, printer=lines.append)
    return run_dir, lines


@pytest.mark.backend
def test_run_directory_has_every_file(finished_run):
    run_dir, _ = finished_run
    for name in ("config.yaml", "trials.csv", "summary.json", "predictions_test.csv", "best_model.keras"):
        assert (run_dir / name).is_file(), name
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["train"]["optimizer"] == "adam"  # resolved, defaults filled in
    trial_dirs = sorted(p.name for p in (run_dir / "tb").iterdir() if p.is_dir() and p.name not in ("run_info", "test"))
    assert (run_dir / "tb" / "test").is_dir()  # the final model's test figures
    assert trial_dirs == ["0", "1"]  # one TensorBoard folder per trial
    for name in ("report.md", "leaderboard.csv", "leaderboard.md", "objective_per_trial.png"):
        assert (run_dir / name).is_file(), name  # the report is written at the end of every search


@pytest.mark.backend
def test_trials_csv_contents(finished_run):
    run_dir, _ = finished_run
    rows = _rows(run_dir)
    assert [r["trial_id"] for r in rows] == ["0", "1"] and all(r["status"] == "COMPLETED" for r in rows)
    for column in (
        "block1/kernel_size",
        "block2/filters",
        "val_f1_macro",
        "val_precision_macro",
        "val_recall_macro",
        "val_accuracy",
        "params",
        "seconds",
    ):
        assert column in rows[0], column
    for r in rows:
        assert 0 <= float(r["val_f1_macro"]) <= 1 and int(r["params"]) > 0 and float(r["seconds"]) > 0


@pytest.mark.backend
def test_summary_json_contents(finished_run):
    run_dir, _ = finished_run
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["best"]["trial_id"] in ("0", "1")
    assert "block1/kernel_size" in s["best"]["hyperparameters"]
    assert "val_f1_macro" in s["best"]["metrics"]
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted", "f1_class_0"):
        assert key in s["test"], key
    assert s["counts"] == {"completed": 2, "pruned": 0, "failed": 0, "rejected": 0}
    assert 0.9 < s["baselines"]["svc"]["accuracy"] <= 1 and "f1_macro" in s["baselines"]["svc"]


@pytest.mark.backend
def test_predictions_agree_with_the_summary_and_the_saved_model(finished_run):
    import numpy as np

    from kerascnn.data import load_dataset
    from kerascnn.evaluation.metrics import classification_metrics

    run_dir, _ = finished_run
    with open(run_dir / "predictions_test.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    y_true = np.array([int(r["y_true"]) for r in rows])
    y_pred = np.array([int(r["y_pred"]) for r in rows])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert len(rows) == summary["data"]["test"] == 60  # 20% of the 300-digit subset
    assert classification_metrics(y_true, y_pred, 10)["f1_macro"] == pytest.approx(summary["test"]["f1_macro"])
    assert summary["predictions_from"] == "final_model.keras"  # search.refit is on by default
    model = keras.saving.load_model(run_dir / summary["predictions_from"])
    data = load_dataset({"source": "digits", "subset": 300}, seed=0)
    np.testing.assert_array_equal(data.y_test, y_true)
    np.testing.assert_array_equal(model.predict(data.x_test, verbose=0).argmax(1), y_pred)


@pytest.mark.backend
def test_one_progress_line_per_trial_and_report(finished_run):
    run_dir, lines = finished_run
    trial_lines = [l for l in lines if l.startswith("[")]
    assert [l.split()[0] for l in trial_lines] == ["[1/2]", "[2/2]"]
    assert "val_f1_macro=" in trial_lines[0] and "best=" in trial_lines[1] and "left" in trial_lines[1]
    board = leaderboard(run_dir)
    assert board.splitlines()[0].split()[:4] == ["rank", "trial", "status", "val_f1_macro"]
    assert "2 completed, 0 pruned, 0 failed, 0 candidates rejected" in board


def test_naive_space_completes_every_trial_and_never_trains_a_collapsing_net(tmp_path):
    """Per-layer kernel 3/5/7 × strides 1/2 × valid/same with pooling on 8×8 digits."""
    cfg = _tiny(
        "naive",
        model={"architecture": "simple_cnn", "params": {"conv_layers": 3, "pool": "max", "dense_units": 16}},
        search={
            "tuner": "random",
            "max_trials": 3,
            "space": {"kernel_size": [3, 5, 7], "strides": [1, 2], "padding": ["valid", "same"]},
        },
    )
    lines = []
    run_dir = run_search(cfg, out=tmp_path, printer=lines.append)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"]["completed"] == 3 and summary["counts"]["failed"] == 0
    assert summary["counts"]["rejected"] > 0
    assert summary["rejection_reasons"].get("feature map collapses", 0) > 0
    for row in _rows(run_dir):  # every trained candidate fits the 8×8 input
        layers = [
            {
                "kernel_size": int(row[f"block{i}/kernel_size"]),
                "strides": int(row[f"block{i}/strides"]),
                "padding": row[f"block{i}/padding"],
            }
            for i in (1, 2, 3)
        ]
        specs = kerascnn.plan_model(
            "simple_cnn", input_shape=(8, 8, 1), num_classes=10, conv_layers=layers, dense_units=16
        ).specs
        assert geometry.check_fits((8, 8, 1), specs).ok
    rejected = [json.loads(l) for l in (run_dir / "rejections.jsonl").read_text().splitlines()]
    assert all("collapses" in r["reason"] or "dilation" in r["reason"] for r in rejected)


def test_parameter_budget_rejects_before_training(tmp_path):
    cfg = _tiny(
        "budget", search={"max_trials": 2, "space": {"filters": [8, 64]}, "constraints": {"max_params": 20_000}}
    )
    run_dir = run_search(cfg, out=tmp_path, printer=lambda line: None)
    assert all(int(r["params"]) <= 20_000 for r in _rows(run_dir))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"]["completed"] == 2


def test_failing_trial_is_recorded_and_the_search_goes_on(tmp_path):
    cfg = _tiny(
        "fails",
        search={"tuner": "grid", "max_trials": 2, "space": {"learning_rate": [0.01, 1.0e12]}},
        train={"epochs": 1, "optimizer": "sgd", "momentum": 0.0},
    )
    run_dir = run_search(cfg, out=tmp_path, printer=lambda line: None)
    rows = {r["learning_rate"]: r for r in _rows(run_dir)}
    assert rows["0.01"]["status"] == "COMPLETED"
    failed = rows["1000000000000.0"]
    assert failed["status"] == "FAILED" and "NaN" in failed["message"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"]["failed"] == 1 and summary["best"]["trial_id"] == rows["0.01"]["trial_id"]


def test_same_seed_same_candidates(tmp_path):
    """The same experiment draws the same candidates in the same order (asked of the oracle: no training)."""
    from kerascnn.search import run as run_module

    cfg = _tiny(
        "seeded",
        search={
            "max_trials": 4,
            "space": {"kernel_size": [3, 5], "filters": [4, 8, 16], "dropout": {"min": 0.0, "max": 0.5, "step": 0.1}},
        },
    )

    def candidates(folder):
        experiment = config.resolve(cfg)
        _, hypermodel, strategy = run_module._prepare(experiment, None, lambda line: None)
        tuner = run_module._make_tuner(experiment, hypermodel, folder, strategy, lambda line: None)
        return [tuner.oracle.create_trial(f"t{i}").hyperparameters.values for i in range(4)]

    first = candidates(tmp_path / "a")
    assert first == candidates(tmp_path / "b")
    assert len({tuple(sorted(v.items())) for v in first}) == 4  # four different candidates


def test_a_trial_scores_the_same_whatever_ran_before_it_in_the_process(tmp_path):
    """Trial 01 of an uninterrupted search, and trial 01 run alone on the resume after the search stopped at one
    trial (as after a kill, with other randomness drawn in between): the same weights, the same scores."""
    cfg = _tiny("reseeded", search={"max_trials": 2, "space": {"filters": [8, 16], "dropout": [0.0, 0.3]}})
    whole = _rows(run_search(cfg, out=tmp_path / "whole", printer=lambda line: None))
    first = config.resolve({**cfg.to_dict(), "search": {**cfg.to_dict()["search"], "max_trials": 1}})
    run_search(first, out=tmp_path / "cut", printer=lambda line: None)
    keras.utils.set_random_seed(12345)  # whatever else the process did in between
    keras.random.normal((3,))
    resumed = _rows(run_search(cfg, out=tmp_path / "cut", printer=lambda line: None))
    assert [r["trial_id"] for r in resumed] == ["0", "1"] == [r["trial_id"] for r in whole]
    for column in ("val_loss", "val_f1_macro", "val_accuracy"):
        assert resumed[1][column] == whole[1][column], column


def test_a_resume_on_changed_data_is_refused_naming_what_changed(tmp_path):
    """The same .npz path rewritten with other samples: the run is not resumed (trials of two datasets would be
    ranked together), the differences are named, nothing in the run is changed; the original data resumes."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    data = tmp_path / "digits.npz"
    np.savez(data, x=digits.images[:300], y=digits.target[:300])
    cfg = _config("npz", data={"source": "npz", "path": str(data)}, search={"max_trials": 1, "space": {"filters": [8]}})
    run_dir = run_search(cfg, out=tmp_path / "runs", printer=lambda line: None)
    saved = (run_dir / "data.json").read_text()
    stamps = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.name != rundir.LOCK}
    images = digits.images[:300].copy()
    images[17] = 16 - images[17]
    for x, y, expected in (
        (images, digits.target[:300], "the samples' content differs"),
        (digits.images[:330], digits.target[:330], "train: 195 -> 214 samples"),
    ):
        np.savez(data, x=x, y=y)
        with pytest.raises(rundir.DataChanged, match="holds trials trained on other data") as err:
            run_search(cfg, out=tmp_path / "runs", printer=lambda line: None)
        assert expected in str(err.value) and "--set name=NEW_NAME" in str(err.value), str(err.value)
        assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.name != rundir.LOCK} == stamps
    np.savez(data, x=digits.images[:300], y=digits.target[:300])
    run_search(cfg, out=tmp_path / "runs", printer=lambda line: None)  # the same data again: resumed
    assert (run_dir / "data.json").read_text() == saved


def test_a_run_folder_removed_during_the_search_stops_it_and_the_rerun_starts_cleanly(tmp_path, monkeypatch):
    """``rm -rf`` of the run folder mid-trial: keras-tuner recreated folders and the search ended with status 0,
    leaving a folder without marker or config that the next command refused. Now it stops (RunDirRemoved),
    removes what it recreated, and the same command starts again."""
    import shutil

    from kerascnn.search.hypermodel import CNNHyperModel

    original = CNNHyperModel.fit
    cfg = _tiny("removed", search={"max_trials": 2, "space": {"filters": [4, 8]}})

    def fit_then_removed(self, hp, model, *args, **kwargs):
        result = original(self, hp, model, *args, **kwargs)
        shutil.rmtree(tmp_path / "runs" / "removed")
        return result

    monkeypatch.setattr(CNNHyperModel, "fit", fit_then_removed)
    with pytest.raises(rundir.RunDirRemoved, match="was removed or replaced while the search ran .* removed what"):
        run_search(cfg, out=tmp_path / "runs", printer=lambda line: None)
    assert not (tmp_path / "runs" / "removed").exists()
    monkeypatch.setattr(CNNHyperModel, "fit", original)
    run_dir = run_search(cfg, out=tmp_path / "runs", printer=lambda line: None)
    assert [r["status"] for r in _rows(run_dir)] == ["COMPLETED", "COMPLETED"]


def test_changed_experiment_is_not_mixed_into_an_old_run(tiny_run, tmp_path):
    run_dir, cfg = _copy_run(tiny_run, tmp_path)
    saved = (run_dir / "config.yaml").read_text()
    other = config.resolve({**cfg.to_dict(), "train": {**cfg.to_dict()["train"], "learning_rate": 0.01}})
    with pytest.raises(rundir.ExperimentChanged, match=r"train.learning_rate: 0.001 -> 0.01") as err:
        run_search(other, out=run_dir.parent, printer=lambda line: None)
    assert "--set name=" in str(err.value) and "--overwrite" in str(err.value)
    assert (run_dir / "config.yaml").read_text() == saved  # the old settings stay on record
    run_dir = run_search(other, out=run_dir.parent, overwrite=True, printer=lambda line: None)
    assert len(_rows(run_dir)) == 1
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["learning_rate"] == 0.01


def _cli(*args, **kwargs):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "kerascnn", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        **kwargs,
    )


def test_kill_9_then_rerun_resumes_and_loses_at_most_the_running_trial(tmp_path):
    exp = tmp_path / "resume.yaml"
    exp.write_text(
        yaml.safe_dump(
            {
                "name": "resume",
                "data": {"source": "digits", "subset": 300},
                "model": {"architecture": "simple_cnn", "params": {"conv_layers": 2, "dense_units": 32}},
                "search": {"max_trials": 3, "space": {"kernel_size": [3, 5], "filters": [8, 16, 32]}},
                "train": {"epochs": 3},
            }
        )
    )
    run_dir = tmp_path / "runs" / "resume"
    proc = _cli("search", str(exp), "--out", str(tmp_path / "runs"))
    deadline = time.time() + 240
    completed_before = []
    while time.time() < deadline and proc.poll() is None:
        if (run_dir / "trials.csv").exists():
            completed_before = [r for r in _rows(run_dir) if r["status"] == "COMPLETED"]
            if completed_before:
                break
        time.sleep(0.2)
    assert completed_before, "no trial finished before the deadline"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {r["trial_id"]: r for r in completed_before}

    lines = []  # the same experiment again, in this process (only the kill needed a separate one)
    run_search(config.load(exp), out=tmp_path / "runs", printer=lines.append)
    rows = _rows(run_dir)
    assert [r["status"] for r in rows] == ["COMPLETED"] * 3, lines
    for trial_id, before in first.items():  # finished trials kept as they were, not rerun
        after = next(r for r in rows if r["trial_id"] == trial_id)
        assert after["seconds"] == before["seconds"] and after["val_f1_macro"] == before["val_f1_macro"]
    assert json.loads((run_dir / "summary.json").read_text())["counts"]["completed"] == 3


def test_cli_search_with_overrides_and_report(tmp_path, capsys):
    """In-process (the console script in a subprocess: the kill -9 and Ctrl-C tests, tests/test_cli.py)."""
    from kerascnn import cli

    assert (
        cli.main(
            [
                "search",
                "--out",
                str(tmp_path),
                "--max-trials",
                "1",
                "--epochs",
                "1",
                "--set",
                "search.space.filters=[8]",
                "--set",
                "name=cli-run",
                "--set",
                "data.subset=300",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "[1/1] trial 0" in out and "test accuracy" in out
    assert cli.main(["report", str(tmp_path / "cli-run")]) == 0
    out = capsys.readouterr().out
    assert "rank" in out and "1 completed" in out


def test_max_seconds_ends_the_whole_command_near_its_budget_with_the_refit_planned_in(tmp_path, capsys):
    """search.max_seconds on the real clock (the plan itself: tests/test_budget.py): far more trials than fit, and
    the command still ends near the budget with its results; --max-seconds sets it."""
    from kerascnn import cli

    start = time.perf_counter()
    args = ["search", "--out", str(tmp_path), "--max-trials", "500", "--epochs", "2", "--max-seconds", "12"]
    for setting in ("name=budget", "data.subset=300", "search.space.filters=[8]", "search.refit_seeds=2"):
        args += ["--set", setting]
    assert cli.main(args) == 0
    seconds = time.perf_counter() - start
    out = capsys.readouterr().out
    assert "500 trials × 2 epochs, within 12s" in out
    assert "Search stopped by search.max_seconds=12:" in out and "test accuracy" in out
    summary = json.loads((tmp_path / "budget" / "summary.json").read_text())
    assert 1 <= summary["counts"]["completed"] < 500
    assert summary["budget"]["max_seconds"] == 12 and summary["budget"]["refit_seeds"] in (0, 1, 2)
    assert summary["budget"]["seconds_per_epoch"] > 0
    assert seconds < 12 * 2.5, f"the command took {seconds:.1f}s on a 12 s budget"


def test_a_budget_that_ends_inside_the_first_trial_keeps_that_trial_as_the_result(tmp_path):
    """The first trial cannot finish 300 epochs in 12 s: it stops when only the reserve is left, is recorded as
    stopped by the budget, and (no trial having finished) its best epoch so far is the result."""
    lines = []
    cfg = _tiny("cut", search={"max_seconds": 12, "refit": False}, train={"epochs": 300})
    start = time.perf_counter()
    run_dir = run_search(cfg, out=tmp_path, printer=lines.append)
    assert time.perf_counter() - start < 12 * 3
    (row,) = _rows(run_dir)
    assert row["status"] == "PRUNED" and row["message"].startswith("stopped at epoch ")
    assert row["message"].endswith(": search.max_seconds ran out") and int(row["pruned_epoch"]) < 300
    assert any(f"STOPPED at epoch {row['pruned_epoch']} by search.max_seconds" in line for line in lines)
    assert any(line.startswith("note: no trial finished within search.max_seconds; trial 0") for line in lines)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best"]["trial_id"] == "0" and summary["test"]["accuracy"] > 0.1
    assert (run_dir / "best_model.keras").exists()


def test_cli_refuses_a_bad_experiment_before_any_work(tmp_path, capsys):
    from kerascnn import cli

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsearch: {objective: val_f1}\n")
    assert cli.main(["search", str(bad), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Invalid `search.objective`" in err and "val_f1_macro" in err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_default_experiment_runs_as_readme_says(tmp_path):
    """README's main job, as shipped: 10 trials, a top-3 ensemble of 5-seed refits, not below the SVC (3-5 minutes).

    README's table has the ensemble level with the SVC on seed 1 and above it
    on seeds 0 and 2, so the test asks for "not below", not "above".
    """
    start = time.time()
    run_dir = run_search(config.load("experiments/digits.yaml"), out=tmp_path, printer=lambda line: None)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert time.time() - start < 600
    counts = summary["counts"]
    assert counts["completed"] >= 5 and counts["completed"] + counts["pruned"] == 10 and counts["failed"] == 0
    final = summary["models"]["final_model.keras"]
    assert final["seeds"] == 5 and final["samples"] == 1437
    ensemble = summary["models"]["ensemble_model.keras"]
    assert len(ensemble["trial_ids"]) == 3 and ensemble["refit_seeds"] == 5
    assert summary["test_ensemble"]["accuracy"] >= summary["baselines"]["svc"]["accuracy"]


def test_a_trial_that_raises_is_recorded_failed_with_its_reason(tmp_path, monkeypatch):
    from kerascnn.search.hypermodel import CNNHyperModel

    original = CNNHyperModel.fit

    def flaky(self, hp, model, *args, **kwargs):
        if 5 in (hp.values["block1/kernel_size"], hp.values["block2/kernel_size"]):
            raise RuntimeError("simulated out of memory")
        return original(self, hp, model, *args, **kwargs)

    monkeypatch.setattr(CNNHyperModel, "fit", flaky)
    cfg = _tiny("raises", search={"tuner": "grid", "max_trials": 2, "space": {"kernel_size": [3, 5]}})
    lines = []
    run_dir = run_search(cfg, out=tmp_path, printer=lines.append)
    rows = {"5" if "5" in (r["block1/kernel_size"], r["block2/kernel_size"]) else "3": r for r in _rows(run_dir)}
    assert rows["3"]["status"] == "COMPLETED"
    assert rows["5"]["status"] == "FAILED" and "simulated out of memory" in rows["5"]["message"]
    assert any("FAILED" in line and "simulated out of memory" in line for line in lines)
    assert json.loads((run_dir / "summary.json").read_text())["counts"]["failed"] == 1


# ------------------------------------------------------------------ run safety: what a search may touch


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished one-trial run, copied by each test that damages it."""
    out = tmp_path_factory.mktemp("tiny")
    cfg = _tiny("tiny", search={"max_trials": 1, "space": {"filters": [8]}})
    return run_search(cfg, out=out, printer=lambda line: None), cfg


def _copy_run(tiny_run, tmp_path):
    import shutil

    run_dir, cfg = tiny_run
    copy = tmp_path / "runs" / run_dir.name
    shutil.copytree(run_dir, copy)
    return copy, cfg


def _cut(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_run_files_cut_short_by_a_kill_are_rewritten_on_resume(tiny_run, tmp_path):
    run_dir, cfg = _copy_run(tiny_run, tmp_path)
    before = _rows(run_dir)
    for name in (
        "config.yaml",
        "trials.csv",
        "summary.json",
        "predictions_test.csv",
        "best_model.keras",
        "final_model.keras",
        "report.md",
        "leaderboard.csv",
        "tuner/trial_0/kerascnn.json",
    ):
        _cut(run_dir / name)
    with open(run_dir / "rejections.jsonl", "a") as f:
        f.write('{"values": {"filters": 8}, "reas')  # half a line
    lines = []
    run_search(cfg, out=run_dir.parent, printer=lines.append)
    rows = _rows(run_dir)
    assert [(r["trial_id"], r["status"], r["val_f1_macro"]) for r in rows] == [
        (r["trial_id"], r["status"], r["val_f1_macro"]) for r in before
    ]  # the trial was kept, not rerun
    assert not any(line.startswith("[") for line in lines)
    assert any("1 line(s) of rejections.jsonl could not be read" in line for line in lines)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"] == {"completed": 1, "pruned": 0, "failed": 0, "rejected": 0}
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["name"] == "tiny"
    keras.saving.load_model(run_dir / "best_model.keras")
    keras.saving.load_model(run_dir / "final_model.keras")
    assert not list(run_dir.glob(".tmp-*"))


@pytest.mark.parametrize(
    "name",
    ["tuner/oracle.json", "tuner/tuner0.json", "tuner/trial_0/trial.json", "tuner/trial_0/checkpoint.weights.h5"],
)
def test_damaged_keras_tuner_state_is_named_and_nothing_is_deleted(tiny_run, tmp_path, name):
    run_dir, cfg = _copy_run(tiny_run, tmp_path)
    _cut(run_dir / name)
    if name.endswith(".h5"):  # an intact summary.json says best_model.keras already holds that trial: not reloaded
        (run_dir / "summary.json").unlink()
    files = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.name != rundir.LOCK)
    with pytest.raises(rundir.DamagedRunFile) as err:
        run_search(cfg, out=run_dir.parent, printer=lambda line: None)
    message = str(err.value)
    assert str(run_dir / (name if name.endswith(".json") else "tuner/trial_0")) in message
    assert "--overwrite" not in message and "--set name=" in message
    assert set(files) <= {str(p.relative_to(run_dir)) for p in run_dir.rglob("*")}  # nothing removed


def test_a_second_search_is_refused_while_the_first_runs_and_ctrl_c_says_how_to_resume(tmp_path):
    exp = tmp_path / "busy.yaml"
    exp.write_text(
        yaml.safe_dump(
            {
                "name": "busy",
                "data": {"source": "digits", "subset": 300},
                "model": {"architecture": "simple_cnn", "params": {"conv_layers": 2, "dense_units": 16}},
                "search": {"max_trials": 1, "space": {"filters": [8]}},
                "train": {"epochs": 300},
            }
        )
    )
    run_dir = tmp_path / "runs" / "busy"
    proc = _cli("search", str(exp), "--out", str(tmp_path / "runs"))
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (run_dir / "tb" / "0").exists():
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[0]
    before = {p: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    for overwrite in (False, True):
        with pytest.raises(rundir.RunLocked, match=rf"in use by another search \(pid {proc.pid} on "):
            run_search(config.load(exp), out=tmp_path / "runs", overwrite=overwrite, printer=lambda line: None)
    assert {p: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before  # the refused one wrote nothing
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert f"interrupted; rerun the same command to resume the search in {run_dir}" in out
    assert "Traceback" not in out
    # Left consistent and unlocked: the same experiment opens again (resuming is the kill -9 test's subject).
    rundir.check_tuner_state(run_dir / "tuner")
    rundir.open_run(run_dir, config.load(exp).to_dict(), overwrite=False).release()


def test_a_training_side_objective_is_recorded_in_the_trial_row():
    import keras_tuner as kt

    from kerascnn.search.tuner import best_epoch_metrics

    trial = kt.engine.trial.Trial(kt.HyperParameters(), trial_id="0")
    for step, (acc, val_acc) in enumerate([(0.5, 0.4), (0.9, 0.6), (0.7, 0.8)]):
        trial.metrics.update("accuracy", acc, step=step)
        trial.metrics.update("val_accuracy", val_acc, step=step)
    row = best_epoch_metrics(trial, "accuracy")
    assert row == {"accuracy": 0.9, "val_accuracy": 0.6, "best_epoch": 2}


@pytest.mark.parametrize("objective", ["loss"])
def test_every_objective_is_recorded_shown_and_ranks_the_leaderboard(tmp_path, objective):
    cfg = _tiny(
        "objective", search={"tuner": "grid", "max_trials": 2, "objective": objective, "space": {"filters": [4, 16]}}
    )
    lines = []
    run_dir = run_search(cfg, out=tmp_path, printer=lines.append)
    values = {r["trial_id"]: float(r[objective]) for r in _rows(run_dir)}
    assert len(values) == 2
    trial_lines = [line for line in lines if line.startswith("[")]
    assert all(f"{objective}=" in line for line in trial_lines) and "best=-" not in trial_lines[-1]
    board = leaderboard(run_dir).splitlines()
    assert board[0].split()[3] == objective
    best = (min if objective == "loss" else max)(values, key=values.get)
    assert board[2].split()[:2] == ["1", best]
    assert json.loads((run_dir / "summary.json").read_text())["best"]["trial_id"] == best


def test_an_experiment_that_cannot_start_leaves_nothing_on_disk(tmp_path, monkeypatch):
    collapsing = _tiny(
        "early",
        model={"architecture": "simple_cnn", "params": {"conv_layers": 3, "padding": "valid", "kernel_size": 5}},
    )
    with pytest.raises(config.ConfigError, match="first candidate .* cannot be built for input 8×8×1"):
        run_search(collapsing, out=tmp_path, printer=lambda line: None)
    assert not (tmp_path / "early").exists()

    from kerascnn.search import tuner as tuner_module

    def broken(*args, **kwargs):
        raise RuntimeError("keras-tuner refused the space")

    monkeypatch.setattr(tuner_module, "make_tuner", broken)
    with pytest.raises(RuntimeError, match="refused the space"):
        run_search(_tiny("late"), out=tmp_path, printer=lambda line: None)
    assert not (tmp_path / "late").exists()  # made by that call and still empty of trials: removed


@pytest.fixture(scope="module")
def pruned_run(tmp_path_factory):
    """Median pruning (after one warm-up epoch, two finished trials), refit and a 2-model ensemble.

    A learning rate of 1e-5 cannot learn in 4 epochs: once two trials have finished, such a candidate is pruned.
    """
    out = tmp_path_factory.mktemp("pruned")
    lines = []
    cfg = _tiny(
        "pruned",
        search={
            "tuner": "grid",
            "max_trials": 4,
            "space": {"learning_rate": [0.01, 0.003, 0.00001], "filters": [8]},
            "pruning": "median",
            "pruning_warmup_epochs": 1,
            "pruning_min_trials": 2,
            "ensemble": 2,
        },
        train={"epochs": 4, "batch_size": 32},
    )
    return run_search(cfg, out=out, printer=lines.append), lines, cfg


@pytest.mark.backend
def test_pruned_trial_is_recorded_everywhere_and_is_not_a_failure(pruned_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from kerascnn.evaluation.tensorboard import VALIDATION

    run_dir, lines, _ = pruned_run
    rows = {r["learning_rate"]: r for r in _rows(run_dir)}
    assert rows["1e-05"]["status"] == "PRUNED" and rows["1e-05"]["pruned_epoch"] == "2"
    assert rows["0.01"]["status"] == rows["0.003"]["status"] == "COMPLETED"
    assert any("PRUNED at epoch 2" in line for line in lines if line.startswith("["))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"] == {"completed": 2, "pruned": 1, "failed": 0, "rejected": 0}
    assert "PRUNED@2" in leaderboard(run_dir) and "1 pruned" in leaderboard(run_dir)
    events = EventAccumulator(
        str(run_dir / "tb" / rows["1e-05"]["trial_id"] / "execution0" / VALIDATION), size_guidance={"tensors": 0}
    ).Reload()
    assert "pruned_epoch" in events.Tags()["tensors"]
    ends = EventAccumulator(
        str(run_dir / "tb" / rows["1e-05"]["trial_id"] / "execution0"), size_guidance={"tensors": 0}
    ).Reload()
    from tensorboard.plugins.hparams import metadata

    data = metadata.parse_session_end_info_plugin_data(
        ends.SummaryMetadata(metadata.SESSION_END_INFO_TAG).plugin_data.content
    )
    assert data.status == 1  # STATUS_SUCCESS: pruned is not failed


@pytest.mark.backend
def test_refit_and_ensemble_are_scored_beside_the_searched_trial(pruned_run):
    from kerascnn.data import load_dataset
    from kerascnn.evaluation.metrics import classification_metrics, predict_labels

    run_dir, lines, _ = pruned_run
    summary = json.loads((run_dir / "summary.json").read_text())
    best = summary["best"]
    final = summary["models"]["final_model.keras"]
    history = json.loads((run_dir / "tuner" / f"trial_{best['trial_id']}" / "kerascnn.json").read_text())["history"]
    scores = history["val_f1_macro"]
    last_best = max(i for i, v in enumerate(scores) if v == max(scores)) + 1  # the end of a plateau at the best
    assert final["trial_id"] == best["trial_id"] and final["epochs"] == last_best >= best["metrics"]["best_epoch"]
    assert final["samples"] == summary["data"]["train"] + summary["data"]["validation"]
    members = summary["models"]["ensemble_model.keras"]["trial_ids"]
    assert len(members) == 2 and best["trial_id"] in members  # the two completed trials, not the pruned one
    data = load_dataset({"source": "digits", "subset": 300}, seed=0)
    for key, name in (
        ("test", "final_model.keras"),
        ("test_best_trial", "best_model.keras"),
        ("test_ensemble", "ensemble_model.keras"),
    ):
        model = keras.saving.load_model(run_dir / name)
        assert classification_metrics(data.y_test, predict_labels(model, data.x_test), 10)["accuracy"] == pytest.approx(
            summary[key]["accuracy"]
        ), key
    report = (run_dir / "report.md").read_text()
    for label in ("final model (trial", "as searched", "ensemble of trials", "SVC baseline"):
        assert label in report, label
    assert any(line.startswith("refit: trial") for line in lines)


def _small_digits_hypermodel():
    """300 digits and a one-block CNN: what the refit and ensemble tests train."""
    from kerascnn.data import load_dataset
    from kerascnn.search.hypermodel import CNNHyperModel

    data = load_dataset({"source": "digits", "subset": 300}, seed=0)
    params = {"conv_layers": 1, "filters": 4, "dense_units": 8}
    return data, CNNHyperModel(
        data.input_shape,
        data.num_classes,
        tune_unlisted=False,
        data=data,
        seed=0,
        params=params,
        train={"batch_size": 32},
    )


def test_refit_seeds_average_refits_that_differ_only_in_their_seed():
    from types import SimpleNamespace

    import numpy as np

    import keras_tuner as kt

    from kerascnn.results import finalize as finalize_module

    data, hm = _small_digits_hypermodel()
    trial, lines = SimpleNamespace(trial_id="3", hyperparameters=kt.HyperParameters()), []
    final = finalize_module._final_model(hm, trial, 2, 2, None, lines.append)
    members = [finalize_module._refit(hm, trial, 2, None, lambda line: None, replica=r) for r in range(2)]
    x = data.x_test[:20]
    p = [np.asarray(m.predict(x, verbose=0)) for m in members]
    assert not np.allclose(p[0], p[1])  # two seeds: two different models
    np.testing.assert_allclose(np.asarray(final.predict(x, verbose=0)), (p[0] + p[1]) / 2, atol=1e-6)
    assert [line.split("-> ")[1] for line in lines] == [
        "final_model.keras (seed 1 of 2)",
        "final_model.keras (seed 2 of 2)",
    ]
    one = finalize_module._final_model(hm, trial, 2, 1, None, lambda line: None)  # one seed: the first refit itself
    np.testing.assert_allclose(np.asarray(one.predict(x, verbose=0)), p[0], atol=1e-6)


def test_refit_ensemble_members_average_as_many_seeds_as_the_final_model(tmp_path):
    """``search.ensemble`` with ``refit_seeds: 2``: every member is two refits averaged, each weighing the same."""
    from types import SimpleNamespace

    import numpy as np

    import keras_tuner as kt

    from kerascnn.results import finalize as finalize_module

    data, hm = _small_digits_hypermodel()
    members = [SimpleNamespace(trial_id=t, hyperparameters=kt.HyperParameters()) for t in ("3", "5")]
    final = finalize_module._final_model(hm, members[0], 2, 2, None, lambda line: None)
    final.save(tmp_path / "final_model.keras")  # the best trial's: reused, not refit again
    lines = []
    source = {"trial_ids": ["3", "5"], "refit_epochs": [2, 1], "refit_seeds": 2}
    ensemble = finalize_module._ensemble(None, hm, members, source, tmp_path, None, lines.append, final_trial="3")
    x = data.x_test[:20]
    second = [finalize_module._refit(hm, members[1], 1, None, lambda line: None, replica=r) for r in range(2)]
    expected = (
        np.asarray(final.predict(x, verbose=0))
        + (np.asarray(second[0].predict(x, verbose=0)) + np.asarray(second[1].predict(x, verbose=0))) / 2
    ) / 2
    np.testing.assert_allclose(np.asarray(ensemble.predict(x, verbose=0)), expected, atol=1e-6)
    assert [line.split("-> ")[1] for line in lines] == [
        "ensemble member (trial 5) (seed 1 of 2)",
        "ensemble member (trial 5) (seed 2 of 2)",
    ]


def test_a_finished_run_resumed_scores_nothing_again(pruned_run, tmp_path, monkeypatch):
    import shutil

    import kerascnn.results.finalize as finalize_module

    run_dir, _, cfg = pruned_run
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    stamps = {p.name: p.stat().st_mtime_ns for p in copy.glob("*.keras")}
    experiment = sorted(p.name for p in (copy / "tb").glob("events.out.tfevents.*"))
    before = json.loads((copy / "summary.json").read_text())
    for name in ("score_baseline", "_refit", "_ensemble", "_load_trial_model"):
        monkeypatch.setattr(finalize_module, name, lambda *a, **k: pytest.fail("recomputed on resume"))
    run_search(cfg, out=tmp_path, printer=lambda line: None)
    assert {p.name: p.stat().st_mtime_ns for p in copy.glob("*.keras")} == stamps
    assert sorted(p.name for p in (copy / "tb").glob("events.out.tfevents.*")) == experiment  # HParams once
    assert len(experiment) == 1
    after = json.loads((copy / "summary.json").read_text())
    for key in ("test", "test_best_trial", "test_ensemble", "baselines", "models"):
        assert after[key] == before[key], key


def test_a_resume_without_refit_or_ensemble_sets_their_old_models_aside_as_stale(pruned_run, tmp_path):
    """Resumed with ``search.refit: false`` and no ensemble, the earlier final and ensemble models are not the
    result any more: renamed, said in one line each, listed in summary.json and the report; never overwritten."""
    import shutil

    run_dir, _, cfg = pruned_run
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    before = json.loads((copy / "summary.json").read_text())
    assert {"final_model.keras", "ensemble_model.keras"} <= set(before["models"])
    (copy / "final_model.stale.keras").write_text("a user's earlier stale copy")
    ensemble_bytes = (copy / "ensemble_model.keras").read_bytes()
    lines = []
    changed = config.resolve({**cfg.to_dict(), "search": {**cfg.to_dict()["search"], "refit": False, "ensemble": 0}})
    run_search(changed, out=tmp_path, printer=lines.append)
    assert not (copy / "final_model.keras").exists() and not (copy / "ensemble_model.keras").exists()
    assert (copy / "final_model.stale.keras").read_text() == "a user's earlier stale copy"
    assert (copy / "final_model.stale-2.keras").stat().st_size == before["models"]["final_model.keras"]["bytes"]
    assert (copy / "ensemble_model.stale.keras").read_bytes() == ensemble_bytes
    best = before["best"]["trial_id"]
    assert any(
        line.startswith(f"note: final_model.keras was made from trial {best}, not this run's result")
        and line.endswith("renamed to final_model.stale-2.keras")
        for line in lines
    ), lines
    after = json.loads((copy / "summary.json").read_text())
    assert set(after["models"]) == {"best_model.keras"} and after["predictions_from"] == "best_model.keras"
    assert (
        after["stale_models"]["ensemble_model.stale.keras"]["trial_ids"]
        == before["models"]["ensemble_model.keras"]["trial_ids"]
    )
    assert "## Stale models" in (copy / "report.md").read_text()
    assert "| final_model.stale-2.keras |" in (copy / "report.md").read_text()


@pytest.mark.backend
def test_k_fold_scoring_records_the_mean_and_its_std(tmp_path):
    cfg = _tiny("cv", search={"max_trials": 1, "space": {"filters": [8]}, "cv_folds": 2, "refit": False})
    run_dir = run_search(cfg, out=tmp_path, printer=lambda line: None)
    row = _rows(run_dir)[0]
    assert row["status"] == "COMPLETED" and float(row["val_f1_macro_std"]) >= 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert "final_model.keras" not in summary["models"] and summary["predictions_from"] == "best_model.keras"


def test_per_epoch_writes_only_the_checkpoint_when_the_objective_improves(tmp_path, monkeypatch):
    """keras-tuner's checkpoint is the only per-epoch file; trial.json is written when the trial begins and ends."""
    from kerascnn import _compat

    trial_json, weights, improved = [], [], []
    real_write, real_save = _compat._write_json, keras.Model.save_weights
    monkeypatch.setattr(
        _compat,
        "_write_json",
        lambda path, state: (trial_json.append(path) if path.endswith("trial.json") else None, real_write(path, state))[
            1
        ],
    )
    monkeypatch.setattr(
        keras.Model,
        "save_weights",
        lambda self, path, *a, **k: (weights.append(path), real_save(self, path, *a, **k))[1],
    )
    cfg = _tiny(
        "writes",
        search={"max_trials": 1, "space": {"filters": [8]}, "refit": False},
        train={"epochs": 4, "batch_size": 32},
    )
    run_dir = run_search(cfg, out=tmp_path, printer=lambda line: None)
    history = json.loads((run_dir / "tuner" / "trial_0" / "kerascnn.json").read_text())["history"]["val_f1_macro"]
    best = -1.0
    for value in history:
        improved.append(value > best)
        best = max(best, value)
    assert len(weights) == sum(improved) and all(w.endswith("checkpoint.weights.h5") for w in weights)
    assert len(trial_json) == 2  # when keras-tuner creates the trial and when it ends, not once per epoch (4)


def test_the_best_trials_are_ranked_the_same_after_a_resume_reloads_the_oracle():
    """Tied scores go to the earlier trial, whatever order the (reloaded) oracle keeps its trials in."""
    from types import SimpleNamespace as NS

    from kerascnn.results.finalize import _best_completed

    scores = {"00": 0.99, "01": 0.98, "02": 0.995, "03": 0.99, "04": 0.999}

    def tuner(order, direction="max"):
        return NS(
            oracle=NS(
                objective=NS(name="val_f1_macro", direction=direction),
                trials={t: NS(trial_id=t, score=scores[t]) for t in order},
            )
        )

    rows = [
        {"trial_id": t, "status": s, "val_f1_macro": scores[t]}
        for t, s in (("00", "COMPLETED"), ("01", "COMPLETED"), ("02", "PRUNED"), ("03", "COMPLETED"), ("04", "FAILED"))
    ]
    for order in (["00", "01", "02", "03", "04"], ["04", "03", "02", "01", "00"]):
        assert [t.trial_id for t in _best_completed(tuner(order), rows, 3)] == ["00", "03", "01"]
    assert [t.trial_id for t in _best_completed(tuner(["03", "01", "00"], "min"), rows, 2)] == ["01", "00"]
    assert _best_completed(tuner([]), rows, 1) == []


def test_a_search_whose_every_trial_failed_says_so_and_names_no_best(tmp_path, monkeypatch):
    """keras-tuner's get_best_trials pads with failed trials: a failed one must not become "the best"."""
    from kerascnn.search.hypermodel import CNNHyperModel

    def broken(self, hp, model, *args, **kwargs):
        raise RuntimeError("simulated out of memory")

    monkeypatch.setattr(CNNHyperModel, "fit", broken)
    lines = []
    run_dir = run_search(
        _tiny("all_failed", search={"max_trials": 1, "space": {"filters": [8]}}), out=tmp_path, printer=lines.append
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best"] is None and summary["test"] is None and summary["counts"]["failed"] == 1
    assert summary["failure_reasons"] == {"RuntimeError: simulated out of memory": 1}
    assert any(
        line.startswith("No trial completed: 1 failed (RuntimeError: simulated out of memory).") for line in lines
    )
    assert not (run_dir / "best_model.keras").exists()


def test_failures_in_a_row_stop_the_search_with_their_reasons_and_the_completed_trials_give_the_result(
    tmp_path, monkeypatch
):
    """keras-tuner raised RuntimeError("Number of consecutive failures exceeded") and left no summary.json:
    now ``search.constraints.max_failures`` failures in a row end the search with one line naming the trials
    and reasons, the completed trials' results are made, and a success in between resets the count."""
    from kerascnn.search.hypermodel import CNNHyperModel

    original, calls = CNNHyperModel.fit, []

    def flaky(self, hp, model, *args, **kwargs):
        calls.append(1)
        if len(calls) in (2, 3, 5, 6, 7):
            raise ValueError(f"simulated failure {'A' if len(calls) < 7 else 'B'}")
        return original(self, hp, model, *args, **kwargs)

    monkeypatch.setattr(CNNHyperModel, "fit", flaky)
    lines = []
    cfg = _tiny("in_a_row", search={"max_trials": 9, "space": {"filters": [4, 8, 16], "dropout": [0.0, 0.1, 0.2]}})
    run_dir = run_search(cfg, out=tmp_path, printer=lines.append)
    rows = _rows(run_dir)
    assert [r["status"] for r in rows] == ["COMPLETED", "FAILED", "FAILED", "COMPLETED", "FAILED", "FAILED", "FAILED"]
    assert (
        "Search stopped: 3 trials in a row failed (trials 4, 5, 6; search.constraints.max_failures=3): "
        "ValueError: simulated failure A (×2); ValueError: simulated failure B. Fix the cause" in "\n".join(lines)
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"]["failed"] == 5 and summary["best"]["trial_id"] in ("0", "3")
    assert summary["failure_reasons"] == {
        "ValueError: simulated failure A": 4,
        "ValueError: simulated failure B": 1,
    }
    assert (run_dir / "best_model.keras").exists()


def test_a_search_with_no_completed_trial_exits_1_from_the_command(tmp_path, capsys, monkeypatch):
    from kerascnn import cli
    from kerascnn.search.hypermodel import CNNHyperModel

    def broken(self, hp, model, *args, **kwargs):
        raise RuntimeError("simulated out of memory")

    monkeypatch.setattr(CNNHyperModel, "fit", broken)
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(_tiny("none_done", search={"max_trials": 2, "space": {"filters": [4, 8]}}).to_dict()))
    assert cli.main(["search", str(exp), "--out", str(tmp_path / "runs"), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "No trial completed: 2 failed (RuntimeError: simulated out of memory (×2))" in captured.out
    assert captured.err.startswith("kerascnn search: error: no trial completed in") and captured.err.count("\n") == 1


def test_an_experiment_is_checked_once_per_run(monkeypatch):
    """Loading builds the typed experiment (every value checked); the entry checks what the registry, the space and
    the metrics own, once; preparing the run checks neither again."""
    from kerascnn.search import hypermodel as hypermodel_module
    from kerascnn.search import run as run_module
    from kerascnn.search import space as space_module

    experiment = _tiny("once")
    built, spaces = [], []
    real_init, real_check = config.Experiment.__post_init__, space_module.check_space
    monkeypatch.setattr(config.Experiment, "__post_init__", lambda self: built.append(1) or real_init(self))
    monkeypatch.setattr(space_module, "check_space", lambda *a: spaces.append(1) or real_check(*a))
    monkeypatch.setattr(hypermodel_module, "check_space", space_module.check_space)
    checked = run_module.check_experiment(experiment)
    run_module._prepare(checked, None, lambda line: None)
    assert checked is experiment and built == [] and spaces == [1]


def test_more_folds_than_a_class_has_samples_is_refused_before_the_run_folder_exists(tmp_path):
    experiment = _tiny("folds", search={"cv_folds": 50})
    with pytest.raises(config.ConfigError, match=r"`search.cv_folds` \(50\) is more than class '\d' has samples"):
        run_search(experiment, out=tmp_path, printer=lambda line: None)
    assert not (tmp_path / "folds").exists()  # the corrected rerun is a new experiment, not "a different" one


def test_a_photo_folder_search_with_folds_refit_and_ensemble_reads_files_not_arrays(tmp_path):
    """k-fold, the refit on train+validation and the ensemble all work on a streamed folder's file list."""
    from kerascnn.data.streaming import LazyArray
    from tests.data.test_streaming import _folder

    photos = _folder(tmp_path / "photos", counts=(("cat", 16, 30), ("dog", 16, 200)), size=12)
    cfg = _config(
        "folder",
        data={"source": "image_folder", "path": str(photos), "image_size": [8, 8], "cache": str(tmp_path / "cache")},
        search={"cv_folds": 2, "refit": True, "ensemble": 2, "baselines": ["svc"]},
    )
    seen = []
    real = LazyArray.read
    LazyArray.read = lambda self, index=None: seen.append(len(self)) or real(self, index)
    try:
        run_dir = run_search(cfg, out=tmp_path / "runs", printer=lambda line: None)
    finally:
        LazyArray.read = real
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"]["completed"] == 2 and float(_rows(run_dir)[0]["val_f1_macro_std"]) >= 0
    assert {"final_model.keras", "ensemble_model.keras"} <= set(summary["models"])
    assert summary["test_ensemble"]["accuracy"] >= 0 and summary["baselines"]["svc"]["accuracy"] >= 0
    assert seen and max(seen) < 32  # batches and splits were read, never the whole folder at once
    assert (run_dir / "split.csv").is_file()
