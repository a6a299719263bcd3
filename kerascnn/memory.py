"""Keep a long search's memory flat: what a finished trial must not leave behind.

Keras and keras-tuner already clear the Keras session before each trial. On
the TensorFlow backend two things outlive it anyway:

- Variables created inside a traced function (a metric given as a string,
  optimizer slots built lazily) leave their initialisation functions in
  TensorFlow's eager context. :meth:`CNNHyperModel._compile` creates them
  eagerly instead.
- Keras' training step sums gradients with ``replica_context.all_reduce``,
  a ``tf.custom_gradient``. While tracing, that registers a gradient function
  in TensorFlow's process-wide gradient registry (``CustomGradient-<n>``),
  and its closure holds the traced training graph: every trial's graph
  stays in memory for the rest of the process (tensorflow#61791,
  tf-keras#286). :func:`released_trial_graphs` drops the entries a trial
  added once it is over. ``CNNHyperModel.fit`` trains inside it, whichever
  tuner calls it; wrap the ``fit`` of your own training loops in it too.

``tools/bench.py memory`` measures the result. Not released: with XLA on,
TensorFlow's compiled-executable cache keeps every trial's compilation (it has
no eviction; tensorflow#64170). README's "Scaling out" says what to do.
"""

from __future__ import annotations

from contextlib import contextmanager

from kerascnn import _compat

_PREFIX = "CustomGradient-"


def _gradient_registry() -> dict | None:
    """TensorFlow's gradient-function registry, or None (another backend, or a TF that moved it)."""
    return _compat.tf_gradient_registry()


@contextmanager
def released_trial_graphs():
    """Run one trial; afterwards forget the custom-gradient functions it registered.

    Safe for models that live on: a registered gradient function is only
    looked up while a training step is being traced, and a retrace registers
    a fresh one. Entries that existed before the trial are left alone.
    """
    registry = _gradient_registry()
    before = set(registry) if registry is not None else set()
    try:
        yield
    finally:
        if registry is not None:
            for name in [k for k in registry if k.startswith(_PREFIX) and k not in before]:
                registry.pop(name, None)
