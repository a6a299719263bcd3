"""Performance goals, measured side by side in one process (machines are shared and noisy).

    python tools/bench.py search [--trials 4] [--epochs 3] [--rounds 2]

``search``: the kit's search (``run_search``) against a plain keras-tuner script
running the same trials (the same hyperparameter values, epochs and batch
size, models written with plain Keras layers, Keras' own metrics only). The
two alternate for ``--rounds`` rounds; the report gives the wall-time ratio
kit / plain (goal <= 1.05) and the share of epoch time the scikit-learn
metrics callback takes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _kit_config(name, trials, epochs):
    from kerascnn import config

    return config.resolve({
        "name": name, "seed": 0, "data": {"source": "digits"},
        "model": {"architecture": "simple_cnn", "params": {"conv_layers": 2, "dense_units": 64}},
        "search": {"tuner": "random", "max_trials": trials,
                   "space": {"kernel_size": [3, 5], "filters": [16, 32], "padding": ["same"],
                             "bn_placement": ["before_activation", "none"]}},
        "train": {"epochs": epochs, "batch_size": 32},
    })


def _plain_search(trial_values, data, epochs, batch_size, directory):
    """What a user would write by hand: keras-tuner + Keras layers, replaying the kit's trials."""
    import keras
    import keras_tuner as kt

    class Replay(kt.oracles.RandomSearchOracle):
        def populate_space(self, trial_id):
            i = len(self.trials)
            if i >= len(trial_values):
                return {"status": "STOPPED"}
            return {"status": "RUNNING", "values": trial_values[i]}

    def build(hp):
        inputs = keras.Input(data.input_shape)
        x = inputs
        for i in (1, 2):
            bn = hp.Choice(f"block{i}/bn_placement", ["before_activation", "none"])
            x = keras.layers.Conv2D(hp.Choice(f"block{i}/filters", [16, 32]), hp.Choice(f"block{i}/kernel_size", [3, 5]),
                                    padding="same", use_bias=bn == "none",
                                    activation="relu" if bn == "none" else None)(x)
            if bn != "none":
                x = keras.layers.Activation("relu")(keras.layers.BatchNormalization()(x))
            x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.Dense(64, activation="relu")(keras.layers.Flatten()(x))
        model = keras.Model(inputs, keras.layers.Dense(data.num_classes, activation="softmax")(x))
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    oracle = Replay(objective="val_accuracy", max_trials=len(trial_values))
    tuner = kt.Tuner(oracle=oracle, hypermodel=build, directory=str(directory), project_name="plain", overwrite=True)
    tuner.search(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=epochs,
                 batch_size=batch_size, verbose=0)


def bench_search(trials: int, epochs: int, rounds: int) -> dict:
    from kerascnn.data import load_dataset
    from kerascnn.search import run_search

    data = load_dataset({"source": "digits"}, seed=0)
    kit_times, plain_times, metric_share = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            start = time.perf_counter()
            run_dir = run_search(_kit_config(f"bench{r}", trials, epochs), out=tmp, overwrite=True,
                                 printer=lambda line: None)
            kit_times.append(time.perf_counter() - start)
            infos = [json.loads(p.read_text()) for p in (run_dir / "tuner").glob("trial_*/kerascnn.json")]
            metric_share.append(sum(i["metrics_seconds"] for i in infos) / sum(i["seconds"] for i in infos))
            import csv

            with open(run_dir / "trials.csv", newline="") as f:
                values = [{k: (int(v) if v.isdigit() else v) for k, v in row.items() if "/" in k}
                          for row in csv.DictReader(f)]
            start = time.perf_counter()
            _plain_search(values, data, epochs, 32, Path(tmp) / f"plain{r}")
            plain_times.append(time.perf_counter() - start)
    ratio = statistics.median(k / p for k, p in zip(kit_times, plain_times))
    return {
        "benchmark": "search", "trials": trials, "epochs": epochs, "rounds": rounds,
        "kit_seconds": [round(t, 2) for t in kit_times], "plain_seconds": [round(t, 2) for t in plain_times],
        "wall_time_ratio_kit_over_plain": round(ratio, 3), "goal": "<= 1.05",
        "note": "the kit's time includes data checks, the SVC baseline, test evaluation and saving the best model",
        "metrics_callback_share_of_fit_time": round(statistics.median(metric_share), 3),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("search", help="kit search vs a plain keras-tuner script on the same trials")
    s.add_argument("--trials", type=int, default=4)
    s.add_argument("--epochs", type=int, default=3)
    s.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    result = bench_search(args.trials, args.epochs, args.rounds)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
