"""Performance goals, measured side by side in one process or one run (machines are shared and noisy).

    python tools/bench.py search [--trials 4] [--epochs 3] [--rounds 5] [--profile]
    python tools/bench.py memory [--trials 30]
    python tools/bench.py distributed [--trials 12] [--epochs 3]
    python tools/bench.py models [--size 64] [--batch 16] [--steps 5] [--rounds 5]
    python tools/bench.py quality [--trials 16] [--seeds 0 1 2]
    python tools/bench.py gpu [--size 224] [--batch 64] [--steps 20] [--rounds 2] [--skip-search]
    python tools/bench.py data [--small 2000] [--big 20000] [--size 64] [--rounds 3]

``search``: the kit's search (``run_search``) against a plain keras-tuner script
running the same trials (the same hyperparameter values, epochs and batch
size, models written with plain Keras layers, Keras' own metrics only). After
an untimed warm-up of each, the two alternate for ``--rounds`` rounds (at
least 5: kit, plain, plain, kit, ...). Each run's CPU time (user + system of
the process's threads and children) is the headline, since load from other
jobs stretches wall time but not the work done; wall time is reported beside
it. Both seed each trial alike (run seed + trial number), and each round
compares their per-trial validation accuracies. The report gives each
round's ratios, the medians with their spread, the share of fit time the
scikit-learn metrics callback takes, and ends with ``cpu-time ratio
(median): X`` (goal <= 1.00, with identical trial results).
``--profile`` runs each once under cProfile instead and prints where the time
goes (build + geometry, train steps, Keras' validation pass, the metrics
callback, checkpoints, TensorBoard writing).

``quality``: time to quality. The default experiment (``--trials`` trials,
median pruning) against plain keras-tuner's ``RandomSearch`` over the same
model-building function, data, epochs and seed: the wall time each needs
until a trial reaches plain keras-tuner's final best validation F1, both
final test accuracies, and last ``time-to-quality ratio: X`` (kit / plain;
goal <= 0.5 with the kit's test accuracy not lower). With ``--seeds``, one
such pair per seed (split and candidate order) and the median ratio last.

``memory``: ``--trials`` small trials in one process; resident memory after
trial 5 and after the last (goal: growth under 10%).

``distributed``: the same search run by a chief with one worker, then with two
workers, on this machine; wall-time ratio and trials per minute.

``models``: training-step throughput of the kit's ``resnet50``,
``mobilenet_v2``, ``efficientnet_b0`` and ``densenet121`` against
keras.applications' same networks, built and compiled alike in one process,
timed in alternating A/B rounds; the ratio kit / keras (goal >= 0.98).

``data``: an image folder streamed from disk. Generates two folders of
``--size``² JPEGs (``--small`` and ``--big`` images, four classes) and runs
the same one-trial search on each, twice (a cold decoded-image cache, then
a warm one), each in its own process: peak resident memory and the seconds
until the first trial starts. Then input throughput on the small folder
(decode, resize, batch; no training): the kit's uncached stream against
``keras.utils.image_dataset_from_directory``, alternating for ``--rounds``
rounds. Last lines: ``memory ratio (big / small images): X`` (goal <= 1.2),
``first-trial speedup (warm / cold cache): X`` (goal >= 5) and ``throughput
ratio (kit / image_dataset_from_directory): Y`` (goal >= 0.9).

``gpu`` (any Keras backend; set ``KERAS_BACKEND``): on the first GPU, the
default experiment's search wall time and seconds per trial (goal on one
H100 with JAX: 8 trials in <= 30 s), then ResNet50 and EfficientNetB0 training
throughput, kit against keras.applications in A B B A order, in float32,
mixed float16 and mixed bfloat16, with each model's first-step (compile)
time. Prints a Markdown table for README last. Without a GPU it says so and
exits 0.
"""

from __future__ import annotations

import argparse
import csv
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

    return config.resolve(
        {
            "name": name,
            "seed": 0,
            "data": {"source": "digits"},
            "model": {"architecture": "simple_cnn", "params": {"conv_layers": 2, "dense_units": 64}},
            "search": {
                "tuner": "random",
                "max_trials": trials,
                "refit": False,  # the plain script does not refit
                "space": {
                    "kernel_size": [3, 5],
                    "filters": [16, 32],
                    "padding": ["same"],
                    "bn_placement": ["before_activation", "none"],
                },
            },
            "train": {"epochs": epochs, "batch_size": 32},
        }
    ).to_dict()


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
            x = keras.layers.Conv2D(
                hp.Choice(f"block{i}/filters", [16, 32]),
                hp.Choice(f"block{i}/kernel_size", [3, 5]),
                padding="same",
                use_bias=bn == "none",
                activation="relu" if bn == "none" else None,
            )(x)
            if bn != "none":
                x = keras.layers.Activation("relu")(keras.layers.BatchNormalization()(x))
            x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.Dense(64, activation="relu")(keras.layers.Flatten()(x))
        model = keras.Model(inputs, keras.layers.Dense(data.num_classes, activation="softmax")(x))
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        return model

    class Seeded(kt.Tuner):
        def run_trial(self, trial, *args, **kwargs):  # seeded as the kit seeds a trial: run seed + trial number
            keras.utils.set_random_seed(int(trial.trial_id))
            return super().run_trial(trial, *args, **kwargs)

    oracle = Replay(objective="val_accuracy", max_trials=len(trial_values))
    tuner = Seeded(oracle=oracle, hypermodel=build, directory=str(directory), project_name="plain", overwrite=True)
    tuner.search(  # arrays, as keras-tuner's guides pass them
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
    )
    trials = sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id))
    return [t.metrics.get_history("val_accuracy")[-1].value[0] for t in trials]


def _cpu_seconds() -> float:
    """CPU time of this process (all its threads) and its waited-for children: what load on the machine cannot
    inflate, unlike wall time (a busy neighbour slows the clock, not the work)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _trial_scores(run_dir) -> list[float]:
    with open(run_dir / "trials.csv", newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda row: int(row["trial_id"]))
    return [float(row["val_accuracy"]) for row in rows]


def _trial_values(run_dir):
    import csv

    with open(run_dir / "trials.csv", newline="") as f:
        return [{k: (int(v) if v.isdigit() else v) for k, v in row.items() if "/" in k} for row in csv.DictReader(f)]


def bench_search(trials: int, epochs: int, rounds: int) -> dict:
    """Kit against plain keras-tuner on the same trials, in alternating order (kit, plain, plain, kit, ...).

    A first, untimed kit search gives the trials the plain script replays and
    warms both up (imports, first compilations). Each run's CPU time (user +
    system, threads and children) is the headline: on a shared machine the
    wall clock also counts the neighbours. Both seed each trial alike, so the
    per-trial validation accuracies are compared too.
    """
    from kerascnn.data import load_dataset
    from kerascnn.search import run_search

    data = load_dataset({"source": "digits"}, seed=0)
    kit_wall, plain_wall, kit_cpu, plain_cpu, metric_share, differences = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = run_search(_kit_config("warmup", trials, epochs), out=tmp, printer=lambda line: None)
        values = _trial_values(run_dir)
        _plain_search(values, data, epochs, 32, Path(tmp) / "plain-warmup")
        scores = {}

        def kit(r):
            wall, cpu = time.perf_counter(), _cpu_seconds()
            run_dir = run_search(_kit_config(f"bench{r}", trials, epochs), out=tmp, printer=lambda line: None)
            kit_wall.append(time.perf_counter() - wall)
            kit_cpu.append(_cpu_seconds() - cpu)
            scores["kit"] = _trial_scores(run_dir)
            infos = [json.loads(p.read_text()) for p in (run_dir / "tuner").glob("trial_*/kerascnn.json")]
            metric_share.append(sum(i["metrics_seconds"] for i in infos) / sum(i["seconds"] for i in infos))

        def plain(r):
            wall, cpu = time.perf_counter(), _cpu_seconds()
            scores["plain"] = _plain_search(values, data, epochs, 32, Path(tmp) / f"plain{r}")
            plain_wall.append(time.perf_counter() - wall)
            plain_cpu.append(_cpu_seconds() - cpu)

        for r in range(rounds):
            for run in (kit, plain) if r % 2 == 0 else (plain, kit):
                run(r)
            differences.append(max(abs(a - b) for a, b in zip(scores["kit"], scores["plain"])))
    cpu_ratios = [k / p for k, p in zip(kit_cpu, plain_cpu)]
    wall_ratios = [k / p for k, p in zip(kit_wall, plain_wall)]
    return {
        "benchmark": "search",
        "trials": trials,
        "epochs": epochs,
        "rounds": rounds,
        "kit_cpu_seconds": [round(t, 2) for t in kit_cpu],
        "plain_cpu_seconds": [round(t, 2) for t in plain_cpu],
        "cpu_time_ratios": [round(r, 3) for r in cpu_ratios],
        "cpu_time_ratio_median": round(statistics.median(cpu_ratios), 3),
        "cpu_spread": [round(min(cpu_ratios), 3), round(max(cpu_ratios), 3)],
        "kit_wall_seconds": [round(t, 2) for t in kit_wall],
        "plain_wall_seconds": [round(t, 2) for t in plain_wall],
        "wall_time_ratio_median": round(statistics.median(wall_ratios), 3),
        "wall_spread": [round(min(wall_ratios), 3), round(max(wall_ratios), 3)],
        "goal": "cpu-time ratio <= 1.00, identical trial results",
        "max_val_accuracy_difference_per_round": [round(d, 4) for d in differences],
        "note": "the kit's time includes data checks, the SVC baseline, test evaluation and saving the best model",
        "metrics_callback_share_of_fit_time": round(statistics.median(metric_share), 3),
    }


#: Where a trial's time goes: category -> (path fragment, function name) pairs whose cumulative time counts
#: (``*`` any function of that file). Outermost calls only: a call from a function of the same category is
#: not counted twice.
PROFILE_CATEGORIES = {
    "build + geometry": (
        ("kerascnn/search/hypermodel.py", "build"),
        ("kerascnn/search/hypermodel.py", "check_candidate"),
        ("tools/bench.py", "build"),
    ),
    "scikit-learn metrics callback": (("kerascnn/evaluation/metrics.py", "on_epoch_end"),),
    "checkpoints": (
        ("keras_tuner/src/engine/tuner_utils.py", "on_epoch_end"),
        ("keras_tuner/src/engine/tuner_utils.py", "_save_model"),
    ),
    "TensorBoard writing": (("keras/src/callbacks/tensorboard.py", "*"), ("kerascnn/evaluation/tensorboard.py", "*")),
    "validation (Keras' pass)": (("trainer.py", "evaluate"),),
    "fit": (("trainer.py", "fit"),),
}


def _profile_categories(path) -> dict:
    """Seconds per :data:`PROFILE_CATEGORIES` entry from a cProfile dump.

    Train steps are fit's time minus what runs inside it."""
    import pstats

    stats = pstats.Stats(str(path)).stats  # (file, line, name) -> (calls, ncalls, own, cumulative, callers)

    def member(key, pairs):
        file, _, func = key
        return any(fragment in file.replace("\\", "/") and name in ("*", func) for fragment, name in pairs)

    out = {}
    for category, pairs in PROFILE_CATEGORIES.items():
        out[category] = sum(
            cumulative
            for key, (_, _, _, cumulative, callers) in stats.items()
            if member(key, pairs) and not any(member(c, pairs) for c in callers)
        )
    inside = sum(
        out[k]
        for k in ("scikit-learn metrics callback", "checkpoints", "TensorBoard writing", "validation (Keras' pass)")
    )
    out["train steps (incl. tracing, other callbacks)"] = max(0.0, out.pop("fit") - inside)
    return {k: round(v, 2) for k, v in out.items()}


def bench_profile(trials: int, epochs: int) -> dict:
    """The same trials, kit and plain, each under cProfile: where their time goes."""
    import cProfile

    from kerascnn.data import load_dataset
    from kerascnn.search import run_search

    data = load_dataset({"source": "digits"}, seed=0)
    report = {"benchmark": "search --profile", "trials": trials, "epochs": epochs}
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = run_search(_kit_config("warmup", trials, epochs), out=tmp, printer=lambda line: None)
        values = _trial_values(run_dir)
        _plain_search(values, data, epochs, 32, Path(tmp) / "plain-warmup")
        for who, call in (
            ("kit", lambda: run_search(_kit_config("profiled", trials, epochs), out=tmp, printer=lambda line: None)),
            ("plain", lambda: _plain_search(values, data, epochs, 32, Path(tmp) / "plain-profiled")),
        ):
            profiler = cProfile.Profile()
            start = time.perf_counter()
            profiler.runcall(call)
            wall = time.perf_counter() - start
            path = Path(tmp) / f"{who}.prof"
            profiler.dump_stats(path)
            parts = _profile_categories(path)
            parts["other (data, SVC baseline, test split, best model, tuner bookkeeping)"] = round(
                max(0.0, wall - sum(parts.values())), 2
            )
            report[who] = {"wall_seconds": round(wall, 2), **parts}
    return report


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_memory(trials: int) -> dict:
    """Resident memory along a long search (the kit clears the Keras session between trials)."""
    from kerascnn.search import run_search

    rss = {}

    def printer(line):
        if line.startswith("["):
            rss[int(line[1:].split("/")[0])] = _rss_mb()

    cfg = _kit_config("memory", trials, 1)
    cfg["search"]["space"] = {
        "filters": [4, 8, 16],
        "kernel_size": [3, 5],
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
    }
    with tempfile.TemporaryDirectory() as tmp:
        run_search(cfg, out=tmp, printer=printer)
    first, last = rss[min(5, trials)], rss[trials]
    return {
        "benchmark": "memory",
        "trials": trials,
        "rss_mb_after_trial_5": round(first, 1),
        f"rss_mb_after_trial_{trials}": round(last, 1),
        "growth": round(last / first - 1, 4),
        "goal": "< 0.10",
    }


def bench_distributed(trials: int, epochs: int) -> dict:
    """The same search with one worker and with two workers (a chief and worker processes)."""
    import socket
    import subprocess

    import yaml

    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            exp = Path(tmp) / f"w{workers}.yaml"
            exp.write_text(
                yaml.safe_dump(
                    {
                        "name": f"w{workers}",
                        "data": {"source": "digits"},
                        "model": {"architecture": "simple_cnn", "params": {"conv_layers": 2, "dense_units": 32}},
                        "search": {"max_trials": trials, "space": {"filters": [8, 16, 32], "kernel_size": [3, 5]}},
                        "train": {"epochs": epochs},
                    }
                )
            )
            port = free_port()
            cmd = [sys.executable, "-m", "kerascnn", "search", str(exp), "--out", tmp]
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
            start = time.perf_counter()
            chief = subprocess.Popen(
                cmd + ["--chief", f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            procs = [
                subprocess.Popen(
                    cmd + ["--worker", f"127.0.0.1:{port}", "--worker-id", str(i)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for i in range(workers)
            ]
            chief.wait()
            for p in procs:
                p.wait()
            results[workers] = time.perf_counter() - start
    return {
        "benchmark": "distributed",
        "trials": trials,
        "epochs": epochs,
        "seconds_one_worker": round(results[1], 1),
        "seconds_two_workers": round(results[2], 1),
        "wall_time_ratio_two_over_one": round(results[2] / results[1], 3),
        "trials_per_minute": {
            "one_worker": round(60 * trials / results[1], 2),
            "two_workers": round(60 * trials / results[2], 2),
        },
        "cores": os.cpu_count(),
    }


MODEL_PAIRS = (
    ("resnet50", "ResNet50"),
    ("mobilenet_v2", "MobileNetV2"),
    ("efficientnet_b0", "EfficientNetB0"),
    ("densenet121", "DenseNet121"),
)


def bench_models(size: int, batch: int, steps: int, rounds: int) -> dict:
    import numpy as np

    import keras

    import kerascnn

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")
    y = rng.integers(0, 10, batch)
    report = {
        "size": size,
        "batch": batch,
        "steps_per_round": steps,
        "rounds": rounds,
        "backend": keras.backend.backend(),
    }
    for name, twin in MODEL_PAIRS:
        models = {
            "kit": kerascnn.create_model(name, input_shape=(size, size, 3), num_classes=10),
            "keras": getattr(keras.applications, twin)(weights=None, input_shape=(size, size, 3), classes=10),
        }
        for model in models.values():
            model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
            for _ in range(2):  # trace and warm up
                model.train_on_batch(x, y)
        times = {k: [] for k in models}
        for r in range(rounds):
            order = list(models) if r % 2 == 0 else list(reversed(models))  # alternate who goes first
            for key in order:
                start = time.perf_counter()
                for _ in range(steps):
                    models[key].train_on_batch(x, y)
                times[key].append(time.perf_counter() - start)
        per_sec = {k: steps * batch / statistics.median(v) for k, v in times.items()}
        report[name] = {
            "kit_images_per_s": round(per_sec["kit"], 2),
            "keras_images_per_s": round(per_sec["keras"], 2),
            "ratio": round(per_sec["kit"] / per_sec["keras"], 3),
        }
        keras.backend.clear_session()
    report["goal"] = "ratio >= 0.98 for every model"
    report["met"] = all(report[name]["ratio"] >= 0.98 for name, _ in MODEL_PAIRS)
    return report


def bench_quality(trials: int, seed: int = 0) -> dict:
    """Time to quality: the kit (default experiment, median pruning) against plain keras-tuner's RandomSearch.

    Plain keras-tuner gets the kit's model-building function (``CNNHyperModel.build``
    as a function, so keras-tuner runs Keras' own ``fit``; with the experiment's
    ``data.augmentation`` layers, which are part of the model), the same data split,
    epochs, batch size, seed and number of trials, with Keras' ``val_accuracy``
    as its objective; each of its trials is scored afterwards (untimed) by the
    same validation F1 the kit uses. Clocks start before each search; a trial
    counts when it ends.
    """
    import keras_tuner as kt

    from kerascnn import config
    from kerascnn.data import load_dataset
    from kerascnn.evaluation.metrics import classification_metrics, predict_labels
    from kerascnn.search import CNNHyperModel, run_search

    experiment = config.load(
        Path(__file__).resolve().parents[1] / "experiments" / "digits.yaml",
        [f"search.max_trials={trials}", "name=quality", f"seed={seed}"],
    ).to_dict()
    if experiment["search"]["pruning"] == "none":
        experiment["search"]["pruning"] = "median"
    search, train = experiment["search"], experiment["train"]
    data = load_dataset(experiment["data"], seed=experiment["seed"])
    report = {"benchmark": "quality", "seed": seed, "trials": trials, "epochs": train["epochs"]}
    with tempfile.TemporaryDirectory() as tmp:
        ended = {}  # trial id -> seconds since the start

        def printer(line):
            if line.startswith("["):
                ended[line.split()[2]] = time.perf_counter() - start

        start = time.perf_counter()
        run_dir = run_search(experiment, out=tmp, printer=printer)
        kit_seconds = time.perf_counter() - start
        with open(run_dir / "trials.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        kit_scores = {r["trial_id"]: float(r["val_f1_macro"]) for r in rows if r.get("val_f1_macro")}
        summary = json.loads((run_dir / "summary.json").read_text())

        hypermodel = CNNHyperModel(
            data.input_shape,
            data.num_classes,
            experiment["model"]["architecture"],
            space=search["space"],
            params=experiment["model"]["params"],
            tune_unlisted=False,
            train=train,
            augmentation=experiment["data"]["augmentation"],
            seed=experiment["seed"],
        )
        plain_ended = {}

        class Plain(kt.RandomSearch):
            def on_trial_end(self, trial):
                plain_ended[trial.trial_id] = time.perf_counter() - start
                super().on_trial_end(trial)

        start = time.perf_counter()
        tuner = Plain(
            hypermodel.build,
            objective="val_accuracy",
            max_trials=trials,
            seed=experiment["seed"],
            directory=tmp,
            project_name="plain",
            max_consecutive_failed_trials=trials,
        )
        tuner.search(
            data.x_train,
            data.y_train,
            validation_data=(data.x_val, data.y_val),
            epochs=train["epochs"],
            batch_size=train["batch_size"],
            verbose=0,
        )
        plain_seconds = time.perf_counter() - start
        plain_scores = {}
        for trial_id, trial in tuner.oracle.trials.items():  # untimed: the kit's validation F1 for each trial
            if trial.status == "COMPLETED":
                model = tuner.load_model(trial)
                plain_scores[trial_id] = classification_metrics(
                    data.y_val, predict_labels(model, data.x_val), data.num_classes
                )["f1_macro"]
        best_plain = tuner.oracle.get_best_trials(1)[0]
        plain_test = classification_metrics(
            data.y_test, predict_labels(tuner.load_model(best_plain), data.x_test), data.num_classes
        )["accuracy"]
    target = max(plain_scores.values())

    def first_reach(scores, ends):
        times = [ends[t] for t, score in scores.items() if score >= target and t in ends]
        return min(times) if times else None

    kit_reach, plain_reach = first_reach(kit_scores, ended), first_reach(plain_scores, plain_ended)
    report.update(
        {
            "target_val_f1_macro": round(target, 4),
            "kit": {
                "seconds_to_target": kit_reach and round(kit_reach, 1),
                "search_seconds": round(kit_seconds, 1),
                "best_val_f1_macro": round(max(kit_scores.values()), 4),
                "test_accuracy": summary["test"]["accuracy"],
                "test_accuracy_best_trial": (summary.get("test_best_trial") or {}).get("accuracy"),
                "test_accuracy_ensemble": (summary.get("test_ensemble") or {}).get("accuracy"),
                "counts": summary["counts"],
            },
            "plain": {
                "seconds_to_target": round(plain_reach, 1),
                "search_seconds": round(plain_seconds, 1),
                "best_val_f1_macro": round(target, 4),
                "test_accuracy": plain_test,
                "failed_trials": sum(t.status == "FAILED" for t in tuner.oracle.trials.values()),
            },
            "svc_baseline_test_accuracy": summary["baselines"]["svc"]["accuracy"],
            "goal": "time-to-quality ratio <= 0.5, kit test accuracy not lower",
        }
    )
    report["ratio"] = round(kit_reach / plain_reach, 3) if kit_reach is not None else float("inf")
    return report


GPU_PAIRS = (("resnet50", "ResNet50"), ("efficientnet_b0", "EfficientNetB0"))
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def bench_gpu(size: int, batch: int, steps: int, rounds: int, search: bool = True) -> dict:
    import numpy as np

    import keras

    import kerascnn
    from kerascnn import config, device

    gpus = device.gpu_names()
    report = {"benchmark": "gpu", "backend": keras.backend.backend(), "keras": keras.__version__, "gpus": gpus}
    if not gpus:
        report["message"] = (
            f"no GPU visible to Keras' {keras.backend.backend()} backend: nothing measured "
            "(install the backend's CUDA build, e.g. jax[cuda12] or tensorflow[and-cuda])"
        )
        return report
    if search:
        from kerascnn.search import run_search

        experiment = config.load(Path(__file__).resolve().parents[1] / "experiments" / "digits.yaml")
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            run_dir = run_search(experiment, out=tmp, printer=lambda line: None)
            seconds = time.perf_counter() - start
            summary = json.loads((run_dir / "summary.json").read_text())
            infos = [json.loads(p.read_text()) for p in (run_dir / "tuner").glob("trial_*/kerascnn.json")]
        report["default_experiment"] = {
            "search_seconds": round(seconds, 1),
            "trials": len(infos),
            "seconds_per_trial": round(statistics.median(i["seconds"] for i in infos), 2) if infos else None,
            "test_accuracy": (summary.get("test") or {}).get("accuracy"),
            "goal": "8 trials in <= 30 s on one H100 (JAX)",
        }
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")
    y = rng.integers(0, 10, batch)
    rows = []
    for policy in POLICIES:
        keras.mixed_precision.set_global_policy(policy)
        for name, twin in GPU_PAIRS:
            models = {
                "kit": kerascnn.create_model(name, input_shape=(size, size, 3), num_classes=10),
                "keras": getattr(keras.applications, twin)(weights=None, input_shape=(size, size, 3), classes=10),
            }
            first = {}
            for key, model in models.items():
                model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
                start = time.perf_counter()
                model.train_on_batch(x, y)  # traces and compiles
                first[key] = time.perf_counter() - start
                model.train_on_batch(x, y)
            times = {k: [] for k in models}
            for r in range(rounds):
                for key in ("kit", "keras", "keras", "kit"):  # A B B A
                    start = time.perf_counter()
                    for _ in range(steps):
                        loss = models[key].train_on_batch(x, y)
                    float(np.asarray(loss))  # wait for the device
                    times[key].append(time.perf_counter() - start)
            per_sec = {k: steps * batch / statistics.median(v) for k, v in times.items()}
            rows.append(
                {
                    "model": name,
                    "policy": policy,
                    "kit_images_per_s": round(per_sec["kit"], 1),
                    "keras_images_per_s": round(per_sec["keras"], 1),
                    "ratio": round(per_sec["kit"] / per_sec["keras"], 3),
                    "kit_first_step_s": round(first["kit"], 2),
                    "keras_first_step_s": round(first["keras"], 2),
                }
            )
            keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("float32")
    report["throughput"] = rows
    header = "| model | precision | kit img/s | keras.applications img/s | kit / keras | first step kit / keras (s) |"
    lines = [header, "|---|---|---|---|---|---|"] + [
        f"| {r['model']} | {r['policy']} | {r['kit_images_per_s']} | {r['keras_images_per_s']} | {r['ratio']} | "
        f"{r['kit_first_step_s']} / {r['keras_first_step_s']} |"
        for r in rows
    ]
    report["table"] = "\n".join(lines)
    return report


_DATA_RUN = """
import json, resource, sys, time
from kerascnn.search import run_search
start, first = time.perf_counter(), []
def printer(line):
    if line.startswith("kerascnn search") and not first:
        first.append(time.perf_counter() - start)
run_search(json.loads(sys.argv[1]), out=sys.argv[2], printer=printer)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak_rss_mb": round(peak, 1), "first_trial_s": round(first[0], 2)}))
"""


def _photo_folder(root: Path, count: int, size: int) -> Path:
    """``count`` JPEGs of ``size``² pixels in four class folders: noisy colour fields, a class per hue."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        label = i % 4
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        base = np.zeros((size, size, 3)) + 60
        base[..., label % 3] += 40 + 20 * label
        image = np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"{i:06d}.jpg", quality=90)
    return root


def bench_data(small: int, big: int, size: int, rounds: int) -> dict:
    """Memory and start time of a search on a small and a big image folder; input throughput against Keras'."""
    import subprocess

    import keras

    from kerascnn.data import make_pipeline
    from kerascnn.data.sources import load_image_folder

    report: dict = {"benchmark": "data", "image_size": size, "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folders = {n: _photo_folder(tmp / f"photos{n}", n, size) for n in (small, big)}
        for n, folder in folders.items():
            for run in ("cold", "warm"):
                cfg = {
                    "name": f"data{n}{run}",
                    "data": {
                        "source": "image_folder",
                        "path": str(folder),
                        "image_size": [size, size],
                        "cache": str(tmp / f"cache{n}"),
                    },
                    "search": {"max_trials": 1, "refit": False},
                    "train": {"epochs": 1},
                }
                out = subprocess.run(
                    [sys.executable, "-c", _DATA_RUN, json.dumps(cfg), str(tmp / "runs")],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                report[f"{n}_{run}"] = json.loads(out.stdout.strip().splitlines()[-1])
        x, y, *_ = load_image_folder(folders[small], image_size=(size, size))  # the whole folder, not decoded
        kit_batches = make_pipeline(x, y, 64, shuffle=False)
        keras_batches = keras.utils.image_dataset_from_directory(
            folders[small], image_size=(size, size), batch_size=64, shuffle=False, verbose=False
        )

        def images_per_second(batches):
            start, count = time.perf_counter(), 0
            for images, _ in batches:
                count += int(images.shape[0])
            return count / (time.perf_counter() - start)

        images_per_second(kit_batches), images_per_second(keras_batches)  # warm-up: files in the page cache
        kit, plain = [], []
        for r in range(rounds):
            order = ((kit, kit_batches), (plain, keras_batches))
            for sink, batches in order if r % 2 == 0 else order[::-1]:
                sink.append(images_per_second(batches))
    ratios = [k / p for k, p in zip(kit, plain)]
    report.update(
        {
            "throughput_images_per_s": {
                "kit": [round(v) for v in kit],
                "image_dataset_from_directory": [round(v) for v in plain],
            },
            "throughput_ratio_median": round(statistics.median(ratios), 3),
            "memory_ratio": round(report[f"{big}_cold"]["peak_rss_mb"] / report[f"{small}_cold"]["peak_rss_mb"], 3),
            "memory_ratio_warm": round(
                report[f"{big}_warm"]["peak_rss_mb"] / report[f"{small}_warm"]["peak_rss_mb"], 3
            ),
            "first_trial_speedup": round(
                report[f"{big}_cold"]["first_trial_s"] / report[f"{big}_warm"]["first_trial_s"], 2
            ),
            "goals": {"memory_ratio": "<= 1.2", "first_trial_speedup": ">= 5", "throughput_ratio": ">= 0.9"},
        }
    )
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("search", help="kit search vs a plain keras-tuner script on the same trials")
    s.add_argument("--trials", type=int, default=4)
    s.add_argument("--epochs", type=int, default=3)
    s.add_argument("--rounds", type=int, default=5, help="alternating rounds (at least 5)")
    s.add_argument("--profile", action="store_true", help="where a trial's time goes, kit and plain, instead")
    m = sub.add_parser("memory", help="resident memory along a long search")
    m.add_argument("--trials", type=int, default=30)
    d = sub.add_parser("distributed", help="one worker against two workers on the same search")
    d.add_argument("--trials", type=int, default=12)
    d.add_argument("--epochs", type=int, default=3)
    b = sub.add_parser("models", help="training throughput of kit models against keras.applications'")
    b.add_argument("--size", type=int, default=64)
    b.add_argument("--batch", type=int, default=16)
    b.add_argument("--steps", type=int, default=5)
    b.add_argument("--rounds", type=int, default=5)
    q = sub.add_parser("quality", help="time to plain keras-tuner's best validation F1, kit with pruning vs plain")
    q.add_argument("--trials", type=int, default=16)
    q.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="seeds (data split and search) to run; the ratio printed last is their median. One search "
        "pair is one draw of the candidates' order, so a single seed mostly measures luck",
    )
    g = sub.add_parser("gpu", help="default experiment and model throughput on a GPU, any backend")
    g.add_argument("--size", type=int, default=224)
    g.add_argument("--batch", type=int, default=64)
    g.add_argument("--steps", type=int, default=20)
    g.add_argument("--rounds", type=int, default=2)
    g.add_argument("--skip-search", action="store_true", help="only the model throughput")
    a = sub.add_parser("data", help="memory and start time on a small and a big image folder; input throughput")
    a.add_argument("--small", type=int, default=2000)
    a.add_argument("--big", type=int, default=20000)
    a.add_argument("--size", type=int, default=64)
    a.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.what == "data":
        result = bench_data(args.small, args.big, args.size, args.rounds)
        print(json.dumps(result, indent=2))
        print(f"first-trial speedup (warm / cold cache, {args.big} images): {result['first_trial_speedup']}")
        print(f"memory ratio ({args.big} / {args.small} images): {result['memory_ratio']}")
        print(f"throughput ratio (kit / image_dataset_from_directory): {result['throughput_ratio_median']}")
        return 0
    if args.what == "gpu":
        result = bench_gpu(args.size, args.batch, args.steps, args.rounds, search=not args.skip_search)
        table = result.pop("table", None)
        print(json.dumps(result, indent=2))
        if table:
            print(f"\n{result['gpus'][0]}, Keras {result['keras']} on {result['backend']}:\n\n{table}")
        else:
            print(result["message"])
        return 0
    if args.what == "quality":
        results = [bench_quality(args.trials, seed) for seed in args.seeds]
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
        for r in results if len(results) > 1 else ():
            ensemble = r["kit"]["test_accuracy_ensemble"]
            print(
                f"seed {r['seed']}: ratio {r['ratio']}, test accuracy kit {r['kit']['test_accuracy']:.4f}"
                + (f" (ensemble {ensemble:.4f})" if ensemble is not None else "")
                + f" plain {r['plain']['test_accuracy']:.4f}"
            )
        print(f"time-to-quality ratio: {statistics.median(r['ratio'] for r in results)}")
        return 0
    if args.what == "models":
        result = bench_models(args.size, args.batch, args.steps, args.rounds)
    elif args.what == "memory":
        result = bench_memory(args.trials)
    elif args.what == "distributed":
        result = bench_distributed(args.trials, args.epochs)
    elif args.profile:
        result = bench_profile(args.trials, args.epochs)
    else:
        if args.rounds < 5:
            parser.error(f"--rounds: at least 5 alternating rounds give a median with a spread; got {args.rounds}")
        result = bench_search(args.trials, args.epochs, args.rounds)
        print(json.dumps(result, indent=2))
        same = max(result["max_val_accuracy_difference_per_round"]) == 0
        print(
            f"wall-time ratio (median): {result['wall_time_ratio_median']} "
            f"(spread {result['wall_spread'][0]}-{result['wall_spread'][1]}); trial results "
            + ("identical" if same else f"differ by up to {max(result['max_val_accuracy_difference_per_round'])}")
        )
        print(
            f"cpu-time ratio (median): {result['cpu_time_ratio_median']} "
            f"(spread {result['cpu_spread'][0]}-{result['cpu_spread'][1]} over {args.rounds} rounds)"
        )
        return 0
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
