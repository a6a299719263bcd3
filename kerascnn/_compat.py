"""The one door to private APIs of keras-tuner, Keras, TensorBoard and TensorFlow.

Each entry says what it touches and the versions it was checked on;
``tests/test_compat.py`` exercises each one, so an upgrade that moves what it
relies on fails there, by name, rather than somewhere in a search.
"""

from __future__ import annotations

import contextlib
import json
import os

#: Releases the entries below were checked on.
KERAS_TUNER_CHECKED = ("1.4.7", "1.4.8")
KERAS_CHECKED = ("3.15.1",)
TENSORFLOW_CHECKED = ("2.20.0", "2.21.0")
TENSORBOARD_CHECKED = ("2.20.0", "2.21.0")


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

    Inside :meth:`unsaved` (the tuner's per-epoch ``update_trial`` reports)
    nothing is written: ``Oracle.end_trial`` writes the trial whole, and a
    trial cut off before that is run again from its first epoch anyway.
    """

    _unsaved = False

    def save(self):
        _write_json(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        if not self._unsaved:
            _write_json(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"), trial.get_state())

    @contextlib.contextmanager
    def unsaved(self):
        self._unsaved = True
        try:
            yield
        finally:
            self._unsaved = False


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


def oracle_servicer():
    """keras-tuner's gRPC oracle servicer class and the function that adds one to a ``grpc.server``.

    ``keras_tuner.src.distribute.oracle_chief.OracleServicer`` and
    ``keras_tuner.src.protos.get_service_grpc().add_OracleServicer_to_server``
    (checked: :data:`KERAS_TUNER_CHECKED`); the chief subclasses the servicer
    to watch its workers (:func:`kerascnn.search.distributed.serve`).
    """
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    return OracleServicer, protos.get_service_grpc().add_OracleServicer_to_server


def is_tuner_entry(name: str) -> bool:
    """Whether a hyperparameter is keras-tuner's own bookkeeping, not a knob.

    keras-tuner names those ``tuner/...`` (Hyperband's ``tuner/epochs``,
    ``tuner/trial_id``...; checked: :data:`KERAS_TUNER_CHECKED`).
    """
    return name.startswith("tuner/")


def searched_values(values: dict) -> dict:
    """A trial's hyperparameter values without keras-tuner's bookkeeping entries."""
    return {k: v for k, v in values.items() if not is_tuner_entry(k)}


@contextlib.contextmanager
def replaced_keras_get_file(replacement):
    """Inside, Keras' ``get_file`` (which keras.applications call for their weights) is ``replacement``.

    ``keras.src.utils.file_utils.get_file`` (checked: :data:`KERAS_CHECKED`).
    keras.applications name their cached weight file inside each module
    (depending on ``include_top``, ``alpha``, the input size...), and no
    public API tells that name, so the kit answers the call instead: the
    cached file, or an error saying where to put it, never a download.
    """
    from keras.src.utils import file_utils

    real = file_utils.get_file
    file_utils.get_file = replacement
    try:
        yield
    finally:
        file_utils.get_file = real


def tf_gradient_registry() -> dict | None:
    """TensorFlow's process-wide gradient-function registry (a dict), or None where it is not there.

    ``tensorflow.python.framework.ops._gradient_registry._registry``
    (checked: :data:`TENSORFLOW_CHECKED`); see :mod:`kerascnn.memory` for why
    the kit prunes it.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else None


# ----- keras-tuner oracle internals: redrawing a rejected candidate (search/tuner.py RejectingOracle) -----
# keras-tuner has no public way to say "this candidate is taken, draw another": each oracle keeps its own
# bookkeeping. Checked: KERAS_TUNER_CHECKED.


def mark_tried(oracle, values: dict) -> None:
    """Never hand ``values`` out again (``Oracle._tried_so_far``, ``Oracle._compute_values_hash``)."""
    oracle._tried_so_far.add(oracle._compute_values_hash(values))


def already_tried(oracle, values: dict) -> bool:
    """Whether ``values`` were handed out or rejected before (``Oracle._duplicate``)."""
    return oracle._duplicate(values)


def forget_hyperband_slot(oracle, trial_id: str) -> None:
    """Free the first-round bracket slot a rejected candidate took (``HyperbandOracle._brackets``)."""
    for bracket in oracle._brackets:
        bracket["rounds"][0] = [t for t in bracket["rounds"][0] if t["id"] != trial_id]


def next_grid_values(oracle, values: dict) -> dict | None:
    """The grid's next combination after ``values`` (``GridSearchOracle._get_next_combination``)."""
    return oracle._get_next_combination(values)


def random_values(oracle) -> dict:
    """A ``populate_space`` answer with a random draw from a Bayesian oracle's space
    (``BayesianOptimizationOracle._random_populate_space``): the GP would propose the rejected point again."""
    return oracle._random_populate_space()


def load_trial_model(tuner, trial):
    """A trial's model from its checkpoint, as ``Tuner.load_model`` loads it, without ``Tuner._try_build``'s
    ``keras.backend.clear_session()`` and ``gc.collect()``: about 0.5 s on a TensorFlow heap, paid for each
    model the results load, with no previous trial's graph left to free once the search is over.

    Uses ``Tuner._build_hypermodel``, ``_get_build_config_fname``, ``_get_checkpoint_fname`` and
    ``keras_tuner.src.engine.tuner.maybe_distribute``. Checked: KERAS_TUNER_CHECKED.
    """
    from keras_tuner.src import utils
    from keras_tuner.src.backend import config
    from keras_tuner.src.engine.tuner import maybe_distribute

    model = tuner._build_hypermodel(trial.hyperparameters)
    if config.multi_backend() and not model.built:
        model.build_from_config(utils.load_json(tuner._get_build_config_fname(trial.trial_id)))
    with maybe_distribute(tuner.distribution_strategy):
        model.load_weights(tuner._get_checkpoint_fname(trial.trial_id))
    return model


class HyperbandOnOracle:
    """Mixin before ``keras_tuner.Hyperband``: the tuner runs on the oracle it is given.

    ``Hyperband.__init__`` always makes its own ``HyperbandOracle`` from its
    arguments; the kit's oracle adds candidate checks, pruning and atomic
    state, so the tuner is initialised as the ``Tuner`` it derives from
    (checked: :data:`KERAS_TUNER_CHECKED`: ``Hyperband`` sets nothing else in
    ``__init__``; its ``run_trial`` and ``_build_hypermodel`` read only the
    trial's hyperparameters).
    """

    def __init__(self, oracle, hypermodel, **kwargs):
        import keras_tuner as kt

        kt.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)
