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

from kerascnn.architectures import create_model, list_models
from kerascnn.architectures._common import all_layers
from kerascnn.architectures.weights import keras_application
from kerascnn.layers.build import apply_specs
from kerascnn.layers.heads import POOLINGS as HEAD_POOLINGS
from kerascnn.layers.heads import head_specs
from kerascnn.memory import released_trial_graphs
from kerascnn.validation import check_choice, check_int, did_you_mean, invalid, is_int

#: The classifier's pooling: the heads' global poolings, or flatten.
POOLINGS = (*(p for p in HEAD_POOLINGS if p), "flatten")


def load_backbone(source, *, input_shape=None, weights=None, cut: str | None = None, **kwargs) -> keras.Model:
    """A feature extractor: the network without its classifier.

    Args:
        source: a registry name (``"resnet18"``), a keras.applications
            function (``"keras.applications.ResNet50"`` or ``"ResNet50"``), or
            a ``keras.Model`` (e.g. one you trained and loaded).
        input_shape: the input; defaults to the model's reference input.
        weights: for names: ``None`` (random), a ``keras.Model`` or file to
            copy from (registry names; see ``create_model``), or
            ``"imagenet"`` / a weights file (keras.applications; read from
            the Keras cache, never downloaded).
        cut: for a ``keras.Model`` source, the last layer to keep; default:
            the layer feeding ``predictions`` (or the whole model if none).
        **kwargs: more builder arguments for registry names.
    """
    if isinstance(source, keras.Model):
        if weights is not None or kwargs:
            raise invalid("weights", weights, "None when the source is already a keras.Model")
        names = [layer.name for layer in source.layers]
        if cut is None:
            if "predictions" not in names:
                return source
            cut = names[names.index("predictions") - 1]
        if cut not in names:
            raise invalid("cut", cut, f"the name of a layer of {source.name!r}{did_you_mean(cut, names)}")
        return keras.Model(source.inputs, source.get_layer(cut).output, name=f"{source.name}_backbone")
    if not isinstance(source, str):
        raise invalid("source", source, "a registry name, a keras.applications name or a keras.Model")
    if cut is not None:
        raise invalid("cut", cut, "None unless the source is a keras.Model")
    app = source.removeprefix("keras.applications.")
    if source in list_models():
        return create_model(source, input_shape=input_shape, include_top=False, weights=weights, **kwargs)
    if hasattr(keras.applications, app) and app[0].isupper():
        return keras_application(app, include_top=False, weights=weights, input_shape=input_shape, **kwargs)
    raise invalid(
        "source",
        source,
        f"a registry model{did_you_mean(source, list_models())} ({', '.join(list_models())}), a "
        "keras.applications function such as 'keras.applications.ResNet50', or a keras.Model",
    )


def freeze(backbone: keras.Model, layers="all") -> keras.Model:
    """Freeze ``"all"`` of ``backbone``, ``"none"``, or its first ``N`` layers.

    Batch-norm layers stay frozen whatever ``layers`` says: in Keras 3 a
    non-trainable ``BatchNormalization`` runs in inference mode, so
    fine-tuning keeps the statistics learned on the source data (Keras'
    transfer-learning advice; the ``training=False`` call alone is
    overridden when the outer model trains).
    """
    if layers == "all":
        backbone.trainable = False
        return backbone
    if layers == "none":
        layers = 0
    if not is_int(layers) or not 0 <= layers <= len(backbone.layers):
        raise invalid("freeze", layers, f"'all', 'none' or a number of first layers from 0 to {len(backbone.layers)}")
    backbone.trainable = True
    for i, layer in enumerate(backbone.layers):
        layer.trainable = i >= layers
    for layer in all_layers(backbone):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    return backbone


def transfer_model(
    backbone: keras.Model,
    num_classes: int,
    *,
    freeze_layers="all",
    pooling="avg",
    dropout: float = 0.0,
    dense_layers=(),
    classifier_activation="softmax",
    name: str = "transfer",
) -> keras.Model:
    """``backbone`` (in inference mode) under a new classifier for ``num_classes``.

    Args:
        freeze_layers: ``"all"`` (feature extraction), ``"none"``, or the
            number of first backbone layers to freeze.
        pooling: how a feature map becomes a vector: ``avg``, ``max`` or
            ``flatten`` (ignored when the backbone already outputs vectors).
        dropout, dense_layers: the head before the classifier (dicts of
            :func:`~kerascnn.layers.heads.dense_block_specs` arguments).
    """
    check_int("num_classes", num_classes)
    check_choice("pooling", pooling, POOLINGS)
    freeze(backbone, freeze_layers)
    inputs = keras.Input(shape=backbone.input_shape[1:], name="input")
    # training=False: batch norm in inference mode (with frozen BN layers, see freeze())
    x = backbone(inputs, training=False)
    if len(x.shape) == 4 and pooling != "flatten":
        pool = keras.layers.GlobalAveragePooling2D if pooling == "avg" else keras.layers.GlobalMaxPooling2D
        x = pool(name=f"{pooling}_pool")(x)
    elif len(x.shape) > 2:
        x = keras.layers.Flatten(name="flatten")(x)
    specs = head_specs(
        include_top=True,
        num_classes=num_classes,
        pooling=None,
        dropout=dropout,
        classifier_activation=classifier_activation,
        dense_layers=list(dense_layers),
    )
    outputs = apply_specs(x, specs[1:])  # the features are already a vector: skip the head's flatten
    return keras.Model(inputs, outputs, name=name)


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
