"""A trial's TensorBoard life (kerascnn/search/trial_log.py): one folder and HParams session per fit, its facts."""

import numpy as np
import pytest

from kerascnn.search.trial_log import TrialLog


def _events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for path in folder.rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(path.parent), size_guidance={"tensors": 0})
        accumulator.Reload()
        tags |= set(accumulator.Tags()["tensors"])
    return tags


@pytest.mark.backend
def test_each_fit_of_a_trial_logs_into_its_own_execution_folder_with_a_session(tmp_path):
    log = TrialLog(tmp_path / "tb", "07", {"filters": 8, "tuner/epochs": 3})
    for execution in range(2):
        callbacks = log.begin_fit()
        assert len(callbacks) == 1 and str(log.log_dir).endswith(f"07/execution{execution}")
        log.end_fit(
            {"params": 10, "seconds": 1.0},
            y_true=np.array([0, 1, 1]),
            y_pred=np.array([0, 1, 0]),
            class_names=["a", "b"],
            step=0,
        )
    assert log.facts == {"params": 10, "seconds": 1.0}
    for execution in range(2):
        tags = _events(tmp_path / "tb" / "07" / f"execution{execution}")
        assert {"_hparams_/session_start_info", "_hparams_/session_end_info"} <= tags
        assert {"confusion_matrix", "trial_summary"} <= tags


@pytest.mark.backend
def test_a_trial_that_fails_before_training_still_has_a_failed_session_and_a_pruned_one_its_epoch(tmp_path):
    failed = TrialLog(tmp_path / "tb", "1", {"filters": 8})
    failed.failed(ValueError("no such candidate"))
    assert {"_hparams_/session_start_info", "_hparams_/session_end_info", "failure"} <= _events(tmp_path / "tb" / "1")
    pruned = TrialLog(tmp_path / "tb", "2", {"filters": 8})
    pruned.begin_fit()
    pruned.pruned(3)
    assert {"pruned_epoch", "pruned"} <= _events(tmp_path / "tb" / "2")
