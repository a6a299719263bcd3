"""The kit's oracle: median pruning from per-epoch reports (constructed histories), kept across a resume."""

import keras_tuner as kt

from kerascnn.config import SearchSettings
from kerascnn.search import CNNHyperModel
from kerascnn.search.tuner import make_tuner

STOPPED, COMPLETED = kt.engine.trial.TrialStatus.STOPPED, kt.engine.trial.TrialStatus.COMPLETED


def _tuner(run_dir, objective="val_f1_macro", min_trials=2, warmup=1, pruning="median"):
    hm = CNNHyperModel((8, 8, 1), 10, space={"filters": [8, 16, 32, 64]}, tune_unlisted=False)
    search = SearchSettings(
        tuner="random",
        objective=objective,
        max_trials=20,
        pruning=pruning,
        pruning_warmup_epochs=warmup,
        pruning_min_trials=min_trials,
    )
    return make_tuner(search, hm, seed=0, run_dir=run_dir, epochs=10, printer=lambda line: None)


def _run(oracle, values, objective="val_f1_macro", finish=True):
    """A trial reporting ``values`` epoch by epoch (as the tuner does); the epoch it was stopped at, or None."""
    trial = oracle.create_trial("tuner0")
    stopped = None
    for step, value in enumerate(values):
        answer = oracle.update_trial(trial.trial_id, {objective: value}, step=step)
        if answer.status == STOPPED:
            stopped = step + 1
            break
    if finish:
        trial.status = COMPLETED
        oracle.end_trial(trial)
    return trial.trial_id, stopped


def test_median_rule_stops_a_clearly_worse_trial_and_never_the_first_min_trials(tmp_path):
    oracle = _tuner(tmp_path).oracle
    # the first min_trials=2 trials run to the end whatever they score: nothing to compare with yet
    assert _run(oracle, [0.1, 0.1, 0.1, 0.1])[1] is None
    assert _run(oracle, [0.6, 0.7, 0.8, 0.9])[1] is None
    assert _run(oracle, [0.7, 0.8, 0.85, 0.9])[1] is None  # at or above the median: runs on
    worse, stopped = _run(oracle, [0.2, 0.3, 0.4, 0.5])  # median of 0.1/0.6/0.7 is 0.6 after epoch 1
    assert stopped == 2  # epoch 1 is the warm-up
    assert oracle.pruned == {worse: 2}
    assert oracle.trials[worse].status == COMPLETED  # the answer said STOPPED; the trial itself is not changed
    # the pruned trial is not in later medians: at epoch 2 they are 0.1, 0.7, 0.8 -> 0.7 (with it, 0.5)
    assert _run(oracle, [0.5, 0.62, 0.9, 0.9])[1] == 2


def test_loss_objective_prunes_the_higher_loss(tmp_path):
    oracle = _tuner(tmp_path, objective="val_loss", min_trials=2, warmup=0).oracle
    for values in ([1.0, 0.5, 0.3], [0.9, 0.4, 0.2]):
        _run(oracle, values, "val_loss")
    assert _run(oracle, [3.0, 3.0, 3.0], "val_loss")[1] == 1
    assert _run(oracle, [0.5, 0.3, 0.1], "val_loss")[1] is None


def test_warmup_and_off(tmp_path):
    oracle = _tuner(tmp_path / "a", warmup=3).oracle
    for values in ([0.9] * 5, [0.9] * 5):
        _run(oracle, values)
    assert _run(oracle, [0.1] * 5)[1] == 4  # judged only after the 3 warm-up epochs
    off = _tuner(tmp_path / "b", pruning="none").oracle
    for values in ([0.9] * 5, [0.9] * 5, [0.1] * 5):
        assert _run(off, values)[1] is None


def test_only_trials_that_reached_the_epoch_count(tmp_path):
    """A trial that stopped at epoch 2 (early stopping) is not in the median at epoch 4."""
    oracle = _tuner(tmp_path, min_trials=2).oracle
    _run(oracle, [0.9, 0.95])
    _run(oracle, [0.5, 0.5, 0.5, 0.5])
    assert _run(oracle, [0.1, 0.1, 0.1, 0.1])[1] == 2  # at epoch 2 both count: median 0.7
    oracle2 = _tuner(tmp_path / "b", min_trials=2).oracle
    _run(oracle2, [0.9, 0.95])
    _run(oracle2, [0.5, 0.5, 0.5, 0.5])
    assert _run(oracle2, [0.8, 0.8, 0.1, 0.1])[1] is None  # at 3 and 4 only one finished trial reached them


def test_pruned_trials_survive_a_resume_and_show_in_trials_csv(tmp_path):
    tuner = _tuner(tmp_path)
    for values in ([0.8] * 3, [0.9] * 3):
        _run(tuner.oracle, values)
    pruned, _ = _run(tuner.oracle, [0.1] * 3)
    tuner.save()
    resumed = _tuner(tmp_path)  # keras-tuner reloads the oracle from tmp_path/tuner
    assert resumed.oracle.pruned == {pruned: 2}
    rows = {r["trial_id"]: r for r in resumed.trial_rows()}
    assert rows[pruned]["status"] == "PRUNED" and rows[pruned]["pruned_epoch"] == 2
    assert [r["status"] for tid, r in rows.items() if tid != pruned] == ["COMPLETED", "COMPLETED"]


def test_a_trial_handed_out_again_starts_a_fresh_history(tmp_path):
    """A trial cut off by a kill is run again from epoch 1: its old reports must not mix with the new ones."""
    tuner = _tuner(tmp_path)
    oracle = tuner.oracle
    trial = oracle.create_trial("tuner0")
    oracle.update_trial(trial.trial_id, {"val_f1_macro": 0.3}, step=0)
    tuner.save()
    again = _tuner(tmp_path).oracle.create_trial("tuner0")  # the resumed search hands it out again
    assert again.trial_id == trial.trial_id and not again.metrics.metrics


def test_the_time_budget_stops_drawing_trials_and_stops_one_training_past_it(tmp_path, monkeypatch):
    """search.max_seconds in the oracle: trials are timed from its own calls, on the plan's clock (moved here)."""
    from kerascnn import budget as budget_module
    from kerascnn.budget import TimeBudget

    now = [0.0]
    monkeypatch.setattr(budget_module, "now", lambda: now[0])
    plan = TimeBudget(100, started=0.0, refit_runs=1, refit_epochs=4, reserve=10)
    tuner = make_tuner(
        SearchSettings(tuner="random", max_trials=20, max_seconds=100),
        CNNHyperModel((8, 8, 1), 10, space={"filters": [8, 16, 32, 64]}, tune_unlisted=False),
        seed=0,
        run_dir=tmp_path,
        epochs=4,
        printer=lambda line: None,
        budget=plan,
    )
    oracle = tuner.oracle

    def trial(epochs=4):
        t = oracle.create_trial("tuner0")
        if t.status == STOPPED:
            return None
        for step in range(epochs):
            now[0] += 6 if step == 0 else 5  # 1 s of start-up, then 5 s an epoch
            if oracle.update_trial(t.trial_id, {"val_f1_macro": 0.5}, step=step).status == STOPPED:
                break
        t.status = COMPLETED
        oracle.end_trial(t)
        return t.trial_id

    first = trial()  # 0 -> 21 s
    assert plan.trial_seconds == [21] and plan.seconds_per_epoch() == 5
    # each next trial needs 21 s + a refit (4 epochs × 5 s + 1 s) + 10 s reserve = 52 s: from 21 and 42, not 63
    assert trial() is not None and trial() is not None and now[0] == 63
    assert trial() is None and oracle.stopped_by_budget
    assert oracle.cut_by_budget == {} and first not in oracle.pruned
    # a trial that was let in but runs long stops at the first epoch that leaves only the reserve
    now[0] = 70.0
    oracle.stopped_by_budget = False
    plan.trial_seconds[:] = [1.0]  # a misleading average lets it start
    plan.startup_seconds[:], plan.epoch_seconds[:] = [0.0], [0.1]
    late = trial(epochs=10)
    assert oracle.cut_by_budget == {late: 4} and oracle.pruned[late] == 4  # 70 + 6 + 5 + 5 + 5 = 91 > 90
    rows = {r["trial_id"]: r for r in tuner.trial_rows()}
    assert rows[late]["status"] == "PRUNED"
    assert rows[late]["message"] == "stopped at epoch 4: search.max_seconds ran out"
    # it survives a resume, like the pruned trials
    again = type(oracle)(objective=kt.Objective("val_f1_macro", "max"), max_trials=20)
    again.set_state(oracle.get_state())
    assert again.cut_by_budget == {late: 4}
