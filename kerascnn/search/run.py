"""``run_search``: an experiment config in, a finished run directory out.

Flow: prepare (validate the config, load and check data, check the first
candidate; nothing written yet) -> open the run directory (lock it, save
``config.yaml`` or check that a resumed run is the same experiment) -> search
(keras-tuner, geometry-checked candidates, scikit-learn metrics, TensorBoard
under ``tb/``, median pruning) -> finalize (the best trial, its refit on
train+validation and the top-K ensemble scored on the test split beside the
scikit-learn baselines; ``summary.json``, ``predictions_test.csv``, ``best_model.keras``,
``final_model.keras``, ``ensemble_model.keras``, the report).

Running the same experiment again resumes it (keras-tuner reloads its oracle;
a trial cut off by a kill is run again); ``overwrite=True`` starts over.
Every file is written atomically (:mod:`kerascnn.rundir`).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import time
import warnings
import zlib
from pathlib import Path

import numpy as np

from kerascnn import _compat, rundir
from kerascnn import config as config_module
from kerascnn.evaluation.baselines import score_baseline


def run_search(config: dict, *, out: str | Path = "runs", overwrite: bool = False, arrays=None,
               printer=print, progress: bool = True) -> Path:
    """Run (or resume) the search an experiment describes; return its run directory.

    Nothing is written before the experiment, its data and its first candidate
    have been checked; the run directory is then locked for the whole search
    (see :mod:`kerascnn.rundir`).

    Args:
        config: a resolved config (:func:`kerascnn.config.resolve` / ``load``).
        out: parent of the run directory (``<out>/<name>/``).
        overwrite: empty an existing run of this name first (only a kerascnn run).
        arrays: ``(x, y[, x_test, y_test])`` for ``data.source: arrays``.
        printer: where progress lines go.
        progress: show where each running trial and refit is (:mod:`kerascnn.search.progress`) when
            ``train.verbose`` is 0; ``False`` (``kerascnn search --quiet``) shows only the per-trial lines.

    Raises:
        ConfigError / ValueError / FileNotFoundError: a bad experiment or data, before anything is written.
        kerascnn.rundir.RunDirError: the run directory cannot be used as asked; nothing in it was changed.
    """
    from kerascnn.search import distributed
    from kerascnn.search.interrupt import deferred_during_fit

    config = config_module.resolve(config)
    started = time.perf_counter()
    role = distributed.role()
    run_dir = rundir.run_dir_for(config, out)
    if role != "worker":
        rundir.check_usable(run_dir, overwrite)  # refuse a folder the kit did not make before loading anything
    dataset, hypermodel, strategy = _prepare(config, arrays, printer)
    hypermodel.progress = progress and not config["train"]["verbose"]
    if role == "worker":  # the chief owns (creates, locks) the run directory; a worker only adds its trials
        distributed.wait_for_chief(config["search"]["worker_timeout"], printer)  # it serves once the run exists
        run_dir.mkdir(parents=True, exist_ok=True)
        lock, fresh = contextlib.nullcontext(), False
    else:
        fresh = not run_dir.exists()
        lock = rundir.open_run(run_dir, config, overwrite, printer)
    with lock:
        try:
            tuner = _make_tuner(config, hypermodel, run_dir, strategy, printer)
        except BaseException:
            if fresh:  # made by this call and holding no trial yet: do not leave it to block the corrected rerun
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        with deferred_during_fit():  # a Ctrl-C stops the search between training steps (search/interrupt.py)
            _search(tuner, config, dataset, run_dir, printer)
            if role == "worker":
                printer(f"worker {os.environ[distributed.ENV_ID]}: no trials left; "
                        f"the chief writes the results into {run_dir}")
                return run_dir
            _finalize(tuner, config, dataset, hypermodel, run_dir, strategy, started, printer)
    return run_dir


def _prepare(config: dict, arrays, printer):
    """Load and check the data and the hypermodel: every error an experiment can hold, before any file."""
    import keras

    from kerascnn import device
    from kerascnn.data import load_dataset
    from kerascnn.search.hypermodel import CNNHyperModel

    _compat.quiet_trial_tracebacks()  # a failed trial's reason goes to its progress line and trials.csv
    device.configure(config["train"], printer)
    keras.utils.set_random_seed(config["seed"])
    dataset = load_dataset(config["data"], seed=config["seed"], arrays=arrays)
    search, train = config["search"], config["train"]
    strategy, replicas = device.strategy(train, printer)
    hypermodel = CNNHyperModel(
        dataset.input_shape, dataset.num_classes, config["model"]["architecture"],
        space=search["space"], params=config["model"]["params"], tune_unlisted=False,
        train=train, augmentation=config["data"]["augmentation"], data=dataset, seed=config["seed"],
        replicas=replicas, cv_folds=search["cv_folds"], objective=search["objective"],
    )
    try:
        hypermodel.check_defaults()
    except ValueError as err:
        raise config_module.ConfigError(
            f"The experiment's first candidate (every searched knob at its default, model.params as given) "
            f"cannot be built for input {'×'.join(map(str, dataset.input_shape))}: {err}") from None
    return dataset, hypermodel, strategy


def _make_tuner(config: dict, hypermodel, run_dir: Path, strategy, printer):
    """keras-tuner's tuner over the run directory (resuming its saved state, which is checked first)."""
    from kerascnn.search.tuner import make_tuner

    rundir.check_tuner_state(run_dir / "tuner")
    search, train = config["search"], config["train"]
    return make_tuner(
        search["tuner"], hypermodel, objective=search["objective"], max_trials=search["max_trials"],
        seed=config["seed"], run_dir=run_dir, overwrite=False, max_params=search["constraints"]["max_params"],
        max_rejections=search["constraints"]["max_rejections"], epochs=train["epochs"],
        hyperband_factor=search["hyperband_factor"], executions_per_trial=search["executions_per_trial"],
        printer=printer, distribution_strategy=strategy, worker_timeout=search["worker_timeout"],
        pruning=search["pruning"], pruning_warmup_epochs=search["pruning_warmup_epochs"],
        pruning_min_trials=search["pruning_min_trials"],
    )


def _search(tuner, config: dict, dataset, run_dir: Path, printer) -> None:
    """The keras-tuner search with the kit's callbacks (TensorBoard per trial, early stopping)."""
    import keras

    from kerascnn.evaluation import tensorboard as tb
    from kerascnn.evaluation.metrics import objective_direction
    from kerascnn.search import distributed

    search, train = config["search"], config["train"]
    printer(f"kerascnn search '{config['name']}': {dataset.source} {dataset.sizes()}, input "
            f"{'×'.join(map(str, dataset.input_shape))}, {dataset.num_classes} classes; "
            f"{search['tuner']} tuner, {search['max_trials']} trials × {train['epochs']} epochs -> {run_dir}")
    if distributed.role() != "worker":
        tb.write_hparams_experiment(run_dir / "tb", tuner.oracle.get_space().space, search["objective"])
        tb.write_run_text(run_dir / "tb", config, tb.device_description(train))
    # keras-tuner gives a callback named TensorBoard one log folder per trial (_compat.TrialLogDirs).
    callbacks = [tb.tensorboard_callback(run_dir / "tb", profile_batch=train["profile_batch"])]
    if tuner.hypermodel.progress:
        from kerascnn.search.progress import FitProgress

        callbacks.append(FitProgress("trial"))  # the tuner names it after each trial
    if train["early_stopping"]:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=search["objective"], patience=train["early_stopping"],
                                                       mode=objective_direction(search["objective"])))
    tuner.search(epochs=train["epochs"], callbacks=callbacks, verbose=train["verbose"])


def _finalize(tuner, config: dict, dataset, hypermodel, run_dir: Path, strategy, started: float, printer) -> None:
    """trials.csv, the models on the test split, the baselines, summary.json and the report.

    Each saved model is scored once: a resumed run whose summary.json says a
    model file came from the same trial(s) and settings (and the file has the
    size it was saved with) reuses its test metrics instead of training,
    loading or predicting again; likewise each baseline.
    """
    from kerascnn.evaluation.report import write_report
    from kerascnn.search.tuner import write_trials_csv

    rows = tuner.trial_rows()
    write_trials_csv(run_dir / "trials.csv", rows)
    previous = _previous_summary(run_dir)
    summary = _search_summary(config, dataset, rows, run_dir, printer)
    best_trials = _best_completed(tuner, rows, 1)
    if best_trials:
        summary["best"] = _best_record(best_trials[0], rows, config["search"]["objective"])
        _score_models(tuner, config, dataset, hypermodel, rows, best_trials[0],
                      _Scorer(dataset, run_dir, strategy, previous, summary), printer)
        _test_figures(run_dir, dataset, summary, previous, printer)
    else:
        summary["best"], summary["test"] = None, None
        printer("No trial completed: see trials.csv (status, message) and rejections.jsonl.")
    summary["baselines"] = _baselines(config, dataset, previous)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    rundir.atomic_write(run_dir / "summary.json", json.dumps(summary, indent=2, default=_json_default))
    report = write_report(run_dir)
    if summary["test"]:
        _print_result(summary, report, printer)


def _test_figures(run_dir: Path, dataset, summary: dict, previous: dict, printer) -> None:
    """The misclassified test samples and the first layer's feature maps of the reported model, per rank.

    Made again only when the reported model (its file and size) changed since a previous run drew them.
    """
    import keras

    from kerascnn.evaluation.samples import FIGURES, write_test_figures

    filename = summary["predictions_from"]
    source = {"model": filename, "bytes": summary["models"].get(filename, {}).get("bytes")}
    summary["figures_from"] = source
    if previous.get("figures_from") == source and (run_dir / FIGURES["examples"]).exists():
        return
    with open(run_dir / "predictions_test.csv", newline="") as f:
        y_pred = np.array([int(row["y_pred"]) for row in csv.DictReader(f)])
    model = keras.saving.load_model(run_dir / filename, compile=False)
    write_test_figures(run_dir, model, dataset.x_test, dataset.y_test, y_pred, dataset.class_names, dataset.rank,
                       printer)


def _baselines(config: dict, dataset, previous: dict) -> dict:
    """``search.baselines`` scored on the test split; one a previous run of this directory scored is reused.

    A run written before ``search.baselines`` existed kept its SVC under ``baseline``.
    """
    before = dict(previous.get("baselines") or {})
    if previous.get("baseline") and "svc" not in before:
        before["svc"] = previous["baseline"]
    return {name: before.get(name) or score_baseline(name, dataset, config["seed"])
            for name in config["search"]["baselines"]}


def _search_summary(config: dict, dataset, rows: list[dict], run_dir: Path, printer) -> dict:
    """summary.json's description of the search: name, objective, data, counts, rejection reasons."""
    summary = {"name": config["name"], "objective": config["search"]["objective"], "data": dataset.sizes(),
               "source": dataset.source, "layout": dataset.layout, "input_shape": list(dataset.input_shape),
               "class_names": dataset.class_names}
    rejections, damaged = rundir.read_jsonl(run_dir / "rejections.jsonl")
    summary["counts"] = {
        "completed": sum(r["status"] == "COMPLETED" for r in rows),
        "pruned": sum(r["status"] == "PRUNED" for r in rows),
        "failed": sum(r["status"] == "FAILED" for r in rows),
        "rejected": len(rejections),
    }
    if damaged:
        printer(f"note: {damaged} line(s) of rejections.jsonl could not be read (cut short) and are not counted")
    summary["rejection_reasons"] = _rejection_reasons(rejections)
    return summary


def _best_record(best, rows: list[dict], objective: str) -> dict:
    row = next(r for r in rows if r["trial_id"] == best.trial_id)
    return {
        "trial_id": best.trial_id,
        "hyperparameters": _compat.searched_values(best.hyperparameters.values),
        "metrics": {k: v for k, v in row.items() if k.startswith("val_") or k in ("best_epoch", objective)},
        "params": row.get("params"),
    }


def _score_models(tuner, config: dict, dataset, hypermodel, rows, best, scored: "_Scorer", printer) -> None:
    """The searched trial, the refit (``search.refit``) and the ensemble (``search.ensemble``) on the test split."""
    search, summary, strategy = config["search"], scored.summary, scored.strategy
    scored("test_best_trial", "best_model.keras", {"trial_id": best.trial_id}, lambda: _load_trial_model(tuner, best))
    summary["test"] = summary["test_best_trial"]
    if search["refit"]:
        epochs, seeds = _refit_epochs(tuner, best.trial_id, config), search["refit_seeds"]
        source = {"trial_id": best.trial_id, "epochs": epochs, "samples": len(dataset.y_train) + len(dataset.y_val)}
        if seeds > 1:
            source["seeds"] = seeds
        try:
            scored("test", "final_model.keras", source,
                   lambda: _final_model(hypermodel, best, epochs, seeds, strategy, printer))
        except ValueError as err:  # a diverged refit: the searched model stays the result, and says why
            printer(f"note: {err}; the searched trial's model is the result (best_model.keras)")
            summary["refit_error"] = str(err)
    if search["ensemble"]:
        members = _best_completed(tuner, rows, search["ensemble"])
        if len(members) >= 2:
            source = {"trial_ids": [t.trial_id for t in members]}
            if search["refit"] and "refit_error" not in summary:  # members learn from every sample too
                source["refit_epochs"] = [_refit_epochs(tuner, t.trial_id, config) for t in members]
                if search["refit_seeds"] > 1:  # each member as many seeds as the final model
                    source["refit_seeds"] = search["refit_seeds"]
            scored("test_ensemble", "ensemble_model.keras", source,
                   lambda: _ensemble(tuner, hypermodel, members, source, scored.run_dir, strategy, printer,
                                     final_trial=best.trial_id))
        else:
            printer(f"note: search.ensemble={search['ensemble']} needs at least 2 completed, unpruned trials; "
                    f"{len(members)} finished, so no ensemble was made")
    scored.write_predictions()


def _print_result(summary: dict, report: Path, printer) -> None:
    """One line: each scored model as the report names it (:func:`~kerascnn.evaluation.report.test_results`)."""
    from kerascnn.evaluation.report import baseline_results, test_results

    c = summary["counts"]
    (which, test), *others = test_results(summary, baselines=False)  # the result first
    extra = "".join(f"; {label} {metrics['accuracy']:.4f}" for label, metrics in others)
    bases = ", ".join(f"{label} {metrics['accuracy']:.4f}" for label, metrics in baseline_results(summary))
    printer(f"{which}: test accuracy {test['accuracy']:.4f}, f1_macro {test['f1_macro']:.4f}"
            f"{extra}{f' ({bases})' if bases else ''}; {c['completed']} completed, {c['pruned']} pruned, "
            f"{c['failed']} failed, {c['rejected']} candidates rejected before training. Report: {report}")


class _Scorer:
    """Scores models on the test split into ``summary``, reusing a previous run's scores of the same model file.

    ``summary["models"]`` says where each saved file came from (trial ids,
    epochs, samples); a file whose source matches the previous summary's,
    and that still exists, is not made or scored again.
    """

    def __init__(self, dataset, run_dir: Path, strategy, previous: dict, summary: dict):
        self.dataset, self.run_dir, self.strategy, self.previous, self.summary = (
            dataset, run_dir, strategy, previous, summary)
        self.summary["models"] = {}
        self.predictions: dict = {}  # file -> labels predicted in this call

    def __call__(self, key: str, filename: str, source: dict, make_model) -> None:
        from kerascnn.evaluation.metrics import classification_metrics, predict_labels

        path = self.run_dir / filename
        old = dict((self.previous.get("models") or {}).get(filename) or {})
        size = path.stat().st_size if path.exists() else None
        if old.pop("bytes", None) == size and old == source and self.previous.get(key):
            self.summary[key] = self.previous[key]  # that file, intact (its size), scored by an earlier run
        else:
            model = make_model()
            y_pred = predict_labels(model, self.dataset.x_test)
            self.summary[key] = classification_metrics(self.dataset.y_test, y_pred, self.dataset.num_classes)
            self.predictions[filename] = y_pred
            _save_model(model, path, self.strategy)
        self.summary["models"][filename] = {**source, "bytes": path.stat().st_size}
        if key == "test":
            self.summary["predictions_from"] = filename

    def write_predictions(self) -> None:
        """``predictions_test.csv`` of the model ``summary["test"]`` scores (unless it already is that model's)."""
        from kerascnn.evaluation.metrics import predict_labels

        filename = self.summary["predictions_from"] = self.summary.get("predictions_from", "best_model.keras")
        path = self.run_dir / "predictions_test.csv"
        y_pred = self.predictions.get(filename)
        if y_pred is None:
            if path.exists() and self.previous.get("predictions_from") == filename:
                return
            import keras

            y_pred = predict_labels(keras.saving.load_model(self.run_dir / filename), self.dataset.x_test)
        with rundir.atomic_target(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["y_true", "y_pred"])
            writer.writerows(zip(self.dataset.y_test.tolist(), y_pred.tolist()))


def _previous_summary(run_dir: Path) -> dict:
    """The summary.json a previous run of this directory left (empty if none or unreadable)."""
    try:
        loaded = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _save_model(model, path: Path, strategy) -> None:
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        if getattr(model, "optimizer", None) is not None:
            model.optimizer.build(model.trainable_variables)  # full optimizer slots: reloads without warnings
    with rundir.atomic_target(path) as tmp:
        model.save(tmp)


def _final_model(hypermodel, trial, epochs: int, seeds: int, strategy, printer, target="final_model.keras",
                 name="final_model"):
    """A trial refit on train+validation; with ``search.refit_seeds`` > 1, that many refits averaged.

    The refits differ only in their seed (initial weights, batch order), so
    their average keeps the chosen hyperparameters and removes most of the
    run-to-run spread one model has on a small dataset. The best trial's is
    ``final_model.keras``; each refit ensemble member is made the same way.
    """
    from kerascnn.evaluation.ensemble import average_model

    models = [_refit(hypermodel, trial, epochs, strategy, printer, replica=r,
                     target=target + (f" (seed {r + 1} of {seeds})" if seeds > 1 else ""))
              for r in range(seeds)]
    if seeds == 1:
        return models[0]
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        return average_model(models, names=[f"trial_{trial.trial_id}_seed_{r}" for r in range(seeds)], name=name)


def _refit(hypermodel, trial, epochs: int, strategy, printer, target="final_model.keras", replica: int = 0):
    """A trial's hyperparameters trained on train+validation for its best epoch count."""
    start = time.perf_counter()
    # one seed per trial (and replica): the same refit whichever ran before it, and on a resume
    seed = hypermodel.seed + _trial_number(trial.trial_id) + 100_003 * replica
    progress = []
    if hypermodel.progress:
        from kerascnn.search.progress import FitProgress

        progress = [FitProgress(f"refit {target}")]
    model, samples = hypermodel.refit(trial.hyperparameters, epochs, strategy=strategy, seed=seed,
                                      callbacks=progress)
    printer(f"refit: trial {trial.trial_id}'s hyperparameters on train+validation ({samples} samples), "
            f"{epochs} epochs, {time.perf_counter() - start:.1f}s -> {target}")
    return model


def _trial_number(trial_id) -> int:
    """A trial's number (keras-tuner's ids are zero-padded counters); any other id, a stable hash of it."""
    return int(trial_id) if str(trial_id).isdigit() else zlib.crc32(str(trial_id).encode())


def _best_completed(tuner, rows: list[dict], k: int) -> list:
    """The ``k`` best completed, unpruned trials: by score, a tie going to the earlier trial.

    Not ``oracle.get_best_trials(k)``: with fewer than ``k`` completed trials
    it pads the list with failed and running ones, and it breaks ties by the
    order of its trial dict, which a resumed oracle reloads differently; a
    resumed run would then call another trial the best and replace the
    models a finished run had saved.
    """
    oracle, finished = tuner.oracle, [r["trial_id"] for r in rows if r["status"] == "COMPLETED"]
    trials = [oracle.trials[t] for t in finished if t in oracle.trials and oracle.trials[t].score is not None]
    sign = -1 if oracle.objective.direction == "max" else 1
    return sorted(trials, key=lambda t: (sign * t.score, _trial_number(t.trial_id)))[:k]


def _refit_epochs(tuner, trial_id, config: dict) -> int:
    """What a refit trains for: the last epoch at which the trial's objective was at its best.

    The last, not the first: a validation F1 of 1.0 reached at epoch 5 and
    held until epoch 30 is a plateau, and the refit (on more data) should
    train through it rather than stop at epoch 5. ``search.refit_epochs:
    all`` trains for ``train.epochs`` instead: with a cosine schedule a
    noisy plateau's "best" epoch is wherever the noise peaked, and a refit
    that stops there anneals over a shorter schedule than the trial had.
    """
    if config["search"]["refit_epochs"] == "all":
        return config["train"]["epochs"]
    oracle = tuner.oracle
    trial, name = oracle.trials[trial_id], oracle.objective.name
    if not trial.metrics.exists(name) or not trial.metrics.get_history(name):
        return config["train"]["epochs"]
    history = [(o.step, float(np.mean(o.value))) for o in trial.metrics.get_history(name)]
    best = (max if oracle.objective.direction == "max" else min)(v for _, v in history)
    return max(step for step, v in history if v == best) + 1


def _ensemble(tuner, hypermodel, members: list, source: dict, run_dir: Path, strategy, printer, final_trial=None):
    """One Keras model averaging the members' probabilities (:func:`kerascnn.evaluation.ensemble.average_model`).

    With ``search.refit`` each member is its trial's hyperparameters refit on
    train+validation for its best epoch count, from ``search.refit_seeds``
    seeds averaged, like the final model (the best trial's is
    ``final_model.keras``, reused): every member then carries the same weight
    and the same seed-averaging. Otherwise the trials' own checkpoints.
    """
    import keras

    from kerascnn.evaluation.ensemble import average_model

    if "refit_epochs" in source:
        models = []
        for trial, epochs in zip(members, source["refit_epochs"]):
            if trial.trial_id == final_trial and (run_dir / "final_model.keras").exists():
                models.append(keras.saving.load_model(run_dir / "final_model.keras"))
            else:
                models.append(_final_model(hypermodel, trial, epochs, source.get("refit_seeds", 1), strategy,
                                           printer, target=f"ensemble member (trial {trial.trial_id})",
                                           name=f"trial_{trial.trial_id}_refits"))
    else:
        models = [_load_trial_model(tuner, trial) for trial in members]
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        return average_model(models, names=[f"trial_{t.trial_id}" for t in members])


def _load_trial_model(tuner, trial):
    """The trial's model from its checkpoint; a damaged checkpoint is named, not a traceback."""
    try:
        with warnings.catch_warnings():  # the checkpoint holds weights only, not optimizer slots
            warnings.simplefilter("ignore", UserWarning)
            return tuner.load_model(trial)
    except (OSError, ValueError) as err:
        folder = tuner.get_trial_dir(trial.trial_id)
        state = "has no checkpoint" if isinstance(err, FileNotFoundError) else "has a checkpoint that cannot be read"
        raise rundir.DamagedRunFile(
            f"The best trial ({trial.trial_id}) {state} in {folder} ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200]}). Its metrics in trials.csv are intact; best_model.keras and the test "
            "results were not written. Restore the folder from a copy, or run the experiment under another name "
            "(--set name=NEW_NAME) to train it again.") from None


def _rejection_reasons(rejections: list) -> dict:
    """Rejections counted by kind ("feature map collapses", "over parameter budget", "invalid arguments")."""
    counts: dict = {}
    for record in rejections:
        kind = record.get("kind") if isinstance(record, dict) else None
        key = kind or "unclassified"  # a record written before kinds were recorded
        counts[key] = counts.get(key, 0) + 1
    return counts


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return str(value)
