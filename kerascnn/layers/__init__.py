"""Layer blocks: each block type written once and imported everywhere.

- :mod:`~kerascnn.layers.conv`: :func:`conv_block`, every convolution variant and
  the one home of batch-norm placement;
- :mod:`~kerascnn.layers.pooling`, :mod:`~kerascnn.layers.heads`: pooling, dense
  blocks and output heads;
- :mod:`~kerascnn.layers.activations`: the activation lookup;
- :mod:`~kerascnn.layers.kernels`: the notes' classic fixed filters;
- :mod:`~kerascnn.layers.build`: spec -> Keras layer.
"""

from kerascnn.layers.activations import ACTIVATIONS, activation_layer, resolve_activation
from kerascnn.layers.build import apply_specs, build_sequential_model
from kerascnn.layers.conv import BN_PLACEMENTS, CONV_TYPES, conv_block, conv_block_specs, norm_act_specs
from kerascnn.layers.heads import dense_block_specs, head_specs
from kerascnn.layers.kernels import CLASSIC_KERNELS, ClassicKernel, classic_kernel
from kerascnn.layers.pooling import POOLS, pool_specs

__all__ = [
    "ACTIVATIONS",
    "BN_PLACEMENTS",
    "CLASSIC_KERNELS",
    "CONV_TYPES",
    "POOLS",
    "ClassicKernel",
    "activation_layer",
    "apply_specs",
    "build_sequential_model",
    "classic_kernel",
    "conv_block",
    "conv_block_specs",
    "dense_block_specs",
    "head_specs",
    "norm_act_specs",
    "pool_specs",
    "resolve_activation",
]
