"""search.max_seconds' plan (kerascnn.budget), on a clock the test moves."""

import pytest

from kerascnn import budget as budget_module
from kerascnn.budget import TimeBudget, default_reserve


@pytest.fixture
def clock(monkeypatch):
    """A clock at 0 that moves only when the test says so."""

    class Clock:
        t = 0.0

    monkeypatch.setattr(budget_module, "now", lambda: Clock.t)
    return Clock


def _trial(budget, clock, epochs, first, per_epoch):
    """A trial that starts now: a first epoch of ``first`` seconds, then ``per_epoch`` each; the clock moves on."""
    began, ends = clock.t, []
    clock.t += first
    ends.append(clock.t)
    for _ in range(epochs - 1):
        clock.t += per_epoch
        ends.append(clock.t)
    budget.record_trial(began, ends, clock.t)


def test_the_first_trial_starts_then_each_needs_the_average_trial_the_refit_and_the_reserve(clock):
    plan = TimeBudget(300, started=0.0, refit_runs=3, refit_epochs=10, sample_ratio=1.25, reserve=10)
    assert plan.trial_fits()  # nothing measured yet: a trial is the only way to learn
    _trial(plan, clock, epochs=10, first=5, per_epoch=2)  # 23 s: 2 s an epoch and 3 s of start-up
    assert plan.seconds_per_epoch() == 2
    # a refit: 10 epochs of 2 s on 1.25 times the samples, plus the 3 s start-up -> 28 s; three of them 84 s
    assert plan.refit_seconds(3, 10) == pytest.approx(84)
    # the next trial needs 23 + 84 + 10 = 117 s of the 277 s left
    assert plan.trial_fits()
    clock.t = 300 - 117  # exactly enough
    assert plan.trial_fits()
    clock.t += 0.5
    assert not plan.trial_fits()


def test_a_trial_stops_when_only_the_reserve_is_left(clock):
    plan = TimeBudget(100, started=0.0, reserve=8)
    clock.t = 91.9
    assert not plan.out_of_time()
    clock.t = 92.0
    assert plan.out_of_time()


def test_the_refit_trains_the_seeds_that_fit_and_none_when_one_does_not(clock):
    plan = TimeBudget(200, started=0.0, refit_runs=5, refit_epochs=10, reserve=10)
    _trial(plan, clock, epochs=10, first=1, per_epoch=1)  # 10 s: a refit is 10 s
    assert plan.runs_that_fit(5, 10) == 5
    clock.t = 200 - 10 - 35  # 35 s beside the reserve: three refits
    assert plan.runs_that_fit(5, 10) == 3
    assert plan.runs_that_fit(2, 10) == 2
    clock.t = 200 - 10 - 9
    assert plan.runs_that_fit(5, 10) == 0
    assert plan.fits(9) and not plan.fits(9.5)


def test_without_a_timed_epoch_the_refit_is_not_cut(clock):
    """A resumed run whose trials all ran in an earlier command has no timing here: it refits as asked."""
    plan = TimeBudget(60, started=0.0, refit_runs=3, refit_epochs=30)
    assert plan.refit_seconds(3, 30) == 0
    assert plan.runs_that_fit(3, 30) == 3


def test_pruned_and_one_epoch_trials_count_in_the_average_trial_but_not_in_the_epoch_time(clock):
    plan = TimeBudget(1000, started=0.0)
    _trial(plan, clock, epochs=30, first=4, per_epoch=1)  # 33 s
    _trial(plan, clock, epochs=1, first=3, per_epoch=1)  # 3 s: no later epoch to time
    assert plan.trial_seconds == [33, 3]
    assert plan.seconds_per_epoch() == 1
    assert plan.describe() == {"max_seconds": 1000, "reserve_seconds": 50.0, "seconds_per_epoch": 1, "trials_timed": 2}


@pytest.mark.parametrize("max_seconds, reserve", [(30, 5), (480, 24), (3600, 60)])
def test_the_results_reserve_is_a_twentieth_of_the_budget_within_5_to_60_seconds(max_seconds, reserve):
    assert default_reserve(max_seconds) == reserve
    assert TimeBudget(max_seconds).reserve == reserve
