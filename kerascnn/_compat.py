"""The one door to private APIs of keras-tuner, Keras and TensorFlow.

Each entry says what it touches and the versions it was checked on;
``tests/test_compat.py`` fails loudly when an upgrade moves what it relies on.
(Older uses elsewhere in the package are being moved here: see issue #13.)
"""

from __future__ import annotations

import json
import os

#: keras-tuner releases the entries below were checked on.
KERAS_TUNER_CHECKED = ("1.4.7", "1.4.8")


def _write_json(path: str, state) -> None:
    from kerascnn.rundir import atomic_write

    atomic_write(path, json.dumps(state))


class AtomicOracleState:
    """Mixin for a keras-tuner Oracle: ``oracle.json`` and each ``trial.json`` are written whole or not at all.

    keras-tuner (checked: :data:`KERAS_TUNER_CHECKED`) writes both with
    ``open(path, "w")`` (``Oracle.save`` -> ``utils.save_json``, and
    ``Oracle._save_trial``), so a search killed mid-write left a truncated
    file that stopped every resume with "Expecting value: line 1 column 1".
    Private hooks: ``Oracle._get_oracle_fname``, ``Oracle._get_trial_dir``,
    ``Oracle._save_trial``.
    """

    def save(self):
        _write_json(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        _write_json(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"), trial.get_state())


class AtomicTunerState:
    """Mixin for a keras-tuner Tuner: ``tuner0.json`` (and the oracle's state) written atomically.

    Private hooks (checked: :data:`KERAS_TUNER_CHECKED`): ``BaseTuner._is_worker``,
    ``BaseTuner._get_tuner_fname``; mirrors ``BaseTuner.save``.
    """

    def save(self):
        if not self._is_worker():  # a worker's oracle is the chief's, reached over gRPC
            self.oracle.save()
        _write_json(self._get_tuner_fname(), self.get_state())


def quiet_trial_tracebacks() -> None:
    """Stop keras-tuner printing a full traceback for each failed trial (the kit records the reason).

    ``keras_tuner.src.config.DEBUG`` (checked: :data:`KERAS_TUNER_CHECKED`).
    """
    from keras_tuner.src import config as keras_tuner_config

    keras_tuner_config.DEBUG = False
