"""Transfer learning: a pretrained backbone, a new head, freezing, fine-tuning.

The Keras recipe (keras.io "Transfer learning & fine-tuning"), packaged:

1. :func:`load_backbone` - a feature extractor from a registry model, a
   keras.applications model or your own trained model, with weights from a
   file or model already on disk (nothing is downloaded);
2. :func:`transfer_model` - the backbone under a new head for
   ``num_classes``; freeze all, none or the first N layers (batch-norm
   layers always stay frozen, so in inference mode);
3. :func:`train_head` then :func:`fine_tune` - train the head, then unfreeze
   and train everything (or the last N layers) at a low learning rate.
"""

from __future__ import annotations

import keras

from kerascnn.architectures.transfer import POOLINGS, freeze, load_backbone, transfer_model
from kerascnn.memory import released_trial_graphs
from kerascnn.validation import invalid, is_int

__all__ = ["POOLINGS", "fine_tune", "freeze", "load_backbone", "train_head", "transfer_model"]


def _backbone_of(model: keras.Model) -> keras.Model:
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            return layer
    raise ValueError(f"Invalid `model`: {model.name!r} has no nested backbone; build it with transfer_model()")


def _fit(model, x, y, *, learning_rate, epochs, batch_size, loss, validation_data, verbose, **fit_kwargs):
    loss = loss or ("sparse_categorical_crossentropy" if model.output_shape[-1] > 1 else "binary_crossentropy")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])
    with released_trial_graphs():  # repeated fine-tuning runs in one process keep memory flat
        return model.fit(
            x, y, epochs=epochs, batch_size=batch_size, validation_data=validation_data, verbose=verbose, **fit_kwargs
        )


def train_head(
    model,
    x,
    y=None,
    *,
    epochs: int = 10,
    learning_rate: float = 1e-3,
    batch_size: int = 32,
    loss=None,
    validation_data=None,
    verbose=0,
    **fit_kwargs,
):
    """Train with the backbone as frozen as :func:`transfer_model` left it; returns the History."""
    return _fit(
        model,
        x,
        y,
        learning_rate=learning_rate,
        epochs=epochs,
        batch_size=batch_size,
        loss=loss,
        validation_data=validation_data,
        verbose=verbose,
        **fit_kwargs,
    )


def fine_tune(
    model,
    x,
    y=None,
    *,
    unfreeze="all",
    epochs: int = 5,
    learning_rate: float = 1e-5,
    batch_size: int = 32,
    loss=None,
    validation_data=None,
    verbose=0,
    **fit_kwargs,
):
    """Unfreeze the backbone (``"all"`` or its last ``N`` layers) and train at a low learning rate.

    Batch-norm layers stay frozen, hence in inference mode (see
    :func:`freeze`): fine-tuning does not wreck the statistics learned on the
    source data.
    """
    backbone = _backbone_of(model)
    if unfreeze == "all":
        freeze(backbone, "none")
    elif is_int(unfreeze) and 0 < unfreeze <= len(backbone.layers):
        freeze(backbone, len(backbone.layers) - unfreeze)
    else:
        raise invalid("unfreeze", unfreeze, f"'all' or a number of last layers from 1 to {len(backbone.layers)}")
    return train_head(  # the same compile and fit, now with the unfrozen layers trainable
        model,
        x,
        y,
        learning_rate=learning_rate,
        epochs=epochs,
        batch_size=batch_size,
        loss=loss,
        validation_data=validation_data,
        verbose=verbose,
        **fit_kwargs,
    )
