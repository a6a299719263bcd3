"""Hyperparameter search over the registry's architectures and every layer variant.

- :mod:`~kerascnn.search.space`: the knobs and their default spaces;
- :mod:`~kerascnn.search.hypermodel`: ``CNNHyperModel`` (a keras-tuner HyperModel);
- :mod:`~kerascnn.search.tuner`: keras-tuner's tuners with candidate rejection and run records, and
  ``RandomSearch``, ``BayesianOptimization``, ``Hyperband``, ``GridSearch``: drop-ins for keras-tuner's;
- :mod:`~kerascnn.search.run`: ``run_search``, an experiment in, a run directory out.
"""

from kerascnn.search.hypermodel import CNNHyperModel
from kerascnn.search.run import run_search
from kerascnn.search.space import KNOBS
from kerascnn.search.tuner import BayesianOptimization, GridSearch, Hyperband, RandomSearch, make_tuner

__all__ = [
    "BayesianOptimization",
    "CNNHyperModel",
    "GridSearch",
    "Hyperband",
    "KNOBS",
    "RandomSearch",
    "make_tuner",
    "run_search",
]
