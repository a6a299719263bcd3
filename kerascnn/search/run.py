"""``run_search``: an experiment in, a finished run directory out.

Flow: check (:func:`check_experiment`: every key the kit's modules own, once)
-> prepare (load and check data, check the first candidate; nothing written
yet) -> open the run directory (lock it, save ``config.yaml`` or check that a
resumed run is the same experiment) -> search (keras-tuner, geometry-checked
candidates, scikit-learn metrics, TensorBoard under ``tb/``, median pruning)
-> :func:`kerascnn.results.finalize` (the best trial, its refit on
train+validation and the top-K ensemble scored on the test split beside the
scikit-learn baselines; ``summary.json``, the saved models, the report).

Running the same experiment again resumes it (keras-tuner reloads its oracle;
a trial cut off by a kill is run again); ``overwrite=True`` starts over.
Every file is written atomically (:mod:`kerascnn.rundir`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Mapping

from kerascnn import _compat, rundir
from kerascnn.config import ConfigError, Experiment
from kerascnn.results import files
from kerascnn.results.finalize import finalize


def check_experiment(experiment: Experiment | Mapping) -> Experiment:
    """The experiment, with what only the kit's modules can judge checked by them; raises ``ConfigError``.

    The typed :class:`~kerascnn.config.Experiment` checked each value when it
    was built; here the registry checks ``model`` (names, builder arguments),
    :mod:`kerascnn.search.space` the searched knobs and
    :mod:`kerascnn.evaluation.metrics` the objective. Called once per run, at
    its entry, before any data are loaded.
    """
    from kerascnn.architectures._common import check_data_format
    from kerascnn.architectures.registry import check_model_settings
    from kerascnn.evaluation.metrics import check_objective
    from kerascnn.search.space import check_space

    experiment = Experiment.of(experiment)
    archs = experiment.model.architectures
    try:
        check_data_format()
        check_model_settings(archs, experiment.model.params)
        check_space(experiment.search.space, archs)
        check_objective(experiment.search.objective)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return experiment


def run_search(
    config: Experiment | Mapping,
    *,
    out: str | Path = "runs",
    overwrite: bool = False,
    arrays=None,
    printer=print,
    progress: bool = True,
) -> Path:
    """Run (or resume) the search an experiment describes; return its run directory.

    Nothing is written before the experiment, its data and its first candidate
    have been checked; the run directory is then locked for the whole search
    (see :mod:`kerascnn.rundir`).

    Args:
        config: the experiment (:class:`~kerascnn.config.Experiment`, from :func:`kerascnn.config.load`),
            or a mapping of its sections as a YAML file would hold them.
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

    exp = check_experiment(config)
    started = time.perf_counter()
    role = distributed.role()
    run_dir = rundir.run_dir_for(exp.name, out)
    _check_outside_data(exp, run_dir)
    if role != "worker":
        rundir.check_usable(run_dir, overwrite)  # refuse a folder the kit did not make before loading anything
    split_file = None if overwrite else run_dir / files.SPLIT  # a resumed run keeps its files in each part
    dataset, hypermodel, strategy = _prepare(exp, arrays, printer, split_file)
    hypermodel.progress = progress and not exp.train.verbose
    if role == "worker":  # the chief owns (creates, locks) the run directory; a worker only adds its trials
        distributed.wait_for_chief(exp.search.worker_timeout, printer)  # it serves once the run exists
        run_dir.mkdir(parents=True, exist_ok=True)
        lock, fresh = contextlib.nullcontext(), False
    else:
        fresh = not run_dir.exists()
        lock = rundir.open_run(run_dir, exp.to_dict(), overwrite, printer)
    with lock:
        try:
            if role != "worker":
                rundir.check_data_identity(run_dir, _data_identity(exp, dataset))
            tuner = _make_tuner(exp, hypermodel, run_dir, strategy, printer, _budget(exp, dataset, started))
        except BaseException:
            if fresh:  # made by this call and holding no trial yet: do not leave it to block the corrected rerun
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        if role != "worker" and not (run_dir / files.SPLIT).exists():
            from kerascnn.data import write_split

            write_split(run_dir / files.SPLIT, dataset)  # samples read from files: which file is in which part
        with deferred_during_fit():  # a Ctrl-C stops the search between training steps (search/interrupt.py)
            _search(tuner, exp, dataset, run_dir, printer)
            _say_if_stopped_by_failures(tuner.oracle, printer)
            _say_if_stopped_by_budget(tuner.oracle, printer)
            rundir.stop_if_removed(run_dir, tuner.folder_identity)
            if role == "worker":
                printer(
                    f"worker {os.environ[distributed.ENV_ID]}: no trials left; "
                    f"the chief writes the results into {run_dir}"
                )
                return run_dir
            finalize(tuner, exp, dataset, hypermodel, run_dir, strategy, started, printer)
    return run_dir


def _data_identity(exp: Experiment, dataset) -> dict:
    """The data's fingerprint (:func:`kerascnn.data.fingerprint`); an image folder's files by name and size too."""
    from kerascnn.data import fingerprint

    return fingerprint(dataset, exp.data.path if exp.data.source == "image_folder" else None)


def _say_if_stopped_by_failures(oracle, printer) -> None:
    """One line when ``search.constraints.max_failures`` trials in a row failed: which, and why."""
    if not getattr(oracle, "stopped_by_failures", False):
        return
    failed = oracle.failures_in_row
    reasons: dict = {}
    for _, reason in failed:
        reasons[reason] = reasons.get(reason, 0) + 1
    printer(
        f"Search stopped: {len(failed)} trials in a row failed (trials {', '.join(t for t, _ in failed)}; "
        f"search.constraints.max_failures={oracle.max_failures}): "
        + "; ".join(f"{reason} (×{n})" if n > 1 else reason for reason, n in reasons.items())
        + ". Fix the cause and run the same command to draw new trials (raise --max-trials if all are used)."
    )


def _budget(exp: Experiment, dataset, started: float):
    """The plan for ``search.max_seconds`` (:class:`kerascnn.budget.TimeBudget`), or ``None`` without one."""
    search = exp.search
    if search.max_seconds is None:
        return None
    from kerascnn.budget import TimeBudget

    train, val = len(dataset.y_train), len(dataset.y_val)
    return TimeBudget(
        search.max_seconds,
        started=started,
        refit_runs=search.refit_seeds if search.refit else 0,
        refit_epochs=exp.train.epochs,
        # a trial's epoch trains on the train split and predicts the validation split; a refit's trains on both.
        # A training step costs about three forward passes (forward, backward, update).
        sample_ratio=3 * (train + val) / max(1, 3 * train + val),
    )


def _say_if_stopped_by_budget(oracle, printer) -> None:
    """One line when ``search.max_seconds`` ended the search: how many trials ran, what time was kept, and why."""
    budget = getattr(oracle, "budget", None)
    if budget is None or not (oracle.stopped_by_budget or oracle.cut_by_budget):
        return
    cut = ", ".join(f"trial {t} at epoch {e}" for t, e in oracle.cut_by_budget.items())
    kept = budget.refit_seconds(budget.refit_runs, budget.refit_epochs)
    printer(
        f"Search stopped by search.max_seconds={budget.max_seconds:g}: {len(budget.trial_seconds)} trials in "
        f"{budget.max_seconds - budget.left():.0f}s"
        + (f" ({cut} stopped while training)" if cut else "")
        + f"; {max(0.0, budget.left()):.0f}s left for the results"
        + (f" (the refit's share ~{kept:.0f}s)" if kept else "")
        + "."
    )


def _check_outside_data(exp: Experiment, run_dir: Path) -> None:
    """Refuse a run directory or an image cache inside the image folder: the next listing would take it for a class."""
    if exp.data.source != "image_folder" or not exp.data.path:
        return
    data = Path(exp.data.path).expanduser().resolve()
    places = {"the run directory (--out / name)": run_dir}
    if isinstance(exp.data.cache, str):
        places["data.cache"] = Path(exp.data.cache).expanduser()
    for what, place in places.items():
        place = place.resolve()
        if place == data or data in place.parents:
            raise ConfigError(
                f"{what} {str(place)!r} is the image folder data.path {str(data)!r} or inside it: the folder's "
                "next listing would read it as a class of images. Put it outside the image folder."
            )


def _prepare(exp: Experiment, arrays, printer, split_file=None):
    """Load and check the data and the hypermodel: every error an experiment can hold, before any file."""
    import keras

    from kerascnn import device
    from kerascnn.data import load_dataset
    from kerascnn.search.hypermodel import CNNHyperModel

    _compat.quiet_trial_tracebacks()  # a failed trial's reason goes to its progress line and trials.csv
    device.configure(exp.train, printer)
    keras.utils.set_random_seed(exp.seed)
    dataset = load_dataset(exp.data, seed=exp.seed, arrays=arrays, split_file=split_file, printer=printer)
    strategy, replicas = device.strategy(exp.train, printer)
    hypermodel = CNNHyperModel.for_experiment(exp, dataset, replicas)
    _check_folds(exp.search.cv_folds, dataset)
    try:
        hypermodel.check_defaults()
    except ValueError as err:
        raise ConfigError(
            f"The experiment's first candidate (every searched knob at its default, model.params as given) "
            f"cannot be built for input {'×'.join(map(str, dataset.input_shape))}: {err}"
        ) from None
    return dataset, hypermodel, strategy


def _check_folds(folds, dataset) -> None:
    """``search.cv_folds`` against the data: each stratified fold needs every class (before any folder is made)."""
    if not folds:
        return
    import numpy as np

    counts = np.bincount(np.concatenate([dataset.y_train, dataset.y_val]), minlength=dataset.num_classes)
    smallest = int(counts.min())
    if smallest < folds:
        name = dataset.class_names[int(counts.argmin())]
        raise ConfigError(
            f"`search.cv_folds` ({folds}) is more than class {name!r} has samples in train+validation "
            f"({smallest}): stratified folds need each class in every fold. Set search.cv_folds to at most "
            f"{smallest}, or null. Received: search.cv_folds={folds}"
        )


def _make_tuner(exp: Experiment, hypermodel, run_dir: Path, strategy, printer, budget=None):
    """keras-tuner's tuner over the run directory (resuming its saved state, which is checked first)."""
    from kerascnn.search.tuner import make_tuner

    rundir.check_tuner_state(run_dir / files.TUNER)
    return make_tuner(
        exp.search,
        hypermodel,
        seed=exp.seed,
        run_dir=run_dir,
        epochs=exp.train.epochs,
        printer=printer,
        distribution_strategy=strategy,
        budget=budget,
    )


def _search(tuner, exp: Experiment, dataset, run_dir: Path, printer) -> None:
    """The keras-tuner search with the kit's callbacks (progress, early stopping); TensorBoard per trial."""
    import keras

    from kerascnn.evaluation import tensorboard as tb
    from kerascnn.evaluation.metrics import objective_direction
    from kerascnn.search import distributed

    search, train = exp.search, exp.train
    printer(
        f"kerascnn search '{exp.name}': {dataset.source} {dataset.sizes()}, input "
        f"{'×'.join(map(str, dataset.input_shape))}, {dataset.num_classes} classes; "
        f"{search.tuner} tuner, {search.max_trials} trials × {train.epochs} epochs"
        + (f", within {search.max_seconds:g}s" if search.max_seconds else "")
        + f" -> {run_dir}"
    )
    if distributed.role() != "worker":
        tb.write_hparams_experiment(run_dir / files.TENSORBOARD, tuner.oracle.get_space().space, search.objective)
        tb.write_run_text(run_dir / files.TENSORBOARD, exp.to_dict(), tb.device_description(train))
    callbacks = []  # each trial's TensorBoard callback comes from its TrialLog (the tuner's run_trial)
    if tuner.hypermodel.progress:
        from kerascnn.search.progress import FitProgress

        callbacks.append(FitProgress("trial"))  # the tuner names it after each trial
    if train.early_stopping:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=search.objective, patience=train.early_stopping, mode=objective_direction(search.objective)
            )
        )
    tuner.search(epochs=train.epochs, callbacks=callbacks, verbose=train.verbose)
