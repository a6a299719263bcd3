"""Averaging ensembles: several trained classifiers as one Keras model.

The top trials of a search (``search.ensemble: K``) become one ``.keras``
file whose output is the mean of the members' class probabilities, so it
loads, predicts and is scored like any single model (plain
``keras.saving.load_model`` after ``import kerascnn``).
"""

from __future__ import annotations

import keras


def average_model(models, names=None, name: str = "ensemble"):
    """One functional model: a shared input, each member applied to it, their outputs averaged.

    Args:
        models: trained Keras models with the same input shape and output width.
        names: a unique name per member (default ``member_0``, ...); each
            member becomes a nested model of that name, so members built
            separately may reuse layer names.
    """
    models = list(models)
    if len(models) < 2:
        raise ValueError(f"An ensemble needs at least 2 models; received {len(models)}")
    names = list(names) if names is not None else [f"member_{i}" for i in range(len(models))]
    shapes = {tuple(m.input_shape[1:]) for m in models}
    widths = {m.output_shape[-1] for m in models}
    if len(shapes) != 1 or len(widths) != 1:
        raise ValueError(
            f"Ensemble members must share one input shape and output width; received input shapes "
            f"{sorted(shapes)} and output widths {sorted(widths)}"
        )
    inputs = keras.Input(shapes.pop(), name="image")
    outputs = [keras.Model(m.inputs[0], m.outputs[0], name=n)(inputs) for m, n in zip(models, names)]
    return keras.Model(inputs, keras.layers.Average(name="mean_probabilities")(outputs), name=name)
