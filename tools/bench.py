"""Performance goals, measured side by side in one process or one run (machines are shared and noisy).

    python tools/bench.py search [--trials 4] [--epochs 3] [--rounds 5] [--profile]
    python tools/bench.py memory [--trials 30]
    python tools/bench.py distributed [--trials 12] [--epochs 3]
    python tools/bench.py models [--size 64] [--batch 16] [--steps 5] [--rounds 5]
    python tools/bench.py quality [--seeds 0 1 2] [--budget 480] [--plot PNG] [--json FILE]
    python tools/bench.py gpu [--size 224] [--batch 64] [--steps 20] [--rounds 2] [--skip-search]
    python tools/bench.py data [--small 2000] [--big 20000] [--size 64] [--rounds 3]

``search``: the kit's search (``run_search``) against a plain keras-tuner script
running the same trials (the same hyperparameter values, epochs and batch
size, models written with plain Keras layers, Keras' own metrics only, fed
by tf.data's cached, shuffled, batched pipeline as the kit feeds its own on
TensorFlow). After
an untimed warm-up of each, the two alternate for ``--rounds`` rounds (at
least 5: kit, plain, plain, kit, ...). Each run's CPU time (user + system of
the process's threads and children) is the headline, since load from other
jobs stretches wall time but not the work done; wall time is reported beside
it. Both seed each trial alike (run seed + trial number), so they train on
the same batches from the same weights; each round compares their
validation accuracies, every trial and epoch. The report gives each
round's ratios, the medians with their spread, the share of fit time the
scikit-learn metrics callback takes, and ends with ``cpu-time ratio
(median): X`` (goal <= 1.00, with identical trial results).
``--profile`` runs each once under cProfile instead and prints where the time
goes (build + geometry, train steps, Keras' validation pass, the metrics
callback, checkpoints, TensorBoard writing).

``quality``: equal wall-clock budget on MNIST-1D (``--budget`` seconds per
tool and seed, ``--seeds``). The kit's default for it
(``experiments/mnist1d.yaml``: pruning and the seed-averaged refit, planned
into the budget by ``search.max_seconds``) against keras-tuner's
``RandomSearch`` and ``Hyperband`` and Optuna's TPE sampler with its
``MedianPruner`` (dev-only: ``requirements-dev.txt``), all on the same
split, the same networks (the kit's ``CNNHyperModel.build``), epochs, batch
size and seeded trials. The peers keep their best trial. Prints a table
(seed, tool, trials, test accuracy, macro F1, wall time) and last
``quality gain over the best peer (median, points): X`` (goal >= +1.0, and
the kit never below a peer on any seed). ``--plot`` draws the anytime curve
(test accuracy of each tool's best model so far, with the paper's CNN and
human-expert lines).

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
        def run_trial(self, trial, *args, **kwargs):
            """Seeded as the kit seeds a trial (run seed + trial number), then fed by tf.data's own idiom:
            cached, shuffled each epoch, batched, prefetched. That is the kit's pipeline on TensorFlow, so
            both train on the same batches and the trials can be compared one by one."""
            import tensorflow as tf

            keras.utils.set_random_seed(int(trial.trial_id))
            curve = curves[trial.trial_id] = []
            record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: curve.append(logs["val_accuracy"]))
            kwargs["callbacks"] = [*kwargs.get("callbacks", []), record]
            train = (
                tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train))
                .cache()
                .shuffle(len(data.y_train), seed=0, reshuffle_each_iteration=True)
                .batch(batch_size)
                .prefetch(tf.data.AUTOTUNE)
            )
            return super().run_trial(trial, train, *args, **kwargs)

    curves: dict = {}  # trial id -> validation accuracy per epoch
    oracle = Replay(objective="val_accuracy", max_trials=len(trial_values))
    tuner = Seeded(oracle=oracle, hypermodel=build, directory=str(directory), project_name="plain", overwrite=True)
    tuner.search(validation_data=(data.x_val, data.y_val), epochs=epochs, verbose=0)
    return [curves[t] for t in sorted(curves, key=int)]


def _cpu_seconds() -> float:
    """CPU time of this process (all its threads) and its waited-for children: what load on the machine cannot
    inflate, unlike wall time (a busy neighbour slows the clock, not the work)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _trial_scores(run_dir) -> list[list[float]]:
    """Each trial's validation accuracy per epoch (``trials.csv`` has only the epoch where the objective was best)."""
    with open(run_dir / "trials.csv", newline="") as f:
        ids = sorted((row["trial_id"] for row in csv.DictReader(f)), key=int)
    facts = [json.loads((run_dir / "tuner" / f"trial_{i}" / "kerascnn.json").read_text()) for i in ids]
    return [f["history"]["val_accuracy"] for f in facts]


def _largest_difference(kit: list, plain: list) -> float:
    """The largest validation-accuracy difference between the kit's and the plain script's trials, any epoch."""
    if len(kit) != len(plain) or any(len(a) != len(b) for a, b in zip(kit, plain)):
        return float("inf")  # not the same trials or epochs: nothing to compare
    return max(abs(a - b) for k, p in zip(kit, plain) for a, b in zip(k, p))


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
            differences.append(_largest_difference(scores["kit"], scores["plain"]))
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


#: MNIST-1D's published test accuracies (Greydanus & Kobak, 2020), drawn on the anytime plot.
PUBLISHED = {"CNN (published)": 0.94, "human expert (published)": 0.96}
PEERS = ("keras-tuner RandomSearch", "keras-tuner Hyperband", "Optuna TPE + MedianPruner")


def _score(model, x, y, num_classes) -> dict:
    from kerascnn.evaluation.metrics import classification_metrics, predict_labels

    scores = classification_metrics(y, predict_labels(model, x), num_classes)
    return {"accuracy": scores["accuracy"], "f1_macro": scores["f1_macro"]}


class _Clock:
    """A tool's clock: seconds since its start, the bench's own scoring (``paused``) left out."""

    def __init__(self, budget: float):
        self.start, self.paused, self.budget = time.perf_counter(), 0.0, budget

    def seconds(self) -> float:
        return time.perf_counter() - self.start - self.paused

    def out(self) -> bool:
        return self.seconds() >= self.budget


def _stop_at(clock):
    """A Keras callback ending ``fit`` at the first epoch end past the budget (the tool keeps what it trained)."""
    import keras

    class StopAt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if clock.out():
                self.model.stop_training = True

    return StopAt()


def _keras_tuner_peer(kind, exp, data, hypermodel, clock, directory) -> dict:
    """keras-tuner's RandomSearch or Hyperband over the kit's model-building function, each trial seeded,
    stopped at the budget; its best trial (by ``val_accuracy``) is its model."""
    import keras
    import keras_tuner as kt

    seed, train = exp.seed, exp.train
    base = kt.RandomSearch if kind == "random" else kt.Hyperband
    ended = []  # (seconds, trial id)

    class Peer(base):
        def run_trial(self, trial, *args, **kwargs):
            keras.utils.set_random_seed(seed + int(trial.trial_id))
            kwargs["callbacks"] = [*kwargs.get("callbacks", []), _stop_at(clock)]
            return super().run_trial(trial, *args, **kwargs)

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            ended.append((clock.seconds(), trial.trial_id))

    common = dict(objective="val_accuracy", seed=seed, directory=str(directory), project_name=kind, overwrite=True)
    if kind == "random":
        tuner = Peer(hypermodel.build, max_trials=10_000, **common)
    else:
        tuner = Peer(hypermodel.build, max_epochs=train.epochs, factor=3, hyperband_iterations=10_000, **common)
    create_trial = tuner.oracle.create_trial

    def create_trial_in_budget(tuner_id):  # no new trial past the budget
        if clock.out():
            return kt.engine.trial.Trial(tuner.oracle.get_space(), status="STOPPED")
        return create_trial(tuner_id)

    tuner.oracle.create_trial = create_trial_in_budget
    tuner.search(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=train.epochs,
        batch_size=train.batch_size,
        verbose=0,
    )
    seconds = clock.seconds()
    finished = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED" and t.score is not None]
    curve, best = [], None
    for at, trial_id in ended:  # the best model so far after each trial, scored on the test split afterwards
        trial = tuner.oracle.trials[trial_id]
        if trial.status == "COMPLETED" and trial.score is not None and (best is None or trial.score > best.score):
            best = trial
            curve.append((at, _score(tuner.load_model(trial), data.x_test, data.y_test, data.num_classes)["accuracy"]))
    test = _score(tuner.load_model(best), data.x_test, data.y_test, data.num_classes)
    return {"trials": len(finished), "pruned": 0, "seconds": seconds, "test": test, "curve": curve}


def _optuna_space(hypermodel):
    """keras-tuner's declared hyperparameters of the kit's build, for Optuna to sample: the same networks."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    hypermodel.build(hp)
    return hp


def _optuna_values(trial, space):
    """Optuna's suggestions for keras-tuner's declared hyperparameters (``space``), as keras-tuner values."""
    import keras_tuner as kt

    kinds = kt.engine.hyperparameters
    values = {}
    for hp in space.space:
        if isinstance(hp, kinds.Fixed):
            values[hp.name] = hp.value
        elif isinstance(hp, kinds.Boolean):
            values[hp.name] = trial.suggest_categorical(hp.name, [False, True])
        elif isinstance(hp, kinds.Choice):
            values[hp.name] = trial.suggest_categorical(hp.name, list(hp.values))
        elif isinstance(hp, kinds.Int):
            values[hp.name] = trial.suggest_int(hp.name, hp.min_value, hp.max_value, step=hp.step or 1)
        else:
            values[hp.name] = trial.suggest_float(hp.name, hp.min_value, hp.max_value, log=hp.sampling == "log")
    hps = space.copy()
    hps.values = values
    return hps


def _optuna_peer(exp, data, hypermodel, clock, directory) -> dict:
    """Optuna's TPE sampler with its MedianPruner (through optuna-integration's Keras callback) over the same
    networks, each trial seeded, stopped at the budget; its best completed trial's best epoch is its model."""
    import optuna
    from optuna_integration import KerasPruningCallback

    import keras

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    search, train = exp.search, exp.train
    space = _optuna_space(hypermodel)
    ended, saved = [], {}

    class KeepBest(keras.callbacks.Callback):  # the best epoch's weights, as keras-tuner's checkpoint keeps them
        def __init__(self):
            super().__init__()
            self.best, self.weights = -1.0, None

        def on_epoch_end(self, epoch, logs=None):
            if logs["val_accuracy"] > self.best:
                self.best, self.weights = logs["val_accuracy"], self.model.get_weights()

    def objective(trial):
        keras.utils.set_random_seed(exp.seed + trial.number)
        model = hypermodel.build(_optuna_values(trial, space))
        keep = KeepBest()
        try:
            model.fit(
                data.x_train,
                data.y_train,
                validation_data=(data.x_val, data.y_val),
                epochs=train.epochs,
                batch_size=train.batch_size,
                verbose=0,
                callbacks=[KerasPruningCallback(trial, "val_accuracy"), keep, _stop_at(clock)],
            )
        finally:
            keras.backend.clear_session()
        model.set_weights(keep.weights)
        saved[trial.number] = Path(directory) / f"trial_{trial.number}.keras"
        model.save(saved[trial.number])
        return keep.best

    def note_end(study, trial):
        ended.append((clock.seconds(), trial))

    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=search.pruning_min_trials, n_warmup_steps=search.pruning_warmup_epochs
    )
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=exp.seed), pruner=pruner)
    Path(directory).mkdir(parents=True, exist_ok=True)
    study.optimize(objective, timeout=clock.budget, callbacks=[note_end])
    seconds = clock.seconds()
    curve, best = [], None
    for at, trial in ended:
        if trial.state == optuna.trial.TrialState.COMPLETE and (best is None or trial.value > best.value):
            best = trial
            model = keras.saving.load_model(saved[trial.number])
            curve.append((at, _score(model, data.x_test, data.y_test, data.num_classes)["accuracy"]))
    test = _score(keras.saving.load_model(saved[best.number]), data.x_test, data.y_test, data.num_classes)
    states = [t.state for t in study.trials]
    return {
        "trials": sum(s == optuna.trial.TrialState.COMPLETE for s in states),
        "pruned": sum(s == optuna.trial.TrialState.PRUNED for s in states),
        "seconds": seconds,
        "test": test,
        "curve": curve,
    }


def _kit(exp, data, budget, out) -> dict:
    """The kit's own default for MNIST-1D (``experiments/mnist1d.yaml``) with ``search.max_seconds``."""
    import keras
    import keras_tuner as kt

    from kerascnn.search import CNNHyperModel, run_search

    clock, ended = _Clock(budget), []

    def printer(line):
        if line.startswith("[") and "] trial " in line:
            ended.append((clock.seconds(), line.split("] trial ")[1].split()[0]))

    config = exp.to_dict()
    config["search"].update(max_seconds=budget, max_trials=10_000)
    run_dir = run_search(config, out=out, printer=printer, progress=False)
    seconds = clock.seconds()
    summary = json.loads((run_dir / "summary.json").read_text())
    scores = {r["trial_id"]: r for r in csv.DictReader(open(run_dir / "trials.csv", newline=""))}
    hypermodel = CNNHyperModel.for_experiment(exp, data)
    curve, best = [], None
    for at, trial_id in ended:  # the best searched trial so far, scored afterwards from its checkpoint
        row = scores[trial_id]
        if row["status"] == "COMPLETED" and (best is None or float(row["val_f1_macro"]) > best):
            best = float(row["val_f1_macro"])
            folder = run_dir / "tuner" / f"trial_{trial_id}"
            trial = kt.engine.trial.Trial.load(str(folder / "trial.json"))
            model = hypermodel.build(trial.hyperparameters)
            model.load_weights(folder / "checkpoint.weights.h5")
            curve.append((at, _score(model, data.x_test, data.y_test, data.num_classes)["accuracy"]))
            keras.backend.clear_session()
    test = summary["test"] or {"accuracy": 0.0, "f1_macro": 0.0}  # no model at all: the budget was too short
    if summary["test"]:
        curve.append((seconds, test["accuracy"]))  # the model the kit hands over: refit (and ensemble) included
    return {
        "trials": summary["counts"]["completed"],
        "pruned": summary["counts"]["pruned"],
        "seconds": seconds,
        "test": {"accuracy": test["accuracy"], "f1_macro": test["f1_macro"]},
        "curve": curve,
        "result": {"ensemble_model.keras": "ensemble", "final_model.keras": "final model"}.get(
            summary.get("predictions_from"), "best trial" if summary["test"] else "no model"
        ),
        "budget": summary.get("budget"),
    }


def bench_quality(seed: int, budget: float) -> dict:
    """Equal wall-clock budget on MNIST-1D: the kit's default against keras-tuner and Optuna on the same networks.

    Every tool gets the same data split (the kit's, from the seed), the kit's
    model-building function (``CNNHyperModel.build``: the experiment's
    network, space, augmentation, optimizer and schedule; Optuna samples
    the hyperparameters keras-tuner declares for it), the same epochs and
    batch size, trials seeded from the seed, and ``budget`` seconds. The
    peers keep their best trial; the kit plans its search, refit and
    ensemble into the budget (``search.max_seconds``). Each tool's model is
    scored on the 1,000 test signals; the bench's own scoring is not timed.
    """
    import keras

    from kerascnn import config
    from kerascnn.data import load_dataset
    from kerascnn.search import CNNHyperModel
    from kerascnn.search.run import check_experiment

    exp = check_experiment(
        config.load(
            Path(__file__).resolve().parents[1] / "experiments" / "mnist1d.yaml",
            [f"seed={seed}", f"name=quality{seed}"],
        )
    )
    data = load_dataset(exp.data, seed=exp.seed)
    report = {"seed": seed, "budget_seconds": budget, "tools": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for tool in ("kerascnn", *PEERS):
            keras.backend.clear_session()
            keras.utils.set_random_seed(seed)
            clock, hypermodel = _Clock(budget), CNNHyperModel.for_experiment(exp, data)
            if tool == "kerascnn":
                result = _kit(exp, data, budget, tmp)
            elif tool == "Optuna TPE + MedianPruner":
                result = _optuna_peer(exp, data, hypermodel, clock, Path(tmp) / "optuna")
            else:
                kind = "random" if "Random" in tool else "hyperband"
                result = _keras_tuner_peer(kind, exp, data, hypermodel, clock, Path(tmp) / kind)
            report["tools"][tool] = result
            print(
                f"seed {seed} {tool}: test accuracy {result['test']['accuracy']:.4f}, "
                f"{result['trials']} trials, {result['seconds']:.0f}s",
                file=sys.stderr,
            )
    kit = report["tools"]["kerascnn"]["test"]["accuracy"]
    peers = [report["tools"][p]["test"]["accuracy"] for p in PEERS]
    report["gain_points"] = round(100 * (kit - max(peers)), 2)
    report["kit_below_a_peer"] = any(kit < p for p in peers)
    return report


def quality_table(results: list[dict]) -> str:
    """The Markdown table of :func:`bench_quality`'s runs."""
    lines = [
        "| seed | tool | trials completed (+ pruned) | test accuracy | test macro F1 | wall time |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        for tool, t in r["tools"].items():
            name = f"**{tool}** ({t['result']})" if tool == "kerascnn" else tool
            lines.append(
                f"| {r['seed']} | {name} | {t['trials']}"
                + (f" + {t['pruned']}" if t["pruned"] else "")
                + f" | {t['test']['accuracy']:.4f} | "
                f"{t['test']['f1_macro']:.4f} | {t['seconds']:.0f} s |"
            )
    return "\n".join(lines)


def anytime_plot(results: list[dict], path: Path) -> None:
    """Test accuracy of each tool's best model so far against time: one panel per seed, the paper's lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4.4), sharey=True, squeeze=False)
    colors = dict(zip(("kerascnn", *PEERS), ("C3", "C0", "C1", "C2")))
    for ax, r in zip(axes[0], results):
        for tool, t in r["tools"].items():
            if not t["curve"]:
                continue
            xs, ys = zip(*t["curve"])
            kit = tool == "kerascnn"
            ax.step(
                (*xs, r["budget_seconds"]),
                (*ys, ys[-1]),
                where="post",
                color=colors[tool],
                lw=2 if kit else 1.2,
                label=tool,
            )
            if kit:  # the model the kit hands over: refit (and ensemble) included
                ax.plot(xs[-1], ys[-1], "*", color=colors[tool], ms=10, label=f"kerascnn {t['result']}")
        for (label, value), color in zip(PUBLISHED.items(), ("0.45", "0.2")):
            ax.axhline(value, color=color, lw=0.9, ls=(0, (5, 3)))
            ax.text(3, value + 0.002, label, fontsize=7.5, color=color)
        ax.set_title(f"seed {r['seed']}", fontsize=10)
        ax.set_xlabel(f"seconds of the {r['budget_seconds']:g} s budget")
        ax.set_ylim(0.93, 1.0)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy of the best model so far")
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle("MNIST-1D, 2 CPU cores: the same networks and budget for each tool (below 0.93: off the chart)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    q = sub.add_parser("quality", help="MNIST-1D at equal wall-clock budget: the kit against keras-tuner and Optuna")
    q.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (split, initialisation, draws)")
    q.add_argument("--budget", type=float, default=480, help="wall-clock seconds each tool gets per seed")
    q.add_argument("--plot", type=Path, help="write the anytime plot (PNG) here")
    q.add_argument("--json", type=Path, help="write every run's numbers (curves included) here")
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
        if args.budget <= 0 or len(args.seeds) < 1:
            parser.error(
                f"--budget must be positive and --seeds name at least one seed; got {args.budget}, {args.seeds}"
            )
        results = [bench_quality(seed, args.budget) for seed in args.seeds]
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        if args.plot:
            anytime_plot(results, args.plot)
        print(quality_table(results))
        below = [r["seed"] for r in results if r["kit_below_a_peer"]]
        print("kit below a peer on seed(s): " + (", ".join(map(str, below)) if below else "none"))
        gain = statistics.median(r["gain_points"] for r in results)
        print(f"quality gain over the best peer (median, points): {gain:+.2f}")
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
