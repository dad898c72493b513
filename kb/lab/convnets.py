"""Small convolutional networks: CNN1d (MNIST-1D), CNN2d, a lesionable ResNet, and VGG.

``dim`` selects 1-D (inputs (N, C, L)) or 2-D (inputs (N, C, H, W)) convolutions; 1-D
models also accept (N, L) and add the channel axis. Convolutions use He (fan-in, ReLU)
normal init so that plain deep nets without BN are not silently crippled by PyTorch's
default (variance 1/(3 fan_in)) init; biases start at zero.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from kb.lab.norms import NormSpec, make_norm
from kb.lab.rng import seeded


def _conv(
    dim: int, c_in: int, c_out: int, kernel: int, stride: int = 1, bias: bool = True
) -> nn.Module:
    """A 'same'-padded (for stride 1) Conv1d or Conv2d with He-normal weights and zero bias."""
    cls = {1: nn.Conv1d, 2: nn.Conv2d}[dim]
    conv = cls(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=bias)
    nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def _as_channels(x: Tensor, dim: int) -> Tensor:
    """Add a channel axis to (N, L) inputs for 1-D convnets; leave other shapes alone."""
    return x.unsqueeze(1) if dim == 1 and x.dim() == 2 else x


def _global_pool(x: Tensor) -> Tensor:
    """Average over all positions: (N, C, *) -> (N, C)."""
    return x.flatten(2).mean(dim=2)


class CNN1d(nn.Module):
    """The MNIST-1D convnet of Greydanus 2020 ("ConvBase"), with width, depth and norm knobs.

    ``depth`` blocks of stride-2 conv (kernel 5 first, 3 after) -> norm -> ReLU, then a
    linear readout from the flattened feature map. Defaults: 3 blocks of 25 channels
    (~5k parameters), which reaches about 85-90% test accuracy on the default MNIST-1D
    split in a few thousand Adam steps.
    """

    def __init__(
        self,
        in_len: int = 40,
        in_channels: int = 1,
        channels: int = 25,
        depth: int = 3,
        n_classes: int = 10,
        norm: NormSpec = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        with seeded(seed):
            layers: list[nn.Module] = []
            c, length = in_channels, in_len
            for i in range(depth):
                k = 5 if i == 0 else 3
                layers += [
                    _conv(1, c, channels, k, stride=2),
                    make_norm(norm, channels, 1, seed + i),
                    nn.ReLU(),
                ]
                c, length = channels, (length + 2 * (k // 2) - k) // 2 + 1
            self.features = nn.Sequential(*layers)
            self.readout = nn.Linear(c * length, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, n_classes) for signals (N, L) or (N, C, L)."""
        return self.readout(self.features(_as_channels(x, 1)).flatten(1))


class CNN2d(nn.Module):
    """A small image convnet: ``depth`` blocks of 3x3 conv -> norm -> ReLU -> 2x2 max-pool.

    Channels double each block from ``width``; global average pooling, then a linear readout.
    With depth 2 it fits 8x8 digits; use depth 3-4 for 32x32 images.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 10,
        width: int = 32,
        depth: int = 2,
        norm: NormSpec = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        with seeded(seed):
            layers: list[nn.Module] = []
            c = in_channels
            for i in range(depth):
                w = width * 2**i
                layers += [
                    _conv(2, c, w, 3),
                    make_norm(norm, w, 2, seed + i),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                ]
                c = w
            self.features = nn.Sequential(*layers)
            self.readout = nn.Linear(c, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, n_classes) for images (N, C, H, W)."""
        return self.readout(_global_pool(self.features(x)))


class ResidualBlock(nn.Module):
    """conv -> BN -> ReLU -> conv -> BN, added to the input (if ``skip``), then ReLU.

    The post-activation block of He et al. 2016a. Shape-preserving, so it can be deleted.
    """

    def __init__(self, dim: int, channels: int, batchnorm: bool, skip: bool) -> None:
        super().__init__()
        norm = "batch" if batchnorm else None
        self.branch = nn.Sequential(
            _conv(dim, channels, channels, 3, bias=not batchnorm),
            make_norm(norm, channels, dim),
            nn.ReLU(),
            _conv(dim, channels, channels, 3, bias=not batchnorm),
            make_norm(norm, channels, dim),
        )
        self.skip = skip

    def forward(self, x: Tensor) -> Tensor:
        """``relu(x + F(x))`` with skips, ``relu(F(x))`` without."""
        out = self.branch(x)
        return torch.relu(x + out if self.skip else out)


class ResNet(nn.Module):
    """A small ResNet (1-D or 2-D) whose BN, skips and individual blocks can be switched off.

    Layout: stem conv (in -> widths[0]), then for each stage s a transition (identity for
    s = 0, else a stride-2 conv -> BN -> ReLU to widths[s]) and ``blocks_per_stage``
    shape-preserving ``ResidualBlock``s; global average pool; linear head. Blocks are
    numbered 0 .. n_blocks-1 in forward order.

    - ``skip=False`` gives the matching plain net, ``batchnorm=False`` removes every BN.
    - Lesioning (Veit et al. 2016): block i is skipped in forward while ``i in
      model.deleted_blocks`` (a plain set attribute, not saved in state_dict), i.e. the
      residual branch is removed and only the identity path remains. Downsampling lives in the
      transitions, which are never deleted, so every numbered block can be lesioned; this
      differs from He et al.'s strided first block, whose deletion Veit et al. report as the
      most harmful.
    """

    def __init__(
        self,
        dim: int = 2,
        in_channels: int = 3,
        n_classes: int = 10,
        widths: Sequence[int] = (16, 32, 64),
        blocks_per_stage: int = 2,
        batchnorm: bool = True,
        skip: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.dim, self.blocks_per_stage = dim, blocks_per_stage
        self.deleted_blocks: set[int] = set()
        norm = "batch" if batchnorm else None
        with seeded(seed):
            self.stem = nn.Sequential(
                _conv(dim, in_channels, widths[0], 3, bias=not batchnorm),
                make_norm(norm, widths[0], dim),
                nn.ReLU(),
            )
            transitions: list[nn.Module] = [nn.Identity()]
            for c_in, c_out in itertools.pairwise(widths):
                transitions.append(
                    nn.Sequential(
                        _conv(dim, c_in, c_out, 3, stride=2, bias=not batchnorm),
                        make_norm(norm, c_out, dim),
                        nn.ReLU(),
                    )
                )
            self.transitions = nn.ModuleList(transitions)
            self.blocks = nn.ModuleList(
                ResidualBlock(dim, w, batchnorm, skip)
                for w in widths
                for _ in range(blocks_per_stage)
            )
            self.head = nn.Linear(widths[-1], n_classes)

    @property
    def n_blocks(self) -> int:
        """Number of deletable residual blocks."""
        return len(self.blocks)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, n_classes); blocks listed in ``self.deleted_blocks`` are skipped."""
        h = self.stem(_as_channels(x, self.dim))
        i = 0
        for transition in self.transitions:
            h = transition(h)
            for _ in range(self.blocks_per_stage):
                if i not in self.deleted_blocks:
                    h = self.blocks[i](h)
                i += 1
        return self.head(_global_pool(h))


class VGG(nn.Module):
    """A VGG-style plain convnet: stages of (3x3 conv -> norm -> ReLU) x k, then max-pool.

    ``norm`` may be None, "batch", "layer", "noisy_batch" (Santurkar et al. 2018's noisy BN)
    or a callable; the head is global average pooling and one linear layer (VGG's large FC
    layers are dropped: they add parameters, not anything these experiments measure).
    """

    def __init__(
        self,
        dim: int = 2,
        in_channels: int = 3,
        n_classes: int = 10,
        widths: Sequence[int] = (64, 128, 256),
        convs_per_stage: int = 2,
        norm: NormSpec = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.dim = dim
        pool = {1: nn.MaxPool1d, 2: nn.MaxPool2d}[dim]
        with seeded(seed):
            layers: list[nn.Module] = []
            c, k = in_channels, 0
            for w in widths:
                for _ in range(convs_per_stage):
                    layers += [_conv(dim, c, w, 3), make_norm(norm, w, dim, seed + k), nn.ReLU()]
                    c, k = w, k + 1
                layers.append(pool(2))
            self.features = nn.Sequential(*layers)
            self.head = nn.Linear(c, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, n_classes) for inputs (N, C, *spatial) (or (N, L) when dim == 1)."""
        return self.head(_global_pool(self.features(_as_channels(x, self.dim))))
