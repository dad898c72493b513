"""Data and networks chosen by an experiment's config, shared by the BatchNorm reproductions.

The BatchNorm experiments (noisy BN, ICS, smoothness, largest stable learning rate) compare
arms that differ only in normalization, on the same data and architecture: MNIST-1D with an
MLP at smoke scale, CIFAR-10 from a local copy with a VGG- or ResNet-style network at full
scale. These two functions read that choice from the config, so each script only says
which normalization each arm gets.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from kb.lab.cifar import load_cifar10
from kb.lab.data import mnist1d
from kb.lab.dataset import Dataset
from kb.lab.models import MLP, VGG, ResNet
from kb.lab.norms import NormSpec


def load_data(config: dict[str, Any], seed: int, device: str | torch.device) -> Dataset:
    """`data: mnist1d` (generated offline, `n_train` examples) or `cifar10` (`cifar_root`)."""
    if config["data"] == "mnist1d":
        return mnist1d(n_train=config["n_train"], n_test=1000, seed=seed, device=device)
    if config["data"] == "cifar10":
        return load_cifar10(config["cifar_root"], device=device, n_train=config["n_train"])
    raise ValueError(f"unknown data {config['data']!r}: use 'mnist1d' or 'cifar10'")


def norm_network(config: dict[str, Any], data: Dataset, norm: NormSpec, seed: int) -> nn.Module:
    """`model: mlp` (`width`, `depth`), `vgg` (`widths`, `convs_per_stage`) or `resnet`
    (`widths`, `blocks_per_stage`; any norm means BatchNorm, None means none)."""
    if config["model"] == "mlp":
        d_in = math.prod(data.x_train.shape[1:])
        return MLP(d_in, config["width"], config["depth"], data.n_classes, norm=norm, seed=seed)
    if config["model"] == "vgg":
        return VGG(dim=2, in_channels=3, n_classes=data.n_classes, widths=config["widths"],
                   convs_per_stage=config["convs_per_stage"], norm=norm, seed=seed)
    if config["model"] == "resnet":
        return ResNet(dim=2, in_channels=3, n_classes=data.n_classes, widths=config["widths"],
                      blocks_per_stage=config["blocks_per_stage"], batchnorm=norm is not None, seed=seed)
    raise ValueError(f"unknown model {config['model']!r}: use 'mlp', 'vgg' or 'resnet'")
