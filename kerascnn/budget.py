"""``search.max_seconds``: one wall-clock budget for a whole command (search, refit, ensemble, results).

What a user keeps from a budgeted search is its final model, not its last
trial, so the budget is planned rather than cut at the deadline. A trial
starts only while the average trial so far, the refit the experiment asks
for (its seeds × epochs at the measured seconds per epoch, on
train+validation) and a reserve for scoring and the report still fit
before the deadline. A trial still training when only the reserve is left
stops at that epoch (like a pruned one). The refit then trains as many
seeds as fit, and the ensemble is made only if its refits fit too. The
clock starts when the command starts: a resumed run has its own budget.

Pure bookkeeping (no Keras): the oracle feeds it trial times, the results
ask it what still fits.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field


def now() -> float:
    """The clock the plan and the oracle share (``time.perf_counter``); tests move their own."""
    return time.perf_counter()


@dataclass
class TimeBudget:
    """The plan for one command's ``search.max_seconds``.

    Args:
        max_seconds: the budget, from ``started``.
        started: ``time.perf_counter()`` when the command started.
        refit_runs: refits the search leaves time for (``search.refit_seeds``; 0 without ``search.refit``).
        refit_epochs: epochs of one refit (``train.epochs``: a refit's own count is known only at the end).
        sample_ratio: a refit epoch's cost over a trial epoch's (it trains on train+validation).
        reserve: seconds kept for the results: scoring, baselines, figures, report.
    """

    max_seconds: float
    started: float = field(default_factory=now)
    refit_runs: int = 0
    refit_epochs: int = 0
    sample_ratio: float = 1.0
    reserve: float = 0.0
    #: Wall seconds of each ended trial (completed, pruned or failed).
    trial_seconds: list = field(default_factory=list)
    #: Seconds of each epoch after a trial's first (training and validation).
    epoch_seconds: list = field(default_factory=list)
    #: Each trial's start-up: its first epoch's seconds beyond a later epoch's (building, tracing).
    startup_seconds: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.reserve:
            self.reserve = default_reserve(self.max_seconds)

    @property
    def deadline(self) -> float:
        return self.started + self.max_seconds

    def left(self) -> float:
        """Seconds until the deadline (negative past it)."""
        return self.deadline - now()

    def record_trial(self, began: float, epoch_ends: list, ended: float) -> None:
        """An ended trial: when it began, when each of its epochs ended, and when it ended (``perf_counter``)."""
        self.trial_seconds.append(ended - began)
        steps = [b - a for a, b in zip(epoch_ends, epoch_ends[1:])]
        self.epoch_seconds.extend(steps)
        if epoch_ends and steps:
            self.startup_seconds.append(max(0.0, epoch_ends[0] - began - statistics.median(steps)))

    def seconds_per_epoch(self) -> float | None:
        """The median epoch so far, a trial's first excluded (``None`` before any trial ran two epochs)."""
        return statistics.median(self.epoch_seconds) if self.epoch_seconds else None

    def refit_seconds(self, runs: int, epochs: int) -> float:
        """Expected seconds of ``runs`` refits of ``epochs`` epochs each (0 before any epoch is timed).

        A refit trains on train+validation (``sample_ratio`` times the samples) and starts up like a trial.
        """
        per_epoch = self.seconds_per_epoch()
        if per_epoch is None:
            return 0.0
        startup = statistics.median(self.startup_seconds) if self.startup_seconds else 0.0
        return runs * (epochs * per_epoch * self.sample_ratio + startup)

    def trial_fits(self) -> bool:
        """Whether one more trial (the average so far), the planned refit and the reserve fit before the deadline.

        The first trial starts whenever more than the reserve is left: there is nothing to average yet.
        """
        if not self.trial_seconds:
            return self.left() > self.reserve
        needed = statistics.mean(self.trial_seconds) + self.refit_seconds(self.refit_runs, self.refit_epochs)
        return self.left() >= needed + self.reserve

    def out_of_time(self) -> bool:
        """Whether only the reserve is left: a trial still training stops."""
        return self.left() <= self.reserve

    def runs_that_fit(self, wanted: int, epochs: int) -> int:
        """How many of ``wanted`` refits of ``epochs`` epochs fit in what is left (the reserve kept)."""
        one = self.refit_seconds(1, epochs)
        room = self.left() - self.reserve
        if one <= 0:
            return wanted
        return max(0, min(wanted, math.floor(room / one)))

    def fits(self, seconds: float) -> bool:
        """Whether ``seconds`` more work fits before the reserve."""
        return self.left() - self.reserve >= seconds

    def describe(self) -> dict:
        """What ``summary.json`` keeps of the budget."""
        per_epoch = self.seconds_per_epoch()
        return {
            "max_seconds": self.max_seconds,
            "reserve_seconds": round(self.reserve, 1),
            "seconds_per_epoch": None if per_epoch is None else round(per_epoch, 3),
            "trials_timed": len(self.trial_seconds),
        }


def default_reserve(max_seconds: float) -> float:
    """Seconds kept for the results: a 20th of the budget, at least 5 s and at most 60 s.

    Scoring, the scikit-learn baselines, the figures and the report take a
    few seconds on a small dataset (about 8 s for MNIST-1D's three baselines
    on 2 cores) and grow with it, not with the budget.
    """
    return min(60.0, max(5.0, max_seconds / 20))
