"""Architecture builders behind one registry.

Importing this package registers every family; use
:func:`create_model` / :func:`list_models`, or import a builder directly
(``from kerascnn.architectures.vgg import vgg16``).
"""

# Importing a family module registers its models.
from kerascnn.architectures import (  # noqa: E402,F401
    alexnet,
    convnext,
    densenet,
    efficientnet,
    efficientnet_v2,
    googlenet,
    inception_resnet_v2,
    inception_v3,
    lenet,
    mobilenet,
    mobilenet_v3,
    resnet,
    simple,
    transfer,
    unet,
    vgg,
    xception,
)
from kerascnn.architectures._common import ModelPlan
from kerascnn.architectures.registry import (
    ModelInfo,
    create_model,
    list_models,
    model_info,
    plan_model,
    register_model,
)

__all__ = ["ModelInfo", "ModelPlan", "create_model", "list_models", "model_info", "plan_model", "register_model"]
