"""The run directory's result files, trial statuses and the one ranking of trials.

Every module that writes or reads a result names it from here: the search
(trials.csv after each trial, rejections, each trial's facts), the final
models and ``summary.json`` (:mod:`kerascnn.results.finalize`) and the report
(:mod:`kerascnn.results.report`). :func:`ranked` is "the best trial" for all of
them: the progress line's best so far, the leaderboard and the models made
once the search has chosen.
"""

from __future__ import annotations

import csv
import math
import zlib
from pathlib import Path

from kerascnn import rundir
from kerascnn.validation import shown

TRIALS = "trials.csv"
SUMMARY = "summary.json"
PREDICTIONS = "predictions_test.csv"
REJECTIONS = "rejections.jsonl"
BEST_MODEL = "best_model.keras"
FINAL_MODEL = "final_model.keras"
ENSEMBLE_MODEL = "ensemble_model.keras"
REPORT = "report.md"
#: Which file of an image folder is in which part (train, validation, test): a resume and evaluate reuse it.
SPLIT = "split.csv"
#: Each trial's facts (seconds, parameters, batch size, per-epoch history), in its keras-tuner folder.
TRIAL_FACTS = "kerascnn.json"
#: keras-tuner's project folder and the TensorBoard logs, inside the run directory.
TUNER, TENSORBOARD = "tuner", "tb"

#: Trial statuses in trials.csv. PRUNED is a trial keras-tuner completed that the median rule stopped early.
COMPLETED, PRUNED, FAILED = "COMPLETED", "PRUNED", "FAILED"
#: Statuses that end a trial.
FINISHED = (COMPLETED, PRUNED, FAILED)


def number(value) -> float | None:
    """A trials.csv cell as a number (``None`` when empty, not a number, or NaN)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def score(row: dict, objective: str) -> float | None:
    """A trial row's objective as a number (``None`` when missing or not a number)."""
    return number(row.get(objective))


def trial_number(trial_id) -> int:
    """A trial's number (keras-tuner's ids are zero-padded counters); any other id, a stable hash of it.

    Seeds derive from it (``seed + trial_number``): a trial, and its refit,
    get the same randomness whatever ran before them in the process.
    """
    text = str(trial_id)
    return int(text) if text.isdigit() else zlib.crc32(text.encode())


def _number(trial_id) -> tuple:
    """Trial order: keras-tuner's ids are zero-padded counters; any other id after them, by name."""
    text = str(trial_id)
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def ranked(rows: list[dict], objective: str, direction: str) -> list[dict]:
    """Completed, unpruned trials with a score, best first; a tie goes to the earlier trial.

    ``direction`` is ``"max"`` or ``"min"`` (:func:`kerascnn.evaluation.metrics.objective_direction`).
    """
    sign = -1 if direction == "max" else 1
    done = [r for r in rows if r["status"] == COMPLETED and score(r, objective) is not None]
    return sorted(done, key=lambda r: (sign * score(r, objective), _number(r["trial_id"])))  # type: ignore[operator]


def write_trials(path: Path, rows: list[dict]) -> None:
    """trials.csv: one row per trial, every column any row has; never half a file."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with rundir.atomic_target(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


#: Every status a trials.csv row can hold: the kit's, and keras-tuner's for a trial not ended yet.
STATUSES = (*FINISHED, "RUNNING", "INVALID", "STOPPED", "IDLE")


def read_trials(run_dir: str | Path, counts: dict | None = None) -> list[dict]:
    """trials.csv's rows as strings (the report's view), or ``DamagedRunFile`` if the file is not whole.

    A row cut short, a line of garbage, a foreign header or an unknown status
    is refused; so is a file with fewer finished trials than ``counts``
    (``summary.json``'s, written after it) says the search finished: the
    report is never drawn from part of the trials.
    """
    path = Path(run_dir) / TRIALS
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} has no {TRIALS}: is it a kerascnn run directory?")
    with open(path, newline="") as f:
        text = f.read()
    reader = csv.DictReader(text.splitlines(keepends=True))
    problem = None
    if text and not text.endswith("\n"):
        problem = "its last line is cut short"
    elif text.strip() and not {"trial_id", "status"} <= set(reader.fieldnames or ()):
        problem = f"its header {shown(','.join(reader.fieldnames or []))} has no trial_id and status columns"
    rows = [] if problem or not text.strip() else list(reader)  # no trial yet: a header with no column
    for line, row in enumerate(rows, start=2):
        if problem:
            break
        if None in row or None in row.values():
            problem = f"line {line} has {'more' if None in row else 'fewer'} cells than the header"
        elif row["status"] not in STATUSES:
            problem = f"line {line} has status {shown(row['status'])}, not one of {', '.join(STATUSES)}"
    finished = sum(r["status"] in FINISHED for r in rows)
    expected = sum(int((counts or {}).get(k) or 0) for k in ("completed", "pruned", "failed"))
    if not problem and finished < expected:
        problem = f"it lists {finished} finished trials where summary.json counts {expected}"
    if problem:
        raise rundir.DamagedRunFile(
            f"{path} is damaged ({problem}): run the search command again to rewrite it from the tuner's "
            "records; the trials are not affected"
        )
    return rows


def split_of(model_path) -> Path | None:
    """The stored split (:data:`SPLIT`) of the run directory holding ``model_path`` (its folder or two above)."""
    folders = list(Path(model_path).resolve().parents)[:3]
    return next((folder / SPLIT for folder in folders if (folder / SPLIT).is_file()), None)
