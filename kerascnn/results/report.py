"""Reading a run directory back: leaderboard, plots and ``report.md``.

:func:`write_report` runs at the end of every search and on
``kerascnn report RUN_DIR``. Everything is read from the run directory's files
(``trials.csv``, ``summary.json``, ``predictions_test.csv`` and each trial's
``kerascnn.json``), so a report can be rebuilt at any time.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from kerascnn import rundir
from kerascnn.data.sources import PUBLISHED
from kerascnn.evaluation.metrics import objective_direction
from kerascnn.evaluation.samples import FIGURES
from kerascnn.results import files
from kerascnn.results.files import COMPLETED, FAILED, PRUNED

PLOTS = {
    "objective": "objective_per_trial.png",
    "pareto": "accuracy_vs_params.png",
    "knobs": "knob_effects.png",
    "confusion": "confusion_matrix_test.png",
    "curves": "best_trial_curves.png",
}
_FIXED_COLUMNS = ("trial_id", "status", "params", "seconds", "message", "best_epoch", "worker", "pruned_epoch")
#: Training-side objectives recorded beside the validation metrics (objective ``loss`` or ``accuracy``).
_TRAIN_OBJECTIVES = ("loss", "accuracy")


def _summary(run_dir: Path) -> dict:
    path = run_dir / files.SUMMARY
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise rundir.DamagedRunFile(
            f"{path} is damaged (not valid JSON): run the search command again to "
            "rewrite it; the trials are not affected."
        ) from None


def knob_columns(rows: list[dict]) -> list[str]:
    return [
        c for c in (rows[0] if rows else {}) if c not in _FIXED_COLUMNS + _TRAIN_OBJECTIVES and not c.startswith("val_")
    ]


def ranked(rows: list[dict], objective: str) -> list[dict]:
    """Completed trials, best first (:func:`kerascnn.results.files.ranked`), then the others in trial order."""
    done = files.ranked(rows, objective, objective_direction(objective))
    return done + [r for r in rows if r not in done]


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: fewer or as many parameters and a higher score.

    ``points`` are ``(params, score)``; the front is returned by increasing size.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def leaderboard_rows(run_dir: str | Path) -> tuple[list[str], list[list[str]]]:
    run_dir = Path(run_dir)
    summary = _summary(run_dir)
    rows = files.read_trials(run_dir, summary.get("counts"))
    objective = summary.get("objective") or "val_f1_macro"
    header = ["rank", "trial", "status", objective, "val_accuracy", "params", "seconds"] + knob_columns(rows)
    table, rank = [], 0
    for r in ranked(rows, objective):
        done = r["status"] == COMPLETED
        rank += done
        status = f"PRUNED@{r['pruned_epoch']}" if r["status"] == PRUNED and r.get("pruned_epoch") else r["status"]
        table.append(
            [
                str(rank) if done else "-",
                r["trial_id"],
                status,
                _fmt(r.get(objective)),
                _fmt(r.get("val_accuracy")),
                r.get("params") or "",
                _fmt(r.get("seconds"), 1),
            ]
            + [r.get(c, "") for c in knob_columns(rows)]
        )
    return header, table


def leaderboard(run_dir: str | Path, top: int | None = None) -> str:
    """The leaderboard as aligned text, with the run's counts and test result."""
    run_dir = Path(run_dir)
    header, table = leaderboard_rows(run_dir)
    if top:
        table = table[:top]
    rows = [header] + table
    widths = [max(len(str(row[c])) for row in rows) for c in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + _footer(_summary(run_dir))


def _footer(summary: dict) -> str:
    out = ""
    if summary.get("counts"):
        c = summary["counts"]
        out += (
            f"\n\n{c['completed']} completed, {c.get('pruned', 0)} pruned, {c['failed']} failed, "
            f"{c['rejected']} candidates rejected before training."
        )
    if summary.get("test"):
        out += (
            "\nTest split: "
            + "; ".join(
                f"{label} accuracy {t['accuracy']:.4f}" + (f", f1_macro {t['f1_macro']:.4f}" if "f1_macro" in t else "")
                for label, t in test_results(summary)
            )
            + "."
        )
    return out


def test_results(summary: dict, baselines: bool = True) -> list[tuple[str, dict]]:
    """``(label, test metrics)`` of each model a run scored, the reported one first, then the baselines."""
    best = (summary.get("best") or {}).get("trial_id")
    models = summary.get("models") or {}
    out = []

    def refit(seeds):
        return f"{seeds} seeds refit on train+validation, averaged" if seeds else "refit on train+validation"

    if summary.get("test"):
        final = files.FINAL_MODEL in models and summary.get("predictions_from") == files.FINAL_MODEL
        how = refit((models.get(files.FINAL_MODEL) or {}).get("seeds"))
        out.append((f"final model (trial {best}, {how})" if final else f"best trial {best}", summary["test"]))
        if final and summary.get("test_best_trial"):
            out.append((f"best trial {best} as searched", summary["test_best_trial"]))
    if summary.get("test_ensemble"):
        source = models.get(files.ENSEMBLE_MODEL) or {}
        how = f" (each {refit(source.get('refit_seeds'))})" if source.get("refit_epochs") else ""
        out.append(
            (f"ensemble of trials {', '.join(map(str, source.get('trial_ids') or []))}{how}", summary["test_ensemble"])
        )
    return out + (baseline_results(summary) if baselines else [])


def baseline_results(summary: dict) -> list[tuple[str, dict]]:
    """``(label, test metrics)`` of each scikit-learn baseline (``search.baselines``) the run scored.

    A run written before ``search.baselines`` existed has its SVC under ``baseline``.
    """
    from kerascnn.evaluation.baselines import LABELS

    scored = summary.get("baselines")
    if scored is None and summary.get("baseline"):
        scored = {"svc": summary["baseline"]}
    return [
        (
            LABELS.get(name, f"{name} baseline")
            + (f" (fit on a stratified sample of {m['fit_samples']})" if m.get("fit_samples") else ""),
            m,
        )
        for name, m in (scored or {}).items()
        if m
    ]


def _fmt(value, digits=4):
    v = files.number(value)
    return "" if v is None else f"{v:.{digits}f}"


def _markdown_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --- plots -------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: Fixed margins of a one-panel 7×4 plot with short tick labels: ``tight_layout`` draws the figure once more
#: to measure its labels, a third of the report's time. Figures with long or many labels keep it.
_ONE_PANEL = dict(left=0.11, right=0.97, bottom=0.13, top=0.91)


def _savefig(fig, path: Path) -> None:
    with rundir.atomic_target(path) as tmp:  # a kill never leaves half a picture
        fig.savefig(tmp)


def plot_objective(rows, objective, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    xs = [i for i, r in enumerate(rows) if files.number(r.get(objective)) is not None and r["status"] == COMPLETED]
    ys = [files.number(rows[i][objective]) for i in xs]
    better = max if objective_direction(objective) == "max" else min
    best_so_far = [better(ys[: k + 1]) for k in range(len(ys))]
    ax.plot(xs, ys, "o", label=objective)
    ax.step(xs, best_so_far, where="post", color="tab:red", label="best so far")
    failed = [i for i, r in enumerate(rows) if r["status"] == FAILED]
    if failed and ys:
        ax.plot(failed, [min(ys)] * len(failed), "x", color="gray", label="failed")
    ax.set(xlabel="trial", ylabel=objective, title=f"{objective} per trial")
    ax.set_xticks(range(len(rows)), [r["trial_id"] for r in rows])
    ax.legend()
    fig.subplots_adjust(**_ONE_PANEL)
    _savefig(fig, path)
    plt.close(fig)


def plot_pareto(rows, path: Path, metric: str = "val_accuracy") -> list[dict]:
    """Accuracy against parameter count with the Pareto front; returns the front's rows."""
    plt = _pyplot()
    done = [r for r in rows if r["status"] == COMPLETED and files.number(r.get(metric)) is not None and r.get("params")]
    points = [(float(r["params"]), files.number(r[metric])) for r in done]
    front = [done[i] for i in pareto_front(points)]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.scatter([p[0] for p in points], [p[1] for p in points], label="trials")
    for r, (x, y) in zip(done, points):
        ax.annotate(r["trial_id"], (x, y), textcoords="offset points", xytext=(3, 3), fontsize=7)
    ax.plot(
        [float(r["params"]) for r in front],
        [files.number(r[metric]) for r in front],
        "-o",
        color="tab:red",
        label="Pareto front",
    )
    ax.set_xscale("log")
    ax.set(xlabel="parameters", ylabel=metric, title=f"{metric} against model size")
    ax.legend()
    fig.subplots_adjust(**_ONE_PANEL)
    _savefig(fig, path)
    plt.close(fig)
    return front


def plot_knob_effects(rows, objective, path: Path) -> list[str]:
    """One small panel per hyperparameter: the objective of each trial against its value."""
    plt = _pyplot()
    done = [r for r in rows if r["status"] == COMPLETED and files.number(r.get(objective)) is not None]
    knobs = [k for k in knob_columns(rows) if len({r.get(k) for r in done}) > 1] or knob_columns(rows)
    cols = min(4, max(1, len(knobs)))
    nrows = max(1, math.ceil(len(knobs) / cols))
    # one objective scale for every panel (comparable at a glance); tick labels on the first column only
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.6 * nrows), dpi=100, squeeze=False, sharey=True)
    for ax, knob in zip(axes.flat, knobs):
        values = [r.get(knob) or "n/a" for r in done]
        categories = sorted(set(values), key=lambda v: (files.number(v) is None, files.number(v) or 0, v))
        xs = [categories.index(v) for v in values]
        ax.scatter(xs, [files.number(r[objective]) for r in done], alpha=0.7)
        ax.set_xticks(range(len(categories)), categories, fontsize=7, rotation=30)
        ax.set_title(knob, fontsize=8)
    for ax in list(axes.flat)[len(knobs) :]:
        ax.axis("off")
    fig.suptitle(f"{objective} by hyperparameter", fontsize=10)
    fig.tight_layout()
    _savefig(fig, path)
    plt.close(fig)
    return knobs


def confusion_matrix_figure(cm: np.ndarray, class_names, title: str = "Confusion matrix"):
    """A matplotlib figure of a confusion matrix, counts written in each cell."""
    plt = _pyplot()
    n = len(cm)
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * n + 2), max(3.5, 0.5 * n + 1.5)), dpi=100)
    im = ax.imshow(cm, cmap="Blues")
    ax.set(
        xticks=range(n),
        yticks=range(n),
        xticklabels=class_names,
        yticklabels=class_names,
        xlabel="predicted",
        ylabel="true",
        title=title,
    )
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    limit = cm.max() / 2 if cm.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                int(cm[i, j]),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if cm[i, j] > limit else "black",
            )
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def plot_confusion(run_dir: Path, class_names, path: Path) -> np.ndarray | None:
    from sklearn.metrics import confusion_matrix

    pred_file = run_dir / files.PREDICTIONS
    if not pred_file.exists():
        return None
    with open(pred_file, newline="") as f:
        pairs = [(int(r["y_true"]), int(r["y_pred"])) for r in csv.DictReader(f)]
    y_true, y_pred = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    cm = confusion_matrix(y_true, y_pred, labels=list(range(len(class_names))))
    fig = confusion_matrix_figure(cm, class_names, "Best model on the test split")
    _savefig(fig, path)
    _pyplot().close(fig)
    return cm


def plot_curves(history: dict, path: Path, title: str) -> None:
    plt = _pyplot()
    panels = [("loss", "val_loss"), ("accuracy", "val_accuracy"), ("f1_macro", "val_f1_macro")]
    panels = [p for p in panels if p[0] in history or p[1] in history]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), dpi=100, squeeze=False)
    for ax, (train_key, val_key) in zip(axes[0], panels):
        for key, label in ((train_key, "train"), (val_key, "validation")):
            if key in history:  # None: an epoch without that value (train-side metrics are sampled)
                values = [math.nan if v is None else v for v in history[key]]
                ax.plot(range(1, len(values) + 1), values, marker=".", label=label)
        ax.set(xlabel="epoch", title=train_key)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.15, top=0.82, wspace=0.25)
    _savefig(fig, path)
    plt.close(fig)


def write_report(run_dir: str | Path) -> Path:
    """Write ``report.md``, the PNG plots and ``leaderboard.csv`` / ``.md``; return the report path."""
    run_dir = Path(run_dir)
    summary = _summary(run_dir)
    rows = files.read_trials(run_dir, summary.get("counts"))
    objective = summary.get("objective") or "val_f1_macro"
    header, table = leaderboard_rows(run_dir)
    with rundir.atomic_target(run_dir / "leaderboard.csv") as tmp, open(tmp, "w", newline="") as f:
        csv.writer(f).writerows([header] + table)
    rundir.atomic_write(run_dir / "leaderboard.md", _markdown_table(header, table) + "\n")

    plot_objective(rows, objective, run_dir / PLOTS["objective"])
    front = plot_pareto(rows, run_dir / PLOTS["pareto"])
    knobs = plot_knob_effects(rows, objective, run_dir / PLOTS["knobs"])
    class_names = summary.get("class_names") or []
    cm = plot_confusion(run_dir, class_names, run_dir / PLOTS["confusion"]) if class_names else None
    best = summary.get("best") or {}
    history_file = run_dir / files.TUNER / f"trial_{best.get('trial_id')}" / files.TRIAL_FACTS
    try:
        history = json.loads(history_file.read_text()).get("history") if history_file.exists() else None
    except ValueError:  # a damaged per-trial record: the report goes without the curves
        history = None
    if history:
        plot_curves(history, run_dir / PLOTS["curves"], f"Best trial {best['trial_id']}: training curves")

    md = [f"# Search report: {summary.get('name', run_dir.name)}", ""]
    counts = summary.get("counts") or {}
    if counts:
        md += [
            f"{counts['completed']} trials completed, {counts.get('pruned', 0)} pruned (stopped early by the "
            f"median rule), {counts['failed']} failed, {counts['rejected']} candidates "
            "rejected before training (feature maps that collapse, budgets). Objective: "
            f"`{objective}`.",
            "",
        ]
    if summary.get("test"):
        t = summary["test"]
        md += [
            "## Best model",
            "",
            f"Trial **{best['trial_id']}** ({best.get('params') or '?'} parameters):",
            "",
            _markdown_table(["hyperparameter", "value"], list(best.get("hyperparameters", {}).items())),
            "",
            "Test split, beside scikit-learn baselines trained on the same data (the first row is the result):",
            "",
            _markdown_table(
                ["model", "accuracy", "precision_macro", "recall_macro", "f1_macro"],
                [
                    [
                        label,
                        _fmt(m.get("accuracy")),
                        _fmt(m.get("precision_macro")),
                        _fmt(m.get("recall_macro")),
                        _fmt(m.get("f1_macro")),
                    ]
                    for label, m in test_results(summary)
                ],
            ),
            "",
            "Per class (test split, the first row's model):",
            "",
            _markdown_table(
                ["class", "precision", "recall", "f1", "support"],
                [
                    [
                        name,
                        f"{t.get(f'precision_class_{k}', 0):.3f}",
                        f"{t.get(f'recall_class_{k}', 0):.3f}",
                        f"{t.get(f'f1_class_{k}', 0):.3f}",
                        t.get(f"support_class_{k}", ""),
                    ]
                    for k, name in enumerate(class_names)
                ],
            ),
            "",
        ]
        if summary.get("source") in PUBLISHED:
            source, cite = summary["source"], PUBLISHED[summary["source"]]
            md += [
                f"Published test accuracy on the standard {source} split ({cite['paper']}):",
                "",
                _markdown_table(["model", "accuracy"], [[m, f"{a:.2f}"] for m, a in cite["accuracy"].items()]),
                "",
            ]
        if cm is not None:
            md += [f"![confusion matrix]({PLOTS['confusion']})", ""]
        if (run_dir / FIGURES["examples"]).exists():
            md += [
                "### Misclassified test samples",
                "",
                "True and predicted class of each (signals as lines, images as pictures, volumes as their "
                "fullest slices):",
                "",
                f"![misclassified test samples]({FIGURES['examples']})",
                "",
            ]
        if (run_dir / FIGURES["feature_maps"]).exists():
            md += ["### First-layer feature maps", "", f"![first-layer feature maps]({FIGURES['feature_maps']})", ""]
        if history:
            md += ["### Training curves of the best trial", "", f"![training curves]({PLOTS['curves']})", ""]
    if summary.get("stale_models"):
        md += [
            "## Stale models",
            "",
            "Made by an earlier run of this directory from trials that are no longer the result; kept, renamed:",
            "",
            _markdown_table(
                ["file", "made from trial(s)"],
                [
                    [name, ", ".join(map(str, source.get("trial_ids") or [source.get("trial_id", "?")]))]
                    for name, source in summary["stale_models"].items()
                ],
            ),
            "",
        ]
    md += [
        "## Trials",
        "",
        f"![{objective} per trial]({PLOTS['objective']})",
        "",
        _markdown_table(header, table),
        "",
        "## Accuracy against size",
        "",
        f"![accuracy against parameters]({PLOTS['pareto']})",
        "",
        "Pareto front (the best validation accuracy for its size):",
        "",
        _markdown_table(
            ["trial", "params", "val_accuracy"],
            [[r["trial_id"], r["params"], _fmt(r.get("val_accuracy"))] for r in front],
        ),
        "",
        "## Effect of each hyperparameter",
        "",
        f"![effect of each hyperparameter]({PLOTS['knobs']})",
        "",
        "Knobs shown: " + ", ".join(f"`{k}`" for k in knobs),
        "",
    ]
    path = run_dir / files.REPORT
    rundir.atomic_write(path, "\n".join(md))
    return path
