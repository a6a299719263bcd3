"""``run_search``: an experiment config in, a finished run directory out.

Flow: validate the config -> load and check data -> save ``config.yaml`` ->
keras-tuner search (geometry-checked candidates, scikit-learn metrics,
TensorBoard under ``tb/``) -> best model on the test split -> SVC baseline ->
``summary.json``, ``predictions_test.csv``, ``best_model.keras``.

Running the same experiment again resumes it (keras-tuner reloads its oracle;
a trial cut off by a kill is run again); ``overwrite=True`` starts over.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from kerascnn import config as config_module


def run_dir_for(config: dict, out: str | Path = "runs") -> Path:
    return Path(out) / config["name"]


def _prepare_run_dir(run_dir: Path, config: dict, overwrite: bool) -> None:
    """Create the run directory; refuse to resume a run whose experiment changed."""
    saved = run_dir / "config.yaml"
    if overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    elif saved.exists():
        import yaml

        previous = yaml.safe_load(saved.read_text())
        if _search_identity(previous) != _search_identity(config):
            raise config_module.ConfigError(
                f"{run_dir} holds a run of a different experiment (its config.yaml differs in data, model or "
                "search). Use --overwrite to start over, or another name / --out to keep both."
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    config_module.save(config, saved)


def _search_identity(config: dict) -> dict:
    """What must not change between a run and its resumption (max_trials and epochs may)."""
    search = {k: v for k, v in config.get("search", {}).items() if k not in ("max_trials", "worker_timeout")}
    return {"seed": config.get("seed"), "data": config.get("data"), "model": config.get("model"), "search": search}


def svc_baseline(dataset, seed: int = 0) -> dict:
    """A scikit-learn SVC (default settings) on the flattened train+validation data, scored on the test split."""
    from sklearn.svm import SVC

    from kerascnn.evaluation.metrics import classification_metrics

    flat = lambda x: x.reshape(len(x), -1)  # noqa: E731
    # The baseline has no hyperparameters to select, so it learns from every non-test sample.
    x_fit = np.concatenate([flat(dataset.x_train), flat(dataset.x_val)])
    y_fit = np.concatenate([dataset.y_train, dataset.y_val])
    clf = SVC(random_state=seed).fit(x_fit, y_fit)
    metrics = classification_metrics(dataset.y_test, clf.predict(flat(dataset.x_test)), dataset.num_classes, per_class=False)
    return {"model": "sklearn.svm.SVC()", "accuracy": metrics["accuracy"], "f1_macro": metrics["f1_macro"]}


def run_search(config: dict, *, out: str | Path = "runs", overwrite: bool = False, arrays=None,
               printer=print) -> Path:
    """Run (or resume) the search an experiment describes; return its run directory.

    Args:
        config: a resolved config (:func:`kerascnn.config.resolve` / ``load``).
        out: parent of the run directory (``<out>/<name>/``).
        overwrite: delete an existing run of this name first.
        arrays: ``(x, y[, x_test, y_test])`` for ``data.source: arrays``.
        printer: where progress lines go.
    """
    import keras
    from keras_tuner.src import config as keras_tuner_config

    from kerascnn import device
    from kerascnn.data import load_dataset
    from kerascnn.evaluation import tensorboard as tb
    from kerascnn.evaluation.metrics import classification_metrics, predict_labels
    from kerascnn.evaluation.report import write_report
    from kerascnn.search import distributed
    from kerascnn.search.hypermodel import CNNHyperModel
    from kerascnn.search.tuner import make_tuner, write_trials_csv

    config = config_module.resolve(config)
    started = time.perf_counter()
    keras_tuner_config.DEBUG = False  # a failed trial's reason goes to its progress line and trials.csv
    device.configure(config["train"], printer)
    keras.utils.set_random_seed(config["seed"])
    role = distributed.role()
    dataset = load_dataset(config["data"], seed=config["seed"], arrays=arrays)
    run_dir = run_dir_for(config, out)
    if role == "worker":  # the chief owns the run directory; a worker only adds its trials
        run_dir.mkdir(parents=True, exist_ok=True)
    else:
        _prepare_run_dir(run_dir, config, overwrite)
    search, train = config["search"], config["train"]
    strategy = device.strategy(train, printer)
    hypermodel = CNNHyperModel(
        dataset.input_shape, dataset.num_classes, config["model"]["architecture"],
        space=search["space"], params=config["model"]["params"], tune_unlisted=False,
        train=train, augmentation=config["data"]["augmentation"], data=dataset, seed=config["seed"],
        replicas=strategy.num_replicas_in_sync if strategy is not None else 1,
    )
    tuner = make_tuner(
        search["tuner"], hypermodel, objective=search["objective"], max_trials=search["max_trials"],
        seed=config["seed"], run_dir=run_dir, overwrite=False, max_params=search["constraints"]["max_params"],
        max_rejections=search["constraints"]["max_rejections"], epochs=train["epochs"],
        hyperband_factor=search["hyperband_factor"], executions_per_trial=search["executions_per_trial"],
        printer=printer, distribution_strategy=strategy, worker_timeout=search["worker_timeout"],
    )
    printer(f"kerascnn search '{config['name']}': {dataset.source} {dataset.sizes()}, input "
            f"{'×'.join(map(str, dataset.input_shape))}, {dataset.num_classes} classes; "
            f"{search['tuner']} tuner, {search['max_trials']} trials × {train['epochs']} epochs -> {run_dir}")
    if role != "worker":
        tb.write_hparams_experiment(run_dir / "tb", tuner.oracle.get_space().space, search["objective"])
        tb.write_run_text(run_dir / "tb", config, tb.device_description(train))
    # keras-tuner gives a callback named TensorBoard one log folder per trial, with HParams.
    callbacks = [keras.callbacks.TensorBoard(log_dir=str(run_dir / "tb"), histogram_freq=0,
                                             profile_batch=train["profile_batch"])]
    if train["early_stopping"]:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=search["objective"], patience=train["early_stopping"],
                                                       mode="min" if search["objective"].endswith("loss") else "max"))
    tuner.search(epochs=train["epochs"], callbacks=callbacks, verbose=train["verbose"])
    if role == "worker":
        printer(f"worker {os.environ[distributed.ENV_ID]}: no trials left; the chief writes the results into {run_dir}")
        return run_dir
    rows = tuner.trial_rows()
    write_trials_csv(run_dir / "trials.csv", rows)

    summary = {"name": config["name"], "objective": search["objective"], "data": dataset.sizes(),
               "class_names": dataset.class_names}
    rejections = run_dir / "rejections.jsonl"
    summary["counts"] = {
        "completed": sum(r["status"] == "COMPLETED" for r in rows),
        "failed": sum(r["status"] == "FAILED" for r in rows),
        "rejected": sum(1 for _ in open(rejections)) if rejections.exists() else 0,
    }
    summary["rejection_reasons"] = _rejection_reasons(rejections)
    best_trials = tuner.oracle.get_best_trials(1)
    if best_trials:
        best = best_trials[0]
        row = next(r for r in rows if r["trial_id"] == best.trial_id)
        summary["best"] = {
            "trial_id": best.trial_id,
            "hyperparameters": {k: v for k, v in best.hyperparameters.values.items() if not k.startswith("tuner/")},
            "metrics": {k: v for k, v in row.items() if k.startswith("val_") or k == "best_epoch"},
            "params": row.get("params"),
        }
        with warnings.catch_warnings():  # the checkpoint holds weights only, not optimizer slots
            warnings.simplefilter("ignore", UserWarning)
            model = tuner.load_model(best)
        y_pred = predict_labels(model, dataset.x_test)
        summary["test"] = classification_metrics(dataset.y_test, y_pred, dataset.num_classes)
        with open(run_dir / "predictions_test.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["y_true", "y_pred"])
            writer.writerows(zip(dataset.y_test.tolist(), y_pred.tolist()))
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            model.optimizer.build(model.trainable_variables)  # save full optimizer slots: reloads without warnings
        model.save(run_dir / "best_model.keras")
    else:
        summary["best"], summary["test"] = None, None
        printer("No trial completed: see trials.csv (status, message) and rejections.jsonl.")
    summary["baseline"] = svc_baseline(dataset, config["seed"])
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    report = write_report(run_dir)
    if summary["test"]:
        printer(f"best trial {summary['best']['trial_id']}: test accuracy {summary['test']['accuracy']:.4f}, "
                f"f1_macro {summary['test']['f1_macro']:.4f} (SVC baseline {summary['baseline']['accuracy']:.4f}); "
                f"{summary['counts']['completed']} completed, {summary['counts']['failed']} failed, "
                f"{summary['counts']['rejected']} candidates rejected before training. Report: {report}")
    return run_dir


def _rejection_reasons(path: Path) -> dict:
    """Rejections grouped by their kind of reason ("feature map collapses", "over budget"...)."""
    if not path.exists():
        return {}
    counts: dict = {}
    for line in path.read_text().splitlines():
        reason = json.loads(line)["reason"]
        if "collapses" in reason:
            key = "feature map collapses"
        elif "over budget" in reason:
            key = "over parameter budget"
        else:
            key = reason.split(":", 2)[1].strip()[:80] if ":" in reason else reason[:80]
        counts[key] = counts.get(key, 0) + 1
    return counts


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return str(value)
