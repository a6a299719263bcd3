"""What a finished search leaves: the models it chose, scored on the test split, and the summary.

:func:`finalize` runs once the search has no trials left (and again on every
rerun of a finished run, which reuses what is still current): ``trials.csv``,
the best trial's model, its refit on train+validation (``search.refit``,
averaged over ``search.refit_seeds``), the top-K ensemble
(``search.ensemble``), each scored on the test split beside the
scikit-learn baselines; ``summary.json``, ``predictions_test.csv``, the test
figures and the report. The best trials are :func:`kerascnn.results.files.ranked`'s.

It works on what the search hands it (the tuner, the hypermodel, the data):
nothing here imports the search.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

from kerascnn import _compat, rundir
from kerascnn.config import Experiment
from kerascnn.evaluation.baselines import score_baseline
from kerascnn.results import files


def finalize(tuner, exp: Experiment, dataset, hypermodel, run_dir: Path, strategy, started: float, printer) -> None:
    """trials.csv, the models on the test split, the baselines, summary.json and the report.

    Each saved model is scored once: a resumed run whose summary.json says a
    model file came from the same trial(s) and settings (and the file has the
    size it was saved with) reuses its test metrics instead of training,
    loading or predicting again; likewise each baseline.
    """
    from kerascnn.results.report import write_report

    rows = tuner.trial_rows()
    files.write_trials(run_dir / files.TRIALS, rows)
    previous = _previous_summary(run_dir)
    summary = _search_summary(exp, dataset, rows, run_dir, printer)
    best_trials = _best_completed(tuner, rows, 1) or _best_cut_by_budget(tuner, rows, printer)
    if best_trials:
        summary["best"] = _best_record(best_trials[0], rows, exp.search.objective)
        _score_models(
            tuner,
            exp,
            dataset,
            hypermodel,
            rows,
            best_trials[0],
            _Scorer(dataset, run_dir, strategy, previous, summary),
            printer,
        )
        _test_figures(run_dir, dataset, summary, previous, printer)
        _set_aside_stale(run_dir, summary, previous, printer)
    else:
        summary["best"], summary["test"] = None, None
        reasons = "; ".join(f"{why} (×{n})" if n > 1 else why for why, n in summary["failure_reasons"].items())
        printer(
            "No trial completed"
            + (f": {summary['counts']['failed']} failed ({reasons})" if reasons else "")
            + ". See trials.csv (status, message) and rejections.jsonl."
        )
    summary["baselines"] = _baselines(exp, dataset, previous)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    rundir.atomic_write(run_dir / files.SUMMARY, json.dumps(summary, indent=2, default=_json_default))
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
    with open(run_dir / files.PREDICTIONS, newline="") as f:
        y_pred = np.array([int(row["y_pred"]) for row in csv.DictReader(f)])
    model = keras.saving.load_model(run_dir / filename, compile=False)
    write_test_figures(
        run_dir, model, dataset.x_test, dataset.y_test, y_pred, dataset.class_names, dataset.rank, printer
    )


def _baselines(exp: Experiment, dataset, previous: dict) -> dict:
    """``search.baselines`` scored on the test split; one a previous run of this directory scored is reused.

    A run written before ``search.baselines`` existed kept its SVC under ``baseline``.
    """
    before = dict(previous.get("baselines") or {})
    if previous.get("baseline") and "svc" not in before:
        before["svc"] = previous["baseline"]
    return {name: before.get(name) or score_baseline(name, dataset, exp.seed) for name in exp.search.baselines}


def _search_summary(exp: Experiment, dataset, rows: list[dict], run_dir: Path, printer) -> dict:
    """summary.json's description of the search: name, objective, data, counts, rejection reasons."""
    summary = {
        "name": exp.name,
        "objective": exp.search.objective,
        "data": dataset.sizes(),
        "source": dataset.source,
        "layout": dataset.layout,
        "input_shape": list(dataset.input_shape),
        "class_names": dataset.class_names,
    }
    rejections, damaged = rundir.read_jsonl(run_dir / files.REJECTIONS)
    summary["counts"] = {
        "completed": sum(r["status"] == files.COMPLETED for r in rows),
        "pruned": sum(r["status"] == files.PRUNED for r in rows),
        "failed": sum(r["status"] == files.FAILED for r in rows),
        "rejected": len(rejections),
    }
    if damaged:
        printer(f"note: {damaged} line(s) of rejections.jsonl could not be read (cut short) and are not counted")
    summary["rejection_reasons"] = _rejection_reasons(rejections)
    failures: dict = {}
    for row in rows:
        if row["status"] == files.FAILED:
            reason = row.get("message") or "no reason recorded"
            failures[reason] = failures.get(reason, 0) + 1
    summary["failure_reasons"] = failures
    return summary


def _best_record(best, rows: list[dict], objective: str) -> dict:
    row = next(r for r in rows if r["trial_id"] == best.trial_id)
    return {
        "trial_id": best.trial_id,
        "hyperparameters": _compat.searched_values(best.hyperparameters.values),
        "metrics": {k: v for k, v in row.items() if k.startswith("val_") or k in ("best_epoch", objective)},
        "params": row.get("params"),
    }


def _score_models(tuner, exp: Experiment, dataset, hypermodel, rows, best, scored: "_Scorer", printer) -> None:
    """The searched trial, the refit (``search.refit``) and the ensemble (``search.ensemble``) on the test split."""
    search, summary, strategy = exp.search, scored.summary, scored.strategy
    budget = getattr(tuner.oracle, "budget", None)
    if budget is not None:
        summary["budget"] = budget.describe()
    scored("test_best_trial", files.BEST_MODEL, {"trial_id": best.trial_id}, lambda: _load_trial_model(tuner, best))
    summary["test"] = summary["test_best_trial"]
    refit = search.refit
    if refit:
        epochs, seeds = _refit_epochs(tuner, best.trial_id, exp), search.refit_seeds
        if budget is not None:
            seeds = _seeds_in_budget(budget, seeds, epochs, scored.summary, printer)
            refit = seeds > 0
    if refit:
        source = {"trial_id": best.trial_id, "epochs": epochs, "samples": len(dataset.y_train) + len(dataset.y_val)}
        if seeds > 1:
            source["seeds"] = seeds
        try:
            scored(
                "test",
                files.FINAL_MODEL,
                source,
                lambda: _final_model(hypermodel, best, epochs, seeds, strategy, printer),
            )
        except ValueError as err:  # a diverged refit: the searched model stays the result, and says why
            printer(f"note: {err}; the searched trial's model is the result (best_model.keras)")
            summary["refit_error"] = str(err)
    if search.ensemble:
        members = _best_completed(tuner, rows, search.ensemble)
        if len(members) >= 2:
            source = {"trial_ids": [t.trial_id for t in members]}
            if refit and "refit_error" not in summary:  # members learn from every sample too
                source["refit_epochs"] = [_refit_epochs(tuner, t.trial_id, exp) for t in members]
                if seeds > 1:  # each member as many seeds as the final model
                    source["refit_seeds"] = seeds
                if budget is not None and not _ensemble_in_budget(budget, members, best, source, summary, printer):
                    members = []
        if len(members) >= 2:
            scored(
                "test_ensemble",
                files.ENSEMBLE_MODEL,
                source,
                lambda: _ensemble(
                    tuner, hypermodel, members, source, scored.run_dir, strategy, printer, final_trial=best.trial_id
                ),
            )
        elif "ensemble" not in summary.get("budget", {}):
            printer(
                f"note: search.ensemble={search.ensemble} needs at least 2 completed, unpruned trials; "
                f"{len(members)} finished, so no ensemble was made"
            )
    scored.write_predictions()


def _seeds_in_budget(budget, seeds: int, epochs: int, summary: dict, printer) -> int:
    """How many of the refit's ``seeds`` fit in what ``search.max_seconds`` left (0: no refit); says so if fewer."""
    fit = budget.runs_that_fit(seeds, epochs)
    summary["budget"]["refit_seeds"] = fit
    if fit < seeds:
        one = budget.refit_seconds(1, epochs)
        left = max(0.0, budget.left() - budget.reserve)
        printer(
            f"note: search.max_seconds: {fit} of search.refit_seeds={seeds} refits (~{one:.0f}s each) fit in the "
            f"{left:.0f}s left" + ("; the searched trial's model is the result (best_model.keras)" if fit == 0 else "")
        )
    return fit


def _ensemble_in_budget(budget, members: list, best, source: dict, summary: dict, printer) -> bool:
    """Whether the refits of the ensemble's members (the best trial's is the final model, reused) fit the budget."""
    seeds = source.get("refit_seeds", 1)
    extra = sum(budget.refit_seconds(seeds, e) for t, e in zip(members, source["refit_epochs"]) if t is not best)
    if budget.fits(extra):
        return True
    printer(
        f"note: search.max_seconds: the ensemble's refits (~{extra:.0f}s) do not fit in the "
        f"{max(0.0, budget.left() - budget.reserve):.0f}s left, so no ensemble was made"
    )
    summary["budget"]["ensemble"] = "skipped: its refits do not fit in the time left"
    return False


def _print_result(summary: dict, report: Path, printer) -> None:
    """One line: each scored model as the report names it (:func:`~kerascnn.results.report.test_results`)."""
    from kerascnn.results.report import baseline_results, test_results

    c = summary["counts"]
    (which, test), *others = test_results(summary, baselines=False)  # the result first
    extra = "".join(f"; {label} {metrics['accuracy']:.4f}" for label, metrics in others)
    bases = ", ".join(f"{label} {metrics['accuracy']:.4f}" for label, metrics in baseline_results(summary))
    printer(
        f"{which}: test accuracy {test['accuracy']:.4f}, f1_macro {test['f1_macro']:.4f}"
        f"{extra}{f' ({bases})' if bases else ''}; {c['completed']} completed, {c['pruned']} pruned, "
        f"{c['failed']} failed, {c['rejected']} candidates rejected before training. Report: {report}"
    )


class _Scorer:
    """Scores models on the test split into ``summary``, reusing a previous run's scores of the same model file.

    ``summary["models"]`` says where each saved file came from (trial ids,
    epochs, samples); a file whose source matches the previous summary's,
    and that still exists, is not made or scored again.
    """

    def __init__(self, dataset, run_dir: Path, strategy, previous: dict, summary: dict):
        self.dataset, self.run_dir, self.strategy, self.previous, self.summary = (
            dataset,
            run_dir,
            strategy,
            previous,
            summary,
        )
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
        """``predictions_test.csv`` of the model ``summary["test"]`` scores (unless it already is that model's).

        Columns ``y_true,y_pred``, and ``file`` (relative to ``data.path``) for an image folder.
        """
        from kerascnn.evaluation.metrics import predict_labels

        filename = self.summary["predictions_from"] = self.summary.get("predictions_from", files.BEST_MODEL)
        path = self.run_dir / files.PREDICTIONS
        y_pred = self.predictions.get(filename)
        if y_pred is None:
            if path.exists() and self.previous.get("predictions_from") == filename:
                return
            import keras

            y_pred = predict_labels(keras.saving.load_model(self.run_dir / filename), self.dataset.x_test)
        files_read = getattr(self.dataset.x_test, "paths", None)  # an image folder: which photo each row is
        with rundir.atomic_target(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["y_true", "y_pred"] + (["file"] if files_read else []))
            columns = [self.dataset.y_test.tolist(), y_pred.tolist()] + ([files_read] if files_read else [])
            writer.writerows(zip(*columns))


def _set_aside_stale(run_dir: Path, summary: dict, previous: dict, printer) -> None:
    """Rename a final or ensemble model this run did not make (nor reuse): it belongs to an earlier best trial.

    A resume can change the best trials while ``search.refit`` or
    ``search.ensemble`` is now off (or a refit diverged): the file a previous
    run made would otherwise sit beside the new results as if it were one.
    It becomes ``<name>.stale.keras`` (``.stale-2``, ... if that exists;
    never overwritten), one line says so, and ``summary.json``'s
    ``stale_models`` keeps where each came from, for the report.
    """
    stale = dict(previous.get("stale_models") or {})
    for filename in (files.FINAL_MODEL, files.ENSEMBLE_MODEL):
        path = run_dir / filename
        if filename in summary["models"] or not path.exists():
            continue
        stem, n = filename.removesuffix(".keras"), 1
        while (target := run_dir / f"{stem}.stale{'' if n == 1 else f'-{n}'}.keras").exists():
            n += 1
        os.rename(path, target)
        source = (previous.get("models") or {}).get(filename) or {}
        made_from = source.get("trial_ids") or [source.get("trial_id", "?")]
        stale[target.name] = source
        printer(
            f"note: {filename} was made from trial {', '.join(map(str, made_from))}, not this run's result "
            f"(best trial {summary['best']['trial_id']}): renamed to {target.name}"
        )
    if stale:
        summary["stale_models"] = stale


def _previous_summary(run_dir: Path) -> dict:
    """The summary.json a previous run of this directory left (empty if none or unreadable)."""
    try:
        loaded = json.loads((run_dir / files.SUMMARY).read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _save_model(model, path: Path, strategy) -> None:
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        if getattr(model, "optimizer", None) is not None:
            model.optimizer.build(model.trainable_variables)  # full optimizer slots: reloads without warnings
    with rundir.atomic_target(path) as tmp:
        model.save(tmp)


def _final_model(
    hypermodel, trial, epochs: int, seeds: int, strategy, printer, target=files.FINAL_MODEL, name="final_model"
):
    """A trial refit on train+validation; with ``search.refit_seeds`` > 1, that many refits averaged.

    The refits differ only in their seed (initial weights, batch order), so
    their average keeps the chosen hyperparameters and removes most of the
    run-to-run spread one model has on a small dataset. The best trial's is
    ``final_model.keras``; each refit ensemble member is made the same way.
    """
    from kerascnn.evaluation.ensemble import average_model

    models = [
        _refit(
            hypermodel,
            trial,
            epochs,
            strategy,
            printer,
            replica=r,
            target=target + (f" (seed {r + 1} of {seeds})" if seeds > 1 else ""),
        )
        for r in range(seeds)
    ]
    if seeds == 1:
        return models[0]
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        return average_model(models, names=[f"trial_{trial.trial_id}_seed_{r}" for r in range(seeds)], name=name)


def _refit(hypermodel, trial, epochs: int, strategy, printer, target=files.FINAL_MODEL, replica: int = 0):
    """A trial's hyperparameters trained on train+validation for its best epoch count."""
    start = time.perf_counter()
    # one seed per trial (and replica): the same refit whichever ran before it, and on a resume
    seed = hypermodel.seed + files.trial_number(trial.trial_id) + 100_003 * replica
    model, samples = hypermodel.refit(
        trial.hyperparameters, epochs, strategy=strategy, seed=seed, label=f"refit {target}"
    )
    printer(
        f"refit: trial {trial.trial_id}'s hyperparameters on train+validation ({samples} samples), "
        f"{epochs} epochs, {time.perf_counter() - start:.1f}s -> {target}"
    )
    return model


def _best_completed(tuner, rows: list[dict], k: int) -> list:
    """The ``k`` best completed, unpruned trials (:func:`kerascnn.results.files.ranked`), as keras-tuner trials.

    Not ``oracle.get_best_trials(k)``: with fewer than ``k`` completed trials
    it pads the list with failed and running ones, and it breaks ties by the
    order of its trial dict, which a resumed oracle reloads differently; a
    resumed run would then call another trial the best and replace the
    models a finished run had saved.
    """
    oracle = tuner.oracle
    best = files.ranked(rows, oracle.objective.name, oracle.objective.direction)
    trials = [oracle.trials[r["trial_id"]] for r in best if r["trial_id"] in oracle.trials]
    return [t for t in trials if t.score is not None][:k]


def _best_cut_by_budget(tuner, rows: list[dict], printer) -> list:
    """With no finished trial, the best one ``search.max_seconds`` stopped while training (its best epoch so far).

    A trial cut short is never the result beside a finished one; but when the budget ran out during the
    first trials, the model trained so far beats none. Says so in one line.
    """
    oracle = tuner.oracle
    cut = getattr(oracle, "cut_by_budget", {})
    candidates = [{**r, "status": files.COMPLETED} for r in rows if r["trial_id"] in cut]
    best = files.ranked(candidates, oracle.objective.name, oracle.objective.direction)
    if not best or best[0]["trial_id"] not in oracle.trials:
        return []
    trial_id = best[0]["trial_id"]
    printer(
        f"note: no trial finished within search.max_seconds; trial {trial_id}, stopped at epoch "
        f"{cut[trial_id]}, is the result (its best epoch so far)"
    )
    return [oracle.trials[trial_id]]


def _refit_epochs(tuner, trial_id, exp: Experiment) -> int:
    """What a refit trains for: the last epoch at which the trial's objective was at its best.

    The last, not the first: a validation F1 of 1.0 reached at epoch 5 and
    held until epoch 30 is a plateau, and the refit (on more data) should
    train through it rather than stop at epoch 5. ``search.refit_epochs:
    all`` trains for ``train.epochs`` instead: with a cosine schedule a
    noisy plateau's "best" epoch is wherever the noise peaked, and a refit
    that stops there anneals over a shorter schedule than the trial had.
    """
    if exp.search.refit_epochs == "all":
        return exp.train.epochs
    oracle = tuner.oracle
    trial, name = oracle.trials[trial_id], oracle.objective.name
    if not trial.metrics.exists(name) or not trial.metrics.get_history(name):
        return exp.train.epochs
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
            if trial.trial_id == final_trial and (run_dir / files.FINAL_MODEL).exists():
                models.append(keras.saving.load_model(run_dir / files.FINAL_MODEL))
            else:
                models.append(
                    _final_model(
                        hypermodel,
                        trial,
                        epochs,
                        source.get("refit_seeds", 1),
                        strategy,
                        printer,
                        target=f"ensemble member (trial {trial.trial_id})",
                        name=f"trial_{trial.trial_id}_refits",
                    )
                )
    else:
        models = [_load_trial_model(tuner, trial) for trial in members]
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        return average_model(models, names=[f"trial_{t.trial_id}" for t in members])


def _load_trial_model(tuner, trial):
    """The trial's model from its checkpoint; a damaged checkpoint is named, not a traceback."""
    try:
        with warnings.catch_warnings():  # the checkpoint holds weights only, not optimizer slots
            warnings.simplefilter("ignore", UserWarning)
            return _compat.load_trial_model(tuner, trial)
    except (OSError, ValueError) as err:
        folder = tuner.get_trial_dir(trial.trial_id)
        state = "has no checkpoint" if isinstance(err, FileNotFoundError) else "has a checkpoint that cannot be read"
        raise rundir.DamagedRunFile(
            f"The best trial ({trial.trial_id}) {state} in {folder} ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200]}). Its metrics in trials.csv are intact; best_model.keras and the test "
            "results were not written. Restore the folder from a copy, or run the experiment under another name "
            "(--set name=NEW_NAME) to train it again."
        ) from None


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
