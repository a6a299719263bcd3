"""What search.max_seconds leaves the results: the refit seeds and the ensemble that fit (kerascnn.results.finalize)."""

from types import SimpleNamespace

import pytest

from kerascnn import budget as budget_module
from kerascnn.budget import TimeBudget
from kerascnn.results.finalize import _ensemble_in_budget, _seeds_in_budget


@pytest.fixture
def plan(monkeypatch):
    """A 200 s budget at second 100, whose trials took 1 s an epoch and 2 s to start: a 10-epoch refit is 12 s."""
    now = [0.0]
    monkeypatch.setattr(budget_module, "now", lambda: now[0])
    plan = TimeBudget(200, started=0.0, refit_runs=3, refit_epochs=10, reserve=10)
    plan.record_trial(0.0, [3.0, 4.0, 5.0], 5.0)
    now[0] = 100.0
    plan.clock = now
    return plan


def test_every_seed_that_fits_is_refit_and_fewer_are_said(plan):
    lines, summary = [], {"budget": {}}
    assert _seeds_in_budget(plan, 3, 10, summary, lines.append) == 3 and lines == []
    plan.clock[0] = 200 - 10 - 30  # 30 s beside the reserve: two 12-second refits
    assert _seeds_in_budget(plan, 3, 10, summary, lines.append) == 2
    assert summary["budget"]["refit_seeds"] == 2
    assert lines == ["note: search.max_seconds: 2 of search.refit_seeds=3 refits (~12s each) fit in the 30s left"]
    plan.clock[0] = 200 - 10 - 11
    assert _seeds_in_budget(plan, 3, 10, summary, lines.append) == 0
    assert lines[-1].endswith("fit in the 11s left; the searched trial's model is the result (best_model.keras)")


def test_the_ensemble_is_made_only_if_its_other_members_refits_fit(plan):
    best, second, third = (SimpleNamespace(trial_id=t) for t in ("00", "01", "02"))
    source = {"refit_epochs": [10, 10, 5], "refit_seeds": 2}  # the best's refit is the final model: reused
    lines, summary = [], {"budget": {}}
    # 2 seeds × (10 epochs: 12 s) + 2 seeds × (5 epochs: 7 s) = 38 s
    plan.clock[0] = 200 - 10 - 38
    assert _ensemble_in_budget(plan, [best, second, third], best, source, summary, lines.append)
    plan.clock[0] += 1
    assert not _ensemble_in_budget(plan, [best, second, third], best, source, summary, lines.append)
    assert lines == [
        "note: search.max_seconds: the ensemble's refits (~38s) do not fit in the 37s left, so no ensemble was made"
    ]
    assert summary["budget"]["ensemble"].startswith("skipped")
