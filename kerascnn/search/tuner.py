"""keras-tuner's own tuners, made geometry-aware and run-directory-aware.

- The oracles (random, bayesian, hyperband, grid) are keras-tuner's, with one
  addition: every candidate is checked before it becomes a trial
  (:meth:`CNNHyperModel.check_candidate`: feature-map collapse, Keras'
  forbidden combinations, parameter budget). A rejected candidate is logged
  to ``rejections.jsonl`` and drawn again; it never counts as a trial and
  never reaches ``model.fit``.
- The tuner records each trial's parameter count and time, rewrites
  ``trials.csv`` after every trial and prints one progress line per trial.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np

import keras
import keras_tuner as kt
from keras_tuner.oracles import BayesianOptimizationOracle, GridSearchOracle, HyperbandOracle, RandomSearchOracle

from kerascnn import _compat, rundir
from kerascnn import budget as clock
from kerascnn._compat import AtomicOracleState, AtomicTunerState, searched_values
from kerascnn.config import SearchSettings
from kerascnn.evaluation.metrics import METRIC_NAMES, objective_direction, objective_names
from kerascnn.results import files
from kerascnn.search.trial_log import TrialLog

#: The search section's defaults (their one home is :class:`kerascnn.config.SearchSettings`).
_DEFAULT = SearchSettings()


class RejectingOracle:
    """Mixin for a keras-tuner oracle: redraw candidates that fail ``candidate_check``.

    Args:
        candidate_check: ``hp -> Rejection or None`` (:meth:`CNNHyperModel.check_candidate`).
        rejections_path: where each rejection is appended (``rejections.jsonl``).
        max_rejections: rejections in a row that stop the search.
    """

    def __init__(
        self,
        *args,
        candidate_check=None,
        rejections_path: Path | None = None,
        max_rejections: int = _DEFAULT.constraints.max_rejections,
        **kwargs,
    ):
        self.candidate_check, self.rejections_path, self.max_rejections = (
            candidate_check,
            rejections_path,
            max_rejections,
        )
        super().__init__(*args, **kwargs)

    def populate_space(self, trial_id):
        response = super().populate_space(trial_id)
        for _ in range(self.max_rejections):
            if self.candidate_check is None or response.get("status") != kt.engine.trial.TrialStatus.RUNNING:
                return response
            values = response["values"]
            hps = self.hyperparameters.copy()
            hps.values = dict(values)
            reason = self.candidate_check(hps)
            if reason is None:
                return response
            self._record_rejection(values, reason)
            response = self._redraw(trial_id, values)
        print(
            f"Search stopped: {self.max_rejections} candidates in a row were rejected "
            "(see rejections.jsonl); widen search.space or raise constraints."
        )
        return {"status": kt.engine.trial.TrialStatus.STOPPED}

    @property
    def rejections(self) -> list:
        """This process's rejected candidates: ``{"values", "reason", "kind"}`` each (also in ``rejections.jsonl``)."""
        if "_kit_rejections" not in self.__dict__:
            self._kit_rejections = []
        return self._kit_rejections

    def _record_rejection(self, values, reason):
        _compat.mark_tried(self, values)
        record = {"values": values, "reason": str(reason), "kind": getattr(reason, "kind", None)}
        self.rejections.append(record)
        if self.rejections_path is not None:  # one write per line: a kill cannot leave half of one
            rundir.append_line(self.rejections_path, json.dumps(record))

    def _redraw(self, trial_id, values):
        if isinstance(self, HyperbandOracle):  # forget the slot the rejected candidate took
            _compat.forget_hyperband_slot(self, trial_id)
        if isinstance(self, GridSearchOracle):  # the grid goes on from the rejected combination
            while True:
                values = _compat.next_grid_values(self, values)
                if values is None:
                    return {"status": kt.engine.trial.TrialStatus.STOPPED}
                if not _compat.already_tried(self, values):
                    return {"status": kt.engine.trial.TrialStatus.RUNNING, "values": values}
        if isinstance(self, BayesianOptimizationOracle):  # the GP would propose the same point
            return _compat.random_values(self)
        return super().populate_space(trial_id)


class PruningOracle:
    """Mixin for a keras-tuner oracle: the median rule stops a losing trial early (``search.pruning: median``).

    The tuner reports every epoch's logs (:meth:`RunRecorder.on_epoch_end` ->
    ``oracle.update_trial(trial_id, logs, step=epoch)``), so the oracle (the
    chief's, in a distributed search) holds each trial's per-epoch history.
    After epoch ``e`` (past ``warmup_epochs``) a trial whose best objective so
    far is worse than the median of the best-so-far, at ``e``, of the finished
    unpruned trials that reached ``e`` stops, as Optuna's ``MedianPruner``
    does; never while fewer than ``min_trials`` such trials exist, so the
    first ``min_trials`` trials always run to the end. keras-tuner's own
    channel carries the decision: ``update_trial`` answers with status
    ``STOPPED``. ``pruned`` (trial id -> epoch, 1-based) is part of the
    oracle's saved state, so it survives a resume.
    """

    def __init__(
        self,
        *args,
        pruning: str = _DEFAULT.pruning,
        warmup_epochs: int = _DEFAULT.pruning_warmup_epochs,
        min_trials: int = _DEFAULT.pruning_min_trials,
        **kwargs,
    ):
        self.pruning, self.warmup_epochs, self.min_trials = pruning, warmup_epochs, min_trials
        super().__init__(*args, **kwargs)

    @property
    def pruned(self) -> dict:
        if "_kit_pruned" not in self.__dict__:
            self._kit_pruned = {}
        return self._kit_pruned

    @kt.synchronized
    def create_trial(self, tuner_id):
        trial = super().create_trial(tuner_id)
        if trial.status == kt.engine.trial.TrialStatus.RUNNING and trial.metrics.metrics:
            # handed out again after a kill or a recycled worker: it trains from the start, so does its history
            trial.metrics = type(trial.metrics)()
            self.pruned.pop(trial.trial_id, None)
        return trial

    @kt.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        with self.unsaved():  # a per-epoch report: end_trial writes the trial (see _compat.AtomicOracleState)
            trial = super().update_trial(trial_id, metrics, step)
        if self.pruning == "median" and self.should_prune(trial_id, step):
            self.pruned[trial_id] = step + 1
            trial = copy.copy(trial)  # the answer says STOPPED; the oracle's own trial runs on to its end
            trial.status = kt.engine.trial.TrialStatus.STOPPED
        return trial

    def should_prune(self, trial_id, step: int) -> bool:
        """The median rule at ``step`` (0-based epoch) for ``trial_id``, from the histories the oracle holds."""
        if step + 1 <= self.warmup_epochs:
            return False
        name, direction = self.objective.name, self.objective.direction
        best = max if direction == "max" else min
        current = _best_so_far(self.trials[trial_id], name, step, best)
        if current is None:
            return False
        others = []
        for other in self.trials.values():
            if (
                other.trial_id == trial_id
                or other.status != kt.engine.trial.TrialStatus.COMPLETED
                or other.trial_id in self.pruned
            ):
                continue
            value = _best_so_far(other, name, step, best, reached=True)
            if value is not None:
                others.append(value)
        if len(others) < self.min_trials:
            return False
        median = float(np.median(others))
        return current < median if direction == "max" else current > median

    def get_state(self):
        return {**super().get_state(), "kerascnn_pruned": dict(self.pruned)}

    def set_state(self, state):
        super().set_state(state)
        self.pruned.clear()
        self.pruned.update(state.get("kerascnn_pruned", {}))


class TrialEnvironmentError(kt.errors.FatalError, OSError):
    """A trial stopped by the file system (no space, ``ulimit -f``, read-only, permissions), not by its candidate.

    keras-tuner re-raises a ``FatalError`` without ending the trial, so the
    oracle keeps it open: the next run of the same command trains it again,
    as after a kill. As an ``OSError`` the command reports it with status 74.
    """

    def __init__(self, trial_id, cause: OSError):
        super().__init__(cause.errno, cause.strerror, cause.filename)
        self.trial_id = trial_id

    def __str__(self) -> str:
        return f"trial {self.trial_id}: {super().__str__()}"


class FailureLimitOracle:
    """Mixin for a keras-tuner oracle: ``max_failures`` trials failing in a row stop the search, with their reasons.

    keras-tuner's own limit raises ``RuntimeError`` from inside ``end_trial``,
    before that trial is saved, and the search ends in a traceback with no
    results; :func:`make_tuner` sets it out of reach. Here the next
    ``create_trial`` answers ``STOPPED`` instead, so the search ends as a
    finished one does and the results of the trials that completed are
    made. Only failures of this process count: a resume tries again.
    """

    def __init__(self, *args, max_failures: int = _DEFAULT.constraints.max_failures, **kwargs):
        self.max_failures = max_failures
        super().__init__(*args, **kwargs)

    @property
    def failures_in_row(self) -> list:
        """``(trial id, reason)`` of the trials that failed since the last one that did not."""
        if "_kit_failures_in_row" not in self.__dict__:
            self._kit_failures_in_row = []
        return self._kit_failures_in_row

    @property
    def stopped_by_failures(self) -> bool:
        return len(self.failures_in_row) >= self.max_failures

    @kt.synchronized
    def create_trial(self, tuner_id):
        if self.stopped_by_failures:
            return kt.engine.trial.Trial(self.get_space(), status=kt.engine.trial.TrialStatus.STOPPED)
        return super().create_trial(tuner_id)

    @kt.synchronized
    def end_trial(self, trial):
        super().end_trial(trial)
        ended = self.trials[trial.trial_id]
        if ended.status == kt.engine.trial.TrialStatus.FAILED:
            self.failures_in_row.append((ended.trial_id, failure_reason(ended.message)))
        elif ended.status == kt.engine.trial.TrialStatus.COMPLETED:
            self.failures_in_row.clear()


class BudgetOracle:
    """Mixin for a keras-tuner oracle: ``search.max_seconds`` (:class:`kerascnn.budget.TimeBudget`).

    ``create_trial`` answers ``STOPPED`` once another trial, the planned refit
    and the results' reserve no longer fit before the deadline;
    ``update_trial`` stops a trial still training when only the reserve is
    left (recorded as pruned at that epoch, and in ``cut_by_budget``). Each
    ended trial's wall time feeds the plan. Without a budget it does nothing.
    """

    def __init__(self, *args, budget=None, **kwargs):
        self.budget = budget
        self.stopped_by_budget = False
        super().__init__(*args, **kwargs)

    @property
    def _began(self) -> dict:
        if "_kit_began" not in self.__dict__:
            self._kit_began = {}
        return self._kit_began

    @property
    def cut_by_budget(self) -> dict:
        """Trials stopped while training because the budget ran out: trial id -> epoch (1-based)."""
        if "_kit_cut_by_budget" not in self.__dict__:
            self._kit_cut_by_budget = {}
        return self._kit_cut_by_budget

    @kt.synchronized
    def create_trial(self, tuner_id):
        if self.budget is not None and not self.budget.trial_fits():
            self.stopped_by_budget = True
            return kt.engine.trial.Trial(self.get_space(), status=kt.engine.trial.TrialStatus.STOPPED)
        trial = super().create_trial(tuner_id)
        if trial.status == kt.engine.trial.TrialStatus.RUNNING:
            self._began[trial.trial_id] = clock.now()
        return trial

    @property
    def _epoch_ends(self) -> dict:
        if "_kit_epoch_ends" not in self.__dict__:
            self._kit_epoch_ends = {}
        return self._kit_epoch_ends

    @kt.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        trial = super().update_trial(trial_id, metrics, step)
        self._epoch_ends.setdefault(trial_id, []).append(clock.now())
        running = getattr(trial, "status", None) != kt.engine.trial.TrialStatus.STOPPED
        if self.budget is not None and running and self.budget.out_of_time():
            self.cut_by_budget[trial_id] = step + 1
            getattr(self, "pruned", {})[trial_id] = step + 1  # not a finished trial: never the best or a member
            trial = copy.copy(trial)
            trial.status = kt.engine.trial.TrialStatus.STOPPED
        return trial

    @kt.synchronized
    def end_trial(self, trial):
        super().end_trial(trial)
        began, ends = self._began.pop(trial.trial_id, None), self._epoch_ends.pop(trial.trial_id, [])
        if self.budget is not None and began is not None:
            self.budget.record_trial(began, ends, clock.now())

    def get_state(self):
        return {**super().get_state(), "kerascnn_cut_by_budget": dict(self.cut_by_budget)}

    def set_state(self, state):
        super().set_state(state)
        self.cut_by_budget.clear()
        self.cut_by_budget.update(state.get("kerascnn_cut_by_budget", {}))


def failure_reason(message: str | None) -> str:
    """A failed trial's reason: the last line of keras-tuner's traceback text, bounded."""
    lines = (message or "").strip().splitlines()
    return lines[-1][:300] if lines else "no reason recorded"


def _best_so_far(trial, name, step, best, reached=False):
    """Best value of metric ``name`` up to ``step``; ``None`` if none (or, ``reached``, if it never got to ``step``)."""
    if not trial.metrics.exists(name):
        return None
    history = trial.metrics.get_history(name)
    if reached and not any(o.step >= step for o in history):
        return None
    values = [float(np.mean(o.value)) for o in history if o.step <= step]
    return best(values) if values else None


def _oracle(cls):
    mixins = (BudgetOracle, FailureLimitOracle, RejectingOracle, PruningOracle, AtomicOracleState, cls)
    return type(f"Rejecting{cls.__name__}", mixins, {})


ORACLES = {
    "random": _oracle(RandomSearchOracle),
    "bayesian": _oracle(BayesianOptimizationOracle),
    "hyperband": _oracle(HyperbandOracle),
    "grid": _oracle(GridSearchOracle),
}


class EpochReporter:
    """Mixin for a tuner: each epoch's logs go to the oracle, which may answer ``STOPPED`` (pruning)."""

    @property
    def _pruned_here(self) -> dict:
        """Trials this process stopped on the oracle's word: trial id -> epoch (1-based)."""
        if "_kit_pruned_here" not in self.__dict__:
            self._kit_pruned_here = {}
        return self._kit_pruned_here

    def on_epoch_end(self, trial, model, epoch, logs=None):
        """Report the epoch to the oracle (keras-tuner's ``update_trial``); stop if it answers ``STOPPED``.

        The oracle then holds the per-epoch history (for pruning and for the
        best-epoch metrics), so keras-tuner skips its own end-of-trial report.
        """
        super().on_epoch_end(trial, model, epoch, logs=logs)
        metrics = {k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0}
        if self.oracle.objective.name not in metrics:
            return  # keras-tuner's end-of-trial check names the missing objective
        answer = self.oracle.update_trial(trial.trial_id, metrics, step=epoch)
        if getattr(answer, "status", None) == kt.engine.trial.TrialStatus.STOPPED:
            model.stop_training = True
            self._pruned_here[trial.trial_id] = epoch + 1

    def search(self, *args, **kwargs):
        with warnings.catch_warnings():  # the oracle has each epoch (on_epoch_end): keras-tuner calls that deprecated
            warnings.filterwarnings("ignore", message="The use case of calling", category=DeprecationWarning)
            return super().search(*args, **kwargs)


class RunRecorder(EpochReporter):
    """Mixin for a tuner: per-trial facts, ``trials.csv`` and the progress line.

    Args:
        run_dir: the run directory (``trials.csv``, ``tb/``, the tuner's folder).
        printer: where progress lines go.
        worker_timeout: a distributed chief's patience with a silent worker.
    """

    def __init__(self, *args, run_dir, printer=print, worker_timeout: float = _DEFAULT.worker_timeout, **kwargs):
        self.run_dir, self.printer, self.worker_timeout = Path(run_dir), printer, worker_timeout
        self.serve_report, self.trials_begun = None, 0
        #: The run directory the search opened (a worker's belongs to its chief: not watched).
        self.folder_identity = rundir.folder_identity(self.run_dir)
        super().__init__(*args, **kwargs)

    @property
    def objective_name(self) -> str:
        return self.oracle.objective.name

    def run_trial(self, trial, *args, **kwargs):
        """keras-tuner's trial, with its :class:`~kerascnn.search.trial_log.TrialLog` handed to ``fit``.

        The log gives each fit its TensorBoard folder and session and keeps
        the trial's facts, written to the trial's ``kerascnn.json`` however
        the trial ends (completed, pruned or failed).
        """
        from kerascnn.search.progress import FitProgress

        for callback in kwargs.get("callbacks") or []:
            if isinstance(callback, FitProgress):  # keras-tuner copies it for the trial: name it first
                callback.label = f"trial {trial.trial_id}"
        log = TrialLog(
            self.run_dir / files.TENSORBOARD,
            trial.trial_id,
            trial.hyperparameters.values,
            profile_batch=getattr(getattr(self.hypermodel, "train", None), "profile_batch", 0),
        )
        # seeded by the run and the trial alone: a trial rerun after a kill trains as it would have
        seed = getattr(self.hypermodel, "seed", None)
        keras.utils.set_random_seed((self.oracle.seed if seed is None else seed) + files.trial_number(trial.trial_id))
        start = time.perf_counter()
        try:
            result = super().run_trial(trial, *args, trial_log=log, **kwargs)
        except Exception as err:
            refused = rundir.environment_error(err)
            if refused is not None:  # the disk, not the candidate: the trial stays open and runs on the next run
                raise TrialEnvironmentError(trial.trial_id, refused) from err
            log.failed(err)
            self._write_facts(trial, log, start)
            raise
        self._write_facts(trial, log, start)
        return result

    def _write_facts(self, trial, log: TrialLog, start: float) -> None:
        """The trial's ``kerascnn.json`` (and its pruning mark), however it ended but for a refusing file system."""
        info = {**log.facts, "seconds": round(time.perf_counter() - start, 3), "worker": self.tuner_id}
        pruned = self._pruned_here.pop(trial.trial_id, None)
        if pruned is not None:
            info["pruned_epoch"] = pruned
            log.pruned(pruned)
        Path(self.get_trial_dir(trial.trial_id)).mkdir(parents=True, exist_ok=True)
        rundir.atomic_write(Path(self.get_trial_dir(trial.trial_id)) / files.TRIAL_FACTS, json.dumps(info))

    def search(self, *args, **kwargs):
        from kerascnn.search import distributed

        if distributed.role() == "chief":  # serve the oracle to the workers instead of training
            self.oracle.verbose = 0  # the kit prints its own line per trial
            self.save()
            self.serve_report = distributed.serve(
                self.oracle, self.worker_timeout, self.printer, on_trial_end=self._record_trial
            )
            return None
        if distributed.role() == "worker":
            distributed.wait_for_chief(self.worker_timeout, self.printer)
        return super().search(*args, **kwargs)

    def on_trial_begin(self, trial):
        from kerascnn.search import distributed

        limit = distributed.recycle_after() if distributed.role() == "worker" else None
        if limit and self.trials_begun >= limit:
            # The chief keeps this trial for our id: the restarted process gets it back.
            raise distributed.WorkerRecycled(
                f"worker {self.tuner_id}: recycled after {self.trials_begun} trials (--recycle-after {limit}); "
                f"restart it with the same --worker-id to run trial {trial.trial_id}"
            )
        self.trials_begun += 1
        rundir.stop_if_removed(self.run_dir, self.folder_identity)
        super().on_trial_begin(trial)

    def _record_trial(self, trial):
        rundir.stop_if_removed(self.run_dir, self.folder_identity)
        rows = self.trial_rows()
        files.write_trials(self.run_dir / files.TRIALS, rows)
        self._progress(trial, rows)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        from kerascnn.search import distributed

        if distributed.role() == "worker":  # the chief holds every trial; say what this worker did
            info = self._trial_info(trial.trial_id)
            values = (info.get("history") or {}).get(self.objective_name) or []
            better = min if objective_direction(self.objective_name) == "min" else max
            status = (
                f"{self.objective_name}={better(values):.4f}"
                if values and trial.status != files.FAILED
                else trial.status
            )
            if info.get("pruned_epoch"):
                status = f"PRUNED at epoch {info['pruned_epoch']} ({status})"
            self.printer(f"[worker {self.tuner_id}] trial {trial.trial_id} {status} | {info.get('seconds', 0):.1f}s")
            return
        self._record_trial(trial)

    def _trial_info(self, trial_id) -> dict:
        path = Path(self.get_trial_dir(trial_id)) / files.TRIAL_FACTS
        try:
            return json.loads(path.read_text()) if path.exists() else {}
        except ValueError:  # damaged outside the kit: the trial's facts (params, seconds) are left blank
            return {}

    def trial_rows(self) -> list[dict]:
        """One dict per trial: id, status, hyperparameters, validation metrics, params, seconds."""
        rows = []
        for trial_id in sorted(self.oracle.trials):
            trial = self.oracle.trials[trial_id]
            extra = self._trial_info(trial_id)
            pruned = getattr(self.oracle, "pruned", {}).get(trial_id) or extra.get("pruned_epoch")
            status = files.PRUNED if pruned and trial.status == kt.engine.trial.TrialStatus.COMPLETED else trial.status
            row = {"trial_id": trial_id, "status": status}
            row.update(searched_values(trial.hyperparameters.values))
            row.update(best_epoch_metrics(trial, self.objective_name))
            row["params"] = extra.get("params")
            row["seconds"] = extra.get("seconds")
            row["worker"] = extra.get("worker")
            row["pruned_epoch"] = pruned if status == files.PRUNED else None
            row["message"] = failure_reason(trial.message) if trial.message else ""
            cut = getattr(self.oracle, "cut_by_budget", {}).get(trial_id)
            if cut and status == files.PRUNED:
                row["message"] = f"stopped at epoch {cut}: search.max_seconds ran out"
            rows.append(row)
        return rows

    def _progress(self, trial, rows):
        done = [r for r in rows if r["status"] in files.FINISHED]
        n, total = len(done), self.oracle.max_trials
        best = next(iter(files.ranked(rows, self.objective_name, self.oracle.objective.direction)), None)
        row = next(r for r in rows if r["trial_id"] == trial.trial_id)
        knobs = " ".join(f"{k}={_short(v)}" for k, v in searched_values(trial.hyperparameters.values).items())
        seconds = [r["seconds"] for r in done if r.get("seconds")]
        left = (total - n) * (sum(seconds) / len(seconds)) if seconds else 0
        score = row.get(self.objective_name)
        status = f"{self.objective_name}={score:.4f}" if score is not None else f"{trial.status}: {row['message']}"
        if row["status"] == files.PRUNED:
            by_budget = trial.trial_id in getattr(self.oracle, "cut_by_budget", {})
            status = f"{'STOPPED' if by_budget else 'PRUNED'} at epoch {row['pruned_epoch']}" + (
                f" by search.max_seconds ({status})" if by_budget else f" ({status})"
            )
        best_text = f"best={best[self.objective_name]:.4f} (trial {best['trial_id']})" if best else "best=-"
        self.printer(
            f"[{n}/{total}] trial {trial.trial_id} {status} | {best_text} | "
            f"{row.get('seconds') or 0:.1f}s, ~{_duration(left)} left | {knobs}"
        )


def best_epoch_metrics(trial, objective_name: str) -> dict:
    """Validation metrics (and the objective, whichever it is) at the epoch where the objective was best."""
    tracker = trial.metrics
    if objective_name not in tracker.metrics:
        return {}
    history = tracker.get_history(objective_name)
    if not history:
        return {}
    direction = tracker.metrics[objective_name].direction
    best = (max if direction == "max" else min)(history, key=lambda o: o.value[0] if o.value else math.nan)
    out = {}
    names = ["val_loss"] + [f"val_{m}" for m in METRIC_NAMES] + [objective_name, f"{objective_name}_std"]
    for name in dict.fromkeys(names):  # the _std: over the folds, with search.cv_folds
        if name in tracker.metrics:
            match = [o for o in tracker.get_history(name) if o.step == best.step]
            if match:
                out[name] = float(match[0].value[0])
    out["best_epoch"] = best.step + 1
    return out


def _short(v):
    return f"{v:.3g}" if isinstance(v, float) else v


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class KitTuner(RunRecorder, AtomicTunerState, kt.Tuner):
    """A keras-tuner ``Tuner`` with the kit's oracle and run records."""


class KitHyperband(RunRecorder, AtomicTunerState, _compat.HyperbandOnOracle, kt.Hyperband):
    """keras-tuner's Hyperband (epoch budgets per round) with the kit's oracle."""


def make_tuner(
    search: SearchSettings,
    hypermodel,
    *,
    seed: int,
    run_dir: Path,
    epochs: int,
    overwrite: bool = False,
    printer=print,
    distribution_strategy=None,
    budget=None,
):
    """A keras-tuner tuner for the experiment's ``search`` section over ``hypermodel``, writing into ``run_dir``.

    ``epochs`` is ``train.epochs`` (Hyperband's largest budget); ``budget`` a
    :class:`kerascnn.budget.TimeBudget` for ``search.max_seconds``.
    """
    search = SearchSettings.of(search)
    common = dict(
        objective=kt.Objective(search.objective, objective_direction(search.objective)),
        seed=seed,
        max_consecutive_failed_trials=2**62,  # never keras-tuner's traceback: FailureLimitOracle stops instead
        max_failures=search.constraints.max_failures,
        candidate_check=lambda hp: hypermodel.check_candidate(hp, max_params=search.constraints.max_params),
        rejections_path=Path(run_dir) / files.REJECTIONS,
        max_rejections=search.constraints.max_rejections,
        pruning=search.pruning,
        warmup_epochs=search.pruning_warmup_epochs,
        min_trials=search.pruning_min_trials,
        budget=budget,
    )
    if search.tuner == "hyperband":
        oracle = ORACLES["hyperband"](max_epochs=epochs, factor=search.hyperband_factor, **common)
        oracle.max_trials = search.max_trials  # keras-tuner's Hyperband sets no trial cap: the progress line needs one
    else:
        oracle = ORACLES[search.tuner](max_trials=search.max_trials, **common)
    cls = KitHyperband if search.tuner == "hyperband" else KitTuner
    return cls(
        oracle=oracle,
        hypermodel=hypermodel,
        directory=str(run_dir),
        project_name=files.TUNER,
        overwrite=overwrite,
        executions_per_trial=search.executions_per_trial,
        distribution_strategy=distribution_strategy,
        run_dir=run_dir,
        printer=printer,
        worker_timeout=search.worker_timeout,
    )


# ----- keras-tuner's tuners as drop-ins: the same constructors, the kit's candidate checks -----
def _drop_in(kt_tuner, kt_oracle, bases: tuple):
    """``kt_tuner`` on the kit's oracle: a candidate whose feature maps collapse, or over budget, is drawn again.

    Takes keras-tuner's own arguments (positional ones in its order), plus
    ``max_params`` (a parameter budget), ``max_rejections`` (rejections in a
    row that end the search) and ``pruning="median"`` with
    ``pruning_warmup_epochs`` / ``pruning_min_trials`` (Optuna's median rule,
    as ``search.pruning`` in an experiment). The checks need a
    :class:`~kerascnn.search.hypermodel.CNNHyperModel` (or a hypermodel with
    its ``check_candidate``); a plain build function runs as under
    keras-tuner. The rejected candidates are in ``tuner.oracle.rejections``.
    """
    signature = inspect.signature(kt_tuner.__init__)
    oracle_args = set(inspect.signature(kt_oracle.__init__).parameters) - {"self"}
    oracle_cls = _oracle(kt_oracle)

    def __init__(
        self,
        *args,
        max_params: int | None = None,
        max_rejections: int = _DEFAULT.constraints.max_rejections,
        pruning: str = "none",
        pruning_warmup_epochs: int = _DEFAULT.pruning_warmup_epochs,
        pruning_min_trials: int = _DEFAULT.pruning_min_trials,
        **kwargs,
    ):
        if pruning not in ("none", "median"):
            raise ValueError(f"Invalid `pruning`: 'none' or 'median'. Received: pruning={pruning!r}")
        bound = signature.bind(self, *args, **kwargs)
        tuner_kwargs = dict(bound.arguments.pop("kwargs", {}))
        bound.arguments.pop("self")
        hypermodel = bound.arguments.pop("hypermodel", None)
        oracle_kwargs = {k: v for k, v in bound.arguments.items() if k in oracle_args}
        objective = oracle_kwargs.get("objective")
        if isinstance(objective, str) and objective in objective_names():  # the kit's metrics: it knows the direction
            oracle_kwargs["objective"] = kt.Objective(objective, objective_direction(objective))
        check = getattr(hypermodel, "check_candidate", None)
        oracle = oracle_cls(
            **oracle_kwargs,
            max_failures=2**62,  # keras-tuner's own max_consecutive_failed_trials applies, as in keras-tuner
            candidate_check=None if check is None else (lambda hp: check(hp, max_params=max_params)),
            max_rejections=max_rejections,
            pruning=pruning,
            warmup_epochs=pruning_warmup_epochs,
            min_trials=pruning_min_trials,
        )
        super(tuner_cls, self).__init__(oracle=oracle, hypermodel=hypermodel, **tuner_kwargs)

    doc = f"keras-tuner's ``{kt_tuner.__name__}``, geometry-aware.\n\n    " + inspect.cleandoc(_drop_in.__doc__ or "")
    tuner_cls = type(kt_tuner.__name__, bases, {"__init__": __init__, "__doc__": doc, "__module__": __name__})
    return tuner_cls


_TUNER = (EpochReporter, AtomicTunerState, kt.Tuner)
RandomSearch = _drop_in(kt.RandomSearch, RandomSearchOracle, _TUNER)
BayesianOptimization = _drop_in(kt.BayesianOptimization, BayesianOptimizationOracle, _TUNER)
GridSearch = _drop_in(kt.GridSearch, GridSearchOracle, _TUNER)
Hyperband = _drop_in(
    kt.Hyperband, HyperbandOracle, (EpochReporter, AtomicTunerState, _compat.HyperbandOnOracle, kt.Hyperband)
)
