"""tools/bench.py's own logic: what it compares and how it reports (its timings are measured, not tested)."""

import importlib.util
from pathlib import Path

import pytest

import keras_tuner as kt

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench", ROOT / "tools" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_trials_are_compared_at_every_epoch_and_different_trials_never_pass(bench):
    kit = [[0.5, 0.6], [0.7, 0.9]]
    assert bench._largest_difference(kit, [[0.5, 0.6], [0.7, 0.9]]) == 0
    assert bench._largest_difference(kit, [[0.5, 0.65], [0.7, 0.9]]) == pytest.approx(0.05)
    assert bench._largest_difference(kit, [[0.5, 0.6]]) == float("inf")  # a trial missing
    assert bench._largest_difference(kit, [[0.5, 0.6], [0.7]]) == float("inf")  # an epoch missing


def _result(seed, kit, peers):
    tools = {"kerascnn": {"trials": 3, "pruned": 1, "seconds": 230.4, "result": "final model", "test": kit}}
    for name, accuracy in zip(
        ("keras-tuner RandomSearch", "keras-tuner Hyperband", "Optuna TPE + MedianPruner"), peers
    ):
        tools[name] = {"trials": 8, "pruned": 0, "seconds": 241.0, "test": {"accuracy": accuracy, "f1_macro": accuracy}}
    return {"seed": seed, "budget_seconds": 240, "tools": tools}


def test_the_quality_table_names_each_tool_its_trials_and_scores(bench):
    table = bench.quality_table([_result(0, {"accuracy": 0.994, "f1_macro": 0.9938}, (0.983, 0.976, 0.982))])
    lines = table.splitlines()
    assert lines[0].startswith("| seed | tool | trials completed (+ pruned) | test accuracy |")
    assert lines[2] == "| 0 | **kerascnn** (final model) | 3 + 1 | 0.9940 | 0.9938 | 230 s |"
    assert lines[3] == "| 0 | keras-tuner RandomSearch | 8 | 0.9830 | 0.9830 | 241 s |"
    assert len(lines) == 6


def test_optuna_samples_the_same_networks_keras_tuner_declares(bench):
    """The Optuna peer's adapter: a suggestion for each hyperparameter the kit's build declares, the same model."""
    import optuna

    from kerascnn.search import CNNHyperModel

    hypermodel = CNNHyperModel(
        (40, 1),
        10,
        params={"conv_layers": 2, "pool": "none", "pooling": "avg", "dense_layers": 0},
        space={"kernel_size": [3, 5, 7], "dropout": [0.0, 0.1]},
        tune_unlisted=False,
    )
    space = bench._optuna_space(hypermodel)
    names = [hp.name for hp in space.space]
    assert "block1/kernel_size" in names and "block2/dropout" in names
    values = {"block1/kernel_size": 7, "block2/kernel_size": 3, "block1/dropout": 0.1, "block2/dropout": 0.0}
    hps = bench._optuna_values(optuna.trial.FixedTrial(values), space)
    assert {k: hps.values[k] for k in values} == values
    theirs = kt.HyperParameters()
    hypermodel.build(theirs)
    theirs.values.update(values)
    ours, reference = hypermodel.build(hps), hypermodel.build(theirs)
    assert [layer.get_config().get("kernel_size") for layer in ours.layers] == [
        layer.get_config().get("kernel_size") for layer in reference.layers
    ]
    assert ours.count_params() == reference.count_params()


@pytest.mark.slow
def test_the_quality_benchmark_runs_every_tool_within_its_budget_and_reports_the_gain(bench, tmp_path):
    """One seed at a 20-second budget (about 1.5 minutes): every tool scores a model and stops near the budget."""
    result = bench.bench_quality(0, 20)
    assert set(result["tools"]) == {"kerascnn", *bench.PEERS}
    for tool in result["tools"].values():
        assert 0 <= tool["test"]["accuracy"] <= 1 and tool["seconds"] < 20 + 30  # one epoch and the scoring past it
    peers = [result["tools"][p]["test"]["accuracy"] for p in bench.PEERS]
    assert result["gain_points"] == round(100 * (result["tools"]["kerascnn"]["test"]["accuracy"] - max(peers)), 2)
    bench.anytime_plot([result], tmp_path / "anytime.png")
    assert (tmp_path / "anytime.png").stat().st_size > 10_000
