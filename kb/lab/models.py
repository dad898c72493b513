"""Every model class of the lab in one import: ``from kb.lab.models import MLP, ResNet``.

The classes live in one module per family: ``kb.lab.mlp`` (MLP and its standard / NTK / muP
parametrisations), ``kb.lab.convnets`` (CNN1d, CNN2d, ResNet, VGG), ``kb.lab.transformer``
(Transformer) and ``kb.lab.norms`` (NoisyBatchNorm, make_norm).
"""

from kb.lab.convnets import VGG, CNN1d, CNN2d, ResidualBlock, ResNet
from kb.lab.mlp import ACTIVATIONS, MLP, ScaledLinear
from kb.lab.norms import NoisyBatchNorm, make_norm
from kb.lab.transformer import Transformer

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "VGG",
    "CNN1d",
    "CNN2d",
    "NoisyBatchNorm",
    "ResNet",
    "ResidualBlock",
    "ScaledLinear",
    "Transformer",
    "make_norm",
]
