"""Reading a run directory back: the leaderboard of its trials."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def load_trials(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "trials.csv"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} has no trials.csv: is it a kerascnn run directory?")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def leaderboard(run_dir: str | Path, top: int | None = None) -> str:
    """Completed trials sorted by the objective (best first), then the failed ones."""
    run_dir = Path(run_dir)
    rows = load_trials(run_dir)
    summary_file = run_dir / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    objective = summary.get("objective") or "val_f1_macro"
    reverse = not objective.endswith("loss")

    def score(r):
        try:
            return float(r.get(objective) or "nan")
        except ValueError:
            return float("nan")

    done = sorted((r for r in rows if r["status"] == "COMPLETED"), key=score, reverse=reverse)
    others = [r for r in rows if r["status"] != "COMPLETED"]
    hp_cols = [c for c in rows[0] if c not in ("trial_id", "status", "params", "seconds", "message", "best_epoch")
               and not c.startswith("val_")] if rows else []
    header = ["rank", "trial", objective, "val_accuracy", "params", "seconds"] + hp_cols
    table = [header]
    for i, r in enumerate(done[:top] if top else done, start=1):
        table.append([str(i), r["trial_id"], _fmt(r.get(objective)), _fmt(r.get("val_accuracy")),
                      r.get("params") or "", _fmt(r.get("seconds"), 1)] + [r.get(c, "") for c in hp_cols])
    for r in others:
        table.append(["-", r["trial_id"], r["status"], "", "", _fmt(r.get("seconds"), 1)] + [r.get(c, "") for c in hp_cols])
    widths = [max(len(str(row[c])) for row in table) for c in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    out = "\n".join(lines)
    if summary.get("counts"):
        c = summary["counts"]
        out += f"\n\n{c['completed']} completed, {c['failed']} failed, {c['rejected']} candidates rejected before training."
    if summary.get("test"):
        t, b = summary["test"], summary.get("baseline", {})
        out += (f"\nBest trial {summary['best']['trial_id']} on the test split: accuracy {t['accuracy']:.4f}, "
                f"f1_macro {t['f1_macro']:.4f}; SVC baseline accuracy {b.get('accuracy', float('nan')):.4f}.")
    return out


def _fmt(value, digits=4):
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "" if value is None else str(value)
