"""Reports, the Pareto front, evaluate, and the visualisation tools."""

import csv
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

import keras

import kerascnn
from kerascnn.evaluation import visualize
from kerascnn.evaluation.evaluate import evaluate_model
from kerascnn.results import report

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.backend  # reports, evaluate and the tools on every Keras backend (CI: also JAX)


def test_pareto_front_on_a_hand_made_table():
    # (params, accuracy): 1 beats 0; 2 is bigger and worse than 1; 3 is the most accurate
    points = [(1000, 0.90), (800, 0.92), (1500, 0.91), (5000, 0.97), (300, 0.80), (5000, 0.95), (800, 0.85)]
    assert report.pareto_front(points) == [4, 1, 3]


def _hand_made_run(tmp_path):
    rows = [
        {
            "trial_id": "0",
            "status": "COMPLETED",
            "block1/kernel_size": 3,
            "val_f1_macro": 0.91,
            "val_accuracy": 0.92,
            "params": 1000,
            "seconds": 2.0,
        },
        {
            "trial_id": "1",
            "status": "COMPLETED",
            "block1/kernel_size": 5,
            "val_f1_macro": 0.95,
            "val_accuracy": 0.95,
            "params": 3000,
            "seconds": 3.0,
        },
        {
            "trial_id": "2",
            "status": "FAILED",
            "block1/kernel_size": 7,
            "val_f1_macro": "",
            "val_accuracy": "",
            "params": "",
            "seconds": 1.0,
            "message": "NaN",
        },
        {
            "trial_id": "3",
            "status": "COMPLETED",
            "block1/kernel_size": 3,
            "val_f1_macro": 0.90,
            "val_accuracy": 0.90,
            "params": 5000,
            "seconds": 2.5,
        },
    ]
    with open(tmp_path / "trials.csv", "w", newline="") as f:
        writer = csv.DictWriter(
            f,
            fieldnames=[
                "trial_id",
                "status",
                "block1/kernel_size",
                "val_f1_macro",
                "val_accuracy",
                "params",
                "seconds",
                "message",
            ],
        )
        writer.writeheader()
        writer.writerows(rows)
    test = {"accuracy": 0.9, "precision_macro": 0.9, "recall_macro": 0.9, "f1_macro": 0.9}
    test.update({f"{m}_class_{k}": 0.9 for m in ("precision", "recall", "f1") for k in range(3)})
    summary = {
        "name": "hand",
        "objective": "val_f1_macro",
        "class_names": ["a", "b", "c"],
        "counts": {"completed": 3, "failed": 1, "rejected": 5},
        "best": {"trial_id": "1", "hyperparameters": {"block1/kernel_size": 5}, "params": 3000},
        "test": test,
        "baseline": {"accuracy": 0.85, "f1_macro": 0.84},
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    with open(tmp_path / "predictions_test.csv", "w", newline="") as f:
        csv.writer(f).writerows([["y_true", "y_pred"], [0, 0], [1, 1], [2, 1], [2, 2]])
    trial_dir = tmp_path / "tuner" / "trial_1"
    trial_dir.mkdir(parents=True)
    (trial_dir / "kerascnn.json").write_text(
        json.dumps(
            {
                "history": {
                    "loss": [1.0, 0.5],
                    "val_loss": [1.1, 0.7],
                    "accuracy": [0.6, 0.8],
                    "val_accuracy": [0.6, 0.9],
                    "val_f1_macro": [0.5, 0.95],
                    "f1_macro": [0.55, 0.8],
                }
            }
        )
    )
    return tmp_path


def test_report_files_exist_and_are_referenced(tmp_path):
    run = _hand_made_run(tmp_path)
    path = report.write_report(run)
    text = path.read_text()
    for name in report.PLOTS.values():
        assert (run / name).is_file(), name
        assert f"]({name})" in text, name
    assert (run / "leaderboard.csv").is_file() and (run / "leaderboard.md").is_file()
    with open(run / "leaderboard.csv", newline="") as f:
        board = list(csv.DictReader(f))
    assert [r["trial"] for r in board] == ["1", "0", "3", "2"]  # best first, failed last
    assert board[0]["rank"] == "1" and board[3]["rank"] == "-"
    assert "SVC baseline" in text and "| best trial 1 | 0.9000" in text
    pareto = text.split("Pareto front")[1].split("##")[0]
    assert re.search(r"\| 0 \| 1000 \|", pareto) and re.search(r"\| 1 \| 3000 \|", pareto)
    assert "| 3 | 5000" not in pareto


def test_plots_are_real_pngs(tmp_path):
    from PIL import Image

    run = _hand_made_run(tmp_path)
    report.write_report(run)
    for name in report.PLOTS.values():
        with Image.open(run / name) as img:
            assert img.format == "PNG" and img.size[0] >= 300 and img.size[1] >= 200


def test_leaderboard_text(tmp_path):
    text = report.leaderboard(_hand_made_run(tmp_path))
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["rank", "trial", "status", "val_f1_macro"]
    assert lines[2].split()[:2] == ["1", "1"]
    assert "3 completed, 0 pruned, 1 failed, 5 candidates rejected" in text


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda text: text[: text.index("0.95") + 2], "its last line is cut short"),
        (lambda text: "", "it lists 0 finished trials where summary.json counts 4"),
        (lambda text: "\x00\x1f garbage ;;\n", "has no trial_id and status columns"),
        (lambda text: "id,score\n0,0.9\n", "its header 'id,score' has no trial_id and status columns"),
        (lambda text: text.replace("3,COMPLETED", "3,COMPLETED,x,y,z,1,2,3"), "line 5 has more cells"),
        (lambda text: text.replace("1,COMPLETED", "1,DONE"), "line 3 has status 'DONE', not one of"),
        (lambda text: "\r\n".join(text.splitlines()[:3]) + "\r\n", "it lists 2 finished trials where"),
    ],
)
def test_a_damaged_trials_csv_is_named_and_nothing_is_drawn_from_it(tmp_path, capsys, damage, reason):
    """Cut mid-line, emptied, garbage, a foreign header, a stray cell or status, lines lost: the report and
    the leaderboard refuse it (status 3), and the leaderboard files are not rewritten from part of the trials."""
    from kerascnn import cli
    from kerascnn.rundir import DamagedRunFile

    run = _hand_made_run(tmp_path)
    report.write_report(run)
    board = (run / "leaderboard.csv").read_text()
    path = run / "trials.csv"
    path.write_text(damage(path.read_text()), newline="")
    for call in (report.write_report, report.leaderboard):
        with pytest.raises(DamagedRunFile, match=re.escape(reason)):
            call(run)
    assert cli.main(["report", str(run)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trials.csv is damaged" in err and "run the search command again" in err
    assert (run / "leaderboard.csv").read_text() == board


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    from kerascnn.data import load_dataset

    data = load_dataset({"source": "digits"}, seed=0)
    model = kerascnn.create_model("simple_cnn", input_shape=(8, 8, 1), num_classes=10, filters=8, dense_units=16)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(data.x_train, data.y_train, epochs=2, verbose=0)
    path = tmp_path_factory.mktemp("model") / "m.keras"
    model.save(path)
    return path, data


def test_evaluate_agrees_with_scikit_learn(saved_model):
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    path, data = saved_model
    result = evaluate_model(path, "digits")
    y_pred = keras.saving.load_model(path).predict(data.x_test, verbose=0).argmax(1)
    np.testing.assert_array_equal(result["y_pred"], y_pred)
    m = result["metrics"]
    assert m["accuracy"] == pytest.approx(accuracy_score(data.y_test, y_pred))
    assert m["f1_macro"] == pytest.approx(f1_score(data.y_test, y_pred, average="macro"))
    assert m["precision_weighted"] == pytest.approx(
        precision_score(data.y_test, y_pred, average="weighted", zero_division=0)
    )
    assert m["recall_micro"] == pytest.approx(recall_score(data.y_test, y_pred, average="micro"))
    assert "precision" in result["report"] and "support" in result["report"]


def test_evaluate_with_an_experiment_file_and_bad_inputs(saved_model, tmp_path):
    path, _ = saved_model
    assert evaluate_model(path, str(ROOT / "experiments" / "digits.yaml"))["metrics"]["accuracy"] > 0
    with pytest.raises(FileNotFoundError):
        evaluate_model(tmp_path / "none.keras")


def test_feature_map_and_filter_grids(saved_model, tmp_path):
    path, data = saved_model
    model = keras.saving.load_model(path)
    maps = visualize.feature_maps(model, data.x_test[0])
    assert maps["block1_conv"].shape == (8, 8, 8) and maps["block2_conv"].shape == (4, 4, 16)
    grid = visualize.tile_grid(np.moveaxis(maps["block2_conv"], -1, 0))
    rows, cols = visualize.grid_shape(16)
    assert (rows, cols) == (4, 4) and grid.shape == (4 * 5 + 1, 4 * 5 + 1)
    paths = visualize.visualize_model(model, data.x_test[0], tmp_path / "viz", tb_dir=tmp_path / "tb")
    assert sorted(p.name for p in paths) == [
        "feature_maps_block1_conv.png",
        "feature_maps_block2_conv.png",
        "filters_first_layer.png",
    ]
    assert visualize.first_layer_filters(model).shape == (8, 3, 3)
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_classic_kernels_on_a_real_photo(tmp_path):
    photo = visualize.sample_photo()
    assert photo.shape == (427, 640, 1)
    out = visualize.apply_classic_kernels(photo, ["laplacian", "gaussian", "box"])
    assert out["gaussian"].shape == (427, 640)
    interior = (slice(1, -1), slice(1, -1))
    assert np.abs(out["gaussian"][interior] - photo[..., 0][interior]).mean() < 0.05  # smoothing stays close
    assert np.abs(out["laplacian"][interior]).mean() < np.abs(photo).mean()  # edges only
    assert visualize.classic_kernels_figure(tmp_path / "k.png").is_file()


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_conv_arith_tool(tmp_path, capsys):
    tool = _tool("conv_arith")
    assert tool.main(["--model", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "conv1_conv" in out and "28×28×6" in out and "61,706 parameters" in out
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        "- {filters: 8, kernel_size: 5, padding: valid, pool: max}\n- {filters: 16, kernel_size: 5, padding: valid}\n"
    )
    assert tool.main(["--layers", str(stack), "--input-shape", "12,12,1"]) == 1
    out = capsys.readouterr().out
    assert "collapses at block2_conv" in out and "Smallest input that fits: 14" in out


def test_visualize_tool(saved_model, tmp_path, capsys):
    path, _ = saved_model
    assert _tool("visualize").main([str(path), "--digit", "0", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "filters_first_layer.png").is_file()


def test_final_searched_ensemble_and_baseline_side_by_side(tmp_path):
    run = _hand_made_run(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    searched = dict(summary["test"], accuracy=0.8)
    summary.update(
        {
            "counts": {"completed": 2, "pruned": 1, "failed": 1, "rejected": 5},
            "test_best_trial": searched,
            "test_ensemble": dict(summary["test"], accuracy=0.95),
            "models": {
                "best_model.keras": {"trial_id": "1"},
                "final_model.keras": {"trial_id": "1", "epochs": 2},
                "ensemble_model.keras": {"trial_ids": ["1", "0"]},
            },
            "predictions_from": "final_model.keras",
        }
    )
    (run / "summary.json").write_text(json.dumps(summary))
    labels = [label for label, _ in report.test_results(summary)]
    assert labels == [
        "final model (trial 1, refit on train+validation)",
        "best trial 1 as searched",
        "ensemble of trials 1, 0",
        "SVC baseline",
    ]
    text = report.write_report(run).read_text()
    assert "| final model (trial 1, refit on train+validation) | 0.9000 |" in text
    assert "| best trial 1 as searched | 0.8000 |" in text and "| ensemble of trials 1, 0 | 0.9500 |" in text
    assert "2 trials completed, 1 pruned" in text
    footer = report.leaderboard(run)
    assert "2 completed, 1 pruned, 1 failed" in footer and "ensemble of trials 1, 0 accuracy 0.9500" in footer
    summary["models"]["final_model.keras"]["seeds"] = 3  # search.refit_seeds: 3
    assert report.test_results(summary)[0][0] == "final model (trial 1, 3 seeds refit on train+validation, averaged)"
    summary["models"]["ensemble_model.keras"].update(refit_epochs=[2, 3], refit_seeds=3)
    assert (
        report.test_results(summary)[2][0]
        == "ensemble of trials 1, 0 (each 3 seeds refit on train+validation, averaged)"
    )
    del summary["models"]["ensemble_model.keras"]["refit_seeds"]
    assert report.test_results(summary)[2][0] == "ensemble of trials 1, 0 (each refit on train+validation)"
