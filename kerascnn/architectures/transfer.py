"""Transfer learning as a registered architecture: a pretrained backbone under a new head.

:func:`transfer` is what an experiment file names (``model.architecture:
transfer``): the backbone (a registry model, a keras.applications model, or
a saved ``.keras`` / ``.h5`` model such as a previous run's
``final_model.keras``), its weights (``imagenet`` from the Keras cache, or a
file; nothing is downloaded), the inputs resized and preprocessed as those
weights expect (:class:`~kerascnn.layers.preprocessing.BackbonePreprocessing`),
and a new head. The model is built with the backbone frozen; how much of it
the second phase trains (``trainable``) and at which rate
(``fine_tune_learning_rate``) are read by the search's two-phase fit
(:func:`kerascnn.search.training.fit_phases`): the head first, then the
unfrozen layers with batch norm kept in inference mode.

:func:`load_backbone`, :func:`freeze` and :func:`transfer_model` are the
building blocks, also public in :mod:`kerascnn.transfer`.
"""

from __future__ import annotations

import os

import keras

from kerascnn import saving
from kerascnn.architectures._common import ModelPlan, all_layers, check_input_shape, classifier_start, planned
from kerascnn.architectures.registry import create_model, list_models, model_info, plan_model, register_model
from kerascnn.architectures.weights import TORCH_SUFFIXES, keras_application
from kerascnn.layers.build import apply_specs, model_input
from kerascnn.layers.heads import POOLINGS as HEAD_POOLINGS
from kerascnn.layers.heads import head_specs
from kerascnn.layers.preprocessing import MODES, BackbonePreprocessing
from kerascnn.validation import check_choice, check_int, did_you_mean, invalid, is_int

#: The classifier's pooling: the heads' global poolings, or flatten.
POOLINGS = (*(p for p in HEAD_POOLINGS if p), "flatten")
#: The backbone's name inside a transfer model (what the two-phase fit unfreezes).
BACKBONE = "backbone"
#: ``trainable``: what the second phase trains.
TRAINABLE_RULE = "'frozen', 'all' or 'last_N' (the backbone's last N layers, N >= 1)"
#: keras.applications' preprocessing mode of each family (``preprocess_input``); ``none``: inside the model.
_KA_MODES = {
    "ResNet50V2": "tf",
    "ResNet101V2": "tf",
    "ResNet152V2": "tf",
    "ResNet50": "caffe",
    "ResNet101": "caffe",
    "ResNet152": "caffe",
    "VGG16": "caffe",
    "VGG19": "caffe",
    "DenseNet": "torch",
    "MobileNetV3": "none",
    "MobileNet": "tf",
    "Inception": "tf",
    "Xception": "tf",
    "NASNet": "tf",
}


def _file_backbone(source: str) -> bool:
    return isinstance(source, (str, os.PathLike)) and os.fspath(source).endswith((".keras", ".h5"))


def load_backbone(source, *, input_shape=None, weights=None, cut: str | None = None, **kwargs) -> keras.Model:
    """A feature extractor: the network without its classifier.

    Args:
        source: a registry name (``"resnet18"``), a keras.applications
            function (``"keras.applications.ResNet50"`` or ``"ResNet50"``), a
            ``keras.Model`` (e.g. one you trained and loaded) or the path of a
            saved ``.keras`` / ``.h5`` model.
        input_shape: the input; defaults to the model's reference input.
        weights: for names: ``None`` (random), a ``keras.Model`` or file to
            copy from (registry names; see ``create_model``), or
            ``"imagenet"`` / a weights file (keras.applications; read from
            the Keras cache, never downloaded).
        cut: for a model or a saved model, the last layer to keep; default:
            the layer feeding the classifier (``predictions``; see
            :func:`~kerascnn.architectures._common.classifier_start`), or
            the whole model if it has none.
        **kwargs: more builder arguments for registry names.
    """
    if _file_backbone(source):
        source = saving.load_model(source, what="`backbone`")
    if isinstance(source, keras.Model):
        if weights is not None or kwargs:
            raise invalid("weights", weights, "None when the source is already a keras.Model")
        names = [layer.name for layer in source.layers]
        if cut is None:
            head = classifier_start(source)
            if head is None:
                return source
            cut = names[names.index(head) - 1]
        if cut not in names:
            raise invalid("cut", cut, f"the name of a layer of {source.name!r}{did_you_mean(cut, names)}")
        return keras.Model(source.inputs, source.get_layer(cut).output, name=f"{source.name}_backbone")
    if not isinstance(source, str):
        raise invalid("source", source, "a registry name, a keras.applications name, a .keras file or a keras.Model")
    if cut is not None:
        raise invalid("cut", cut, "None unless the source is a keras.Model or a saved model")
    app = source.removeprefix("keras.applications.")
    if source in list_models():
        return create_model(source, input_shape=input_shape, include_top=False, weights=weights, **kwargs)
    if hasattr(keras.applications, app) and app[0].isupper():
        return keras_application(app, include_top=False, weights=weights, input_shape=input_shape, **kwargs)
    raise invalid(
        "source",
        source,
        f"a registry model{did_you_mean(source, list_models())} ({', '.join(list_models())}), a "
        "keras.applications function such as 'keras.applications.ResNet50', a .keras file, or a keras.Model",
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


def parse_trainable(value) -> int | None:
    """``trainable`` as the number of the backbone's last layers trained: None for ``all``, 0 for ``frozen``."""
    if value == "all":
        return None
    if value == "frozen":
        return 0
    if isinstance(value, str) and value.startswith("last_") and value[5:].isdigit() and int(value[5:]) >= 1:
        return int(value[5:])
    raise invalid("trainable", value, TRAINABLE_RULE)


def unfreeze(model: keras.Model, trainable) -> keras.Model:
    """Set the backbone inside a transfer model (at any depth) to ``trainable``; batch norm stays frozen."""
    backbone = next((layer for layer in all_layers(model) if layer.name == BACKBONE), None)
    if backbone is None:
        raise ValueError(f"Invalid `model`: {model.name!r} holds no layer named {BACKBONE!r}")
    last = parse_trainable(trainable)
    if last == 0:
        return freeze(backbone, "all")
    return freeze(backbone, 0 if last is None else max(0, len(backbone.layers) - last))


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
    inputs=None,
) -> keras.Model:
    """``backbone`` (in inference mode) under a new classifier for ``num_classes``.

    Args:
        freeze_layers: ``"all"`` (feature extraction), ``"none"``, or the
            number of first backbone layers to freeze.
        pooling: how a feature map becomes a vector: ``avg``, ``max`` or
            ``flatten`` (ignored when the backbone already outputs vectors).
        dropout, dense_layers: the head before the classifier (dicts of
            :func:`~kerascnn.layers.heads.dense_block_specs` arguments).
        inputs: ``(model input, tensor fed to the backbone)``; default: a new
            input of the backbone's shape, fed to it as it is.
    """
    check_int("num_classes", num_classes)
    check_choice("pooling", pooling, POOLINGS)
    freeze(backbone, freeze_layers)
    if inputs is None:
        inputs = (keras.Input(shape=backbone.input_shape[1:], name="input"),) * 2
    # training=False: batch norm in inference mode (with frozen BN layers, see freeze())
    x = backbone(inputs[1], training=False)
    if len(x.shape) == 4 and pooling != "flatten":
        x = _global_pool(x, pooling)
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
    return keras.Model(inputs[0], outputs, name=name)


def _global_pool(x, pooling: str):
    """A feature map to a vector: global ``avg`` or ``max`` pooling."""
    pool = keras.layers.GlobalAveragePooling2D if pooling == "avg" else keras.layers.GlobalMaxPooling2D
    return pool(name=f"{pooling}_pool")(x)


def preprocessing_mode(backbone, weights) -> str:
    """The preprocessing ``weights`` of ``backbone`` expect (``preprocessing: auto``).

    ImageNet weights of keras.applications (or of a registry model's
    keras.applications twin): that family's ``preprocess_input`` mode;
    torchvision's (a ``.pth`` / ``.safetensors`` file): ``torch``; anything
    else (random weights, a saved kit model trained on scaled inputs): ``none``.
    """
    if weights is None or _file_backbone(backbone):
        return "none"
    if isinstance(weights, str) and weights.endswith(TORCH_SUFFIXES):
        return "torch"
    app = backbone.removeprefix("keras.applications.")
    if backbone in list_models():
        twin = model_info(backbone).keras_twin
        if twin is None:  # torchvision's ImageNet file ("imagenet" for resnet18/34)
            return "torch" if weights == "imagenet" else "none"
        app = twin
    if weights != "imagenet":
        return "none"
    return next((mode for prefix, mode in _KA_MODES.items() if app.startswith(prefix)), "none")


def check_backbone(backbone="resnet18", backbone_weights=None) -> None:
    """``backbone`` names something that exists, with weights it can take; raises ``ValueError`` naming the key.

    Cheap (no model is built or loaded): the registry runs it on an
    experiment's ``model.params`` before any data are read.
    """
    if _file_backbone(backbone):
        if not os.path.isfile(backbone):
            raise FileNotFoundError(f"Invalid `backbone`: no such file {os.fspath(backbone)!r}")
        if backbone_weights is not None:
            raise invalid(
                "backbone_weights", backbone_weights, "null when the backbone is a saved model (it has its own)"
            )
        return
    app = backbone.removeprefix("keras.applications.") if isinstance(backbone, str) else None
    if not (backbone in list_models() or (app and hasattr(keras.applications, app) and app[0].isupper())):
        raise invalid(
            "backbone",
            backbone,
            f"a registry model{did_you_mean(str(backbone), list_models())}, a keras.applications name such "
            "as 'keras.applications.MobileNetV2', or a saved .keras / .h5 model",
        )


def _backbone_input(backbone, image_size, input_shape) -> tuple:
    """The backbone's input shape: ``image_size`` (or the data's size, or a saved model's own), three channels."""
    if _file_backbone(backbone):
        saved = saving.load_model(backbone, what="`backbone`")
        shape = tuple(saved.input_shape[1:])
        keras.backend.clear_session()
        if image_size is not None and tuple(image_size) != shape[:2]:
            raise invalid("image_size", image_size, f"null or {list(shape[:2])}: the saved backbone's input size")
        return shape
    size = tuple(image_size) if image_size is not None else tuple(input_shape[:2])
    return (*size, 3)


@register_model(family="transfer", default_input_shape=(224, 224, 3))
@planned
def transfer(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    input_tensor=None,
    *,
    backbone: str = "resnet18",
    backbone_weights=None,
    image_size=None,
    preprocessing: str = "auto",
    pixel_scale: float = 255.0,
    trainable: str = "frozen",
    head_pooling: str = "avg",
    dense_layers: int = 0,
    dense_units: int = 128,
    dense_dropout: float = 0.0,
    fine_tune_learning_rate: float = 1e-5,
    head_epochs: int | None = None,
    include_top: bool = True,
    pooling=None,
    classifier_activation="softmax",
    name: str = "transfer",
):
    """A pretrained backbone under a new head: preprocessing, backbone (frozen at first), pooling, dense, classifier.

    Args:
        backbone: a registry name, a keras.applications name
            (``"keras.applications.MobileNetV2"``) or a saved ``.keras`` / ``.h5``
            model (a previous run's ``final_model.keras``: cut below its classifier).
        backbone_weights: ``imagenet`` (the Keras cache, never downloaded), a
            weights file, or null (random); not for a saved model.
        image_size: ``[height, width]`` the backbone sees (inputs are resized
            to it); default: the data's own size, or a saved model's input.
        preprocessing: ``auto`` (what the weights expect, see
            :func:`preprocessing_mode`), ``none``, ``caffe``, ``tf`` or ``torch``.
        pixel_scale: inputs times this are pixels in [0, 255] (255 for the
            kit's scaled images).
        trainable: what the fine-tuning phase trains: ``frozen`` (no second
            phase), ``last_N`` (the backbone's last N layers) or ``all``;
            batch norm stays in inference mode.
        head_pooling: ``avg``, ``max`` or ``flatten``.
        dense_layers, dense_units, dense_dropout: the head's hidden layers.
        fine_tune_learning_rate: the second phase's learning rate (the first
            trains the head at ``learning_rate``).
        head_epochs: epochs of the first phase (default: half the fit's).
        include_top, pooling: keras.applications' contract: without the top,
            the backbone's features (pooled by ``pooling``: None, ``avg``, ``max``).
    """
    input_shape = check_input_shape(input_shape, ranks=(2,))
    if input_shape[-1] not in (1, 3):
        raise invalid("input_shape", input_shape, "images with 1 (grayscale) or 3 (RGB) channels")
    check_backbone(backbone, backbone_weights)
    inner = _backbone_input(backbone, image_size, input_shape)
    if inner[-1] not in (1, 3):
        raise invalid("backbone", backbone, f"a backbone taking 1 or 3 channels; it takes {inner[-1]}")
    check_choice("preprocessing", preprocessing, ("auto", *MODES))
    check_choice("head_pooling", head_pooling, POOLINGS)
    check_choice("pooling", pooling, (None, "avg", "max"))
    parse_trainable(trainable)
    check_int("dense_layers", dense_layers, min_value=0)
    if head_epochs is not None:
        check_int("head_epochs", head_epochs)
    spine: tuple = ()
    table: tuple = ()
    if isinstance(backbone, str) and backbone in list_models():  # geometry checked before anything is built
        checked = plan_model(backbone, input_shape=inner, include_top=False)
        spine, table = checked.spine, tuple(checked.trace())
    elif not _file_backbone(backbone) and min(inner[:2]) < 32:
        raise invalid("image_size", list(inner[:2]), "at least 32×32 for a keras.applications backbone")
    mode = preprocessing_mode(backbone, backbone_weights) if preprocessing == "auto" else preprocessing

    def assemble(tensor=None):
        inputs, image = model_input(input_shape, tensor)
        x = BackbonePreprocessing(mode, pixel_scale, channels=inner[-1], name="preprocessing")(image)
        if tuple(inner[:2]) != tuple(input_shape[:2]):
            x = keras.layers.Resizing(*inner[:2], name="resize")(x)
        if _file_backbone(backbone):
            net = load_backbone(backbone)
        else:
            net = load_backbone(backbone, input_shape=inner, weights=backbone_weights)
        net = keras.Model(net.inputs, net.output, name=BACKBONE)
        if not include_top:
            features = net(x, training=False)
            if pooling in ("avg", "max"):
                features = _global_pool(features, pooling)
            return keras.Model(inputs, features, name=name)
        dense = [{"units": dense_units, "dropout": dense_dropout} for _ in range(dense_layers)]
        return transfer_model(
            net,
            num_classes,
            freeze_layers="all",
            pooling=head_pooling,
            dense_layers=dense,
            classifier_activation=classifier_activation,
            name=name,
            inputs=(inputs, x),
        )

    return ModelPlan(name, input_shape, None, spine, assemble, table=table)


def _check_params(params: dict) -> None:
    """The registry's check of an experiment's ``model.params`` for ``transfer`` (before any data)."""
    check_backbone(params.get("backbone", "resnet18"), params.get("backbone_weights"))


transfer.check_params = _check_params  # type: ignore[attr-defined]
