"""A trial's TensorBoard life and facts, in one place: :class:`TrialLog`.

The kit's tuner opens one per trial (:meth:`~kerascnn.search.tuner.RunRecorder.run_trial`)
and hands it to the hypermodel's ``fit`` (keras-tuner passes ``fit``'s keyword
arguments through). Each fit of the trial (one per execution) logs into
``tb/<trial>/execution<n>`` with an HParams session; the last epoch's
confusion matrix and summary follow; the trial ends as a success, a failure
(with its reason) or pruned. Its facts (seconds, parameters, batch size, the
per-epoch history) go to the trial's ``kerascnn.json``
(:data:`kerascnn.results.files.TRIAL_FACTS`).
"""

from __future__ import annotations

from pathlib import Path

from kerascnn._compat import searched_values
from kerascnn.evaluation import tensorboard as tb


class TrialLog:
    """One trial's TensorBoard folders and HParams session, and the facts its fits report."""

    def __init__(self, tb_dir: str | Path, trial_id: str, hyperparameters: dict, profile_batch=0):
        self.trial_id, self.values = str(trial_id), searched_values(hyperparameters)
        self.folder, self.profile_batch = Path(tb_dir) / self.trial_id, profile_batch
        self.executions = 0
        self.facts: dict = {}

    @property
    def log_dir(self) -> Path:
        """The current (or, before any fit, the first) execution's folder."""
        return self.folder / f"execution{max(0, self.executions - 1)}"

    def begin_fit(self) -> list:
        """A fit of this trial starts: its session opens; returns the fit's TensorBoard callback."""
        self.executions += 1
        tb.start_session(self.log_dir, self.values, self.trial_id)
        return [tb.tensorboard_callback(self.log_dir, profile_batch=self.profile_batch)]

    def end_fit(self, facts: dict, *, y_true, y_pred, class_names, step: int) -> None:
        """The fit ended: its facts, the last epoch's confusion matrix and summary, the session a success."""
        self.facts = dict(facts)
        if y_pred is not None:
            tb.write_trial_summaries(
                self.log_dir,
                y_true=y_true,
                y_pred=y_pred,
                class_names=class_names,
                hyperparameters=self.values,
                params=facts["params"],
                step=step,
            )
        tb.end_session(self.log_dir, success=True)

    def failed(self, err: BaseException) -> None:
        """The trial failed: its session (opened now if no fit began) ends as a failure, with the reason."""
        tb.mark_trial_failed(self.log_dir, self.values, self.trial_id, f"{type(err).__name__}: {err}")

    def pruned(self, epoch: int) -> None:
        """The median rule stopped it after ``epoch`` (1-based)."""
        tb.mark_trial_pruned(self.log_dir, epoch)
