"""Normalisation layers chosen by name, and Santurkar et al.'s noisy BatchNorm.

Models take ``norm`` as ``None``, ``"batch"``, ``"layer"``, ``"noisy_batch"`` or a callable
``n_features -> nn.Module``; ``make_norm`` turns that into a module for a given layer shape.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

# A name, or a callable taking the feature count (and, if it accepts one, a per-layer `seed=`).
NormSpec = str | Callable[..., nn.Module] | None


class NoisyBatchNorm(_BatchNorm):
    """BatchNorm followed by time-varying random noise (Santurkar et al. 2018, §2.1, Alg. 1).

    On every forward pass in training mode (one step), for each unit (channel) j a fresh
    distribution is drawn, then each sample i gets its own draw from it (``per_sample=True``):

        mu_j ~ U(-n_mu, n_mu),  sigma_j ~ U(1, n_sigma)              (per unit, per step)
        m_ij ~ U(mu_j - r_mu, mu_j + r_mu),  s_ij ~ N(sigma_j, r_sigma^2)   (per sample)
        y = s * BN(x) + m

    which is Algorithm 1 as printed. With ``per_sample=False`` every sample of a channel
    shares one draw (a pure per-step distribution shift). The paper's values of n_mu,
    n_sigma, r_mu, r_sigma (its App. A) were not found: the defaults here are our choice.
    In eval mode it is exactly BatchNorm. Works for inputs (N, C), (N, C, L) and
    (N, C, H, W). The noise stream comes from its own generator seeded with ``seed``, so runs
    are repeatable and other RNGs are untouched; give each layer its own seed.
    """

    def __init__(
        self,
        num_features: int,
        n_mu: float = 0.5,
        n_sigma: float = 1.5,
        r_mu: float = 0.5,
        r_sigma: float = 0.5,
        per_sample: bool = True,
        seed: int = 0,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
    ) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=affine)
        if n_sigma < 1:
            raise ValueError(f"n_sigma must be >= 1 (sigma ~ U(1, n_sigma)), got {n_sigma}")
        self.n_mu, self.n_sigma, self.r_mu, self.r_sigma = n_mu, n_sigma, r_mu, r_sigma
        self.per_sample = per_sample
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    @classmethod
    def of_strength(cls, num_features: int, strength: float, seed: int = 0) -> NoisyBatchNorm:
        """One knob for all four constants: n_mu = r_mu = r_sigma = strength,
        n_sigma = 1 + strength (strength 0 is plain BatchNorm)."""
        return cls(num_features, n_mu=strength, n_sigma=1 + strength, r_mu=strength,
                   r_sigma=strength, seed=seed)

    def _check_input_dim(self, input: Tensor) -> None:
        """Accept any (N, C, *) input: batch statistics are per channel either way."""
        if input.dim() < 2:
            raise ValueError(f"expected input of shape (N, C, *), got {tuple(input.shape)}")

    def _generator(self, device: torch.device) -> torch.Generator:
        """This layer's noise generator on ``device`` (one stream per device, made lazily)."""
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[device]

    def forward(self, input: Tensor) -> Tensor:
        """BatchNorm, then (in training mode only) Algorithm 1's per-step noise."""
        y = super().forward(input)
        quiet = self.n_mu == 0 and self.n_sigma == 1 and self.r_mu == 0 and self.r_sigma == 0
        if not self.training or quiet:
            return y
        g = self._generator(y.device)
        c = y.shape[1]
        view = (1, c) + (1,) * (y.dim() - 2)
        u = torch.rand(2, c, generator=g, device=y.device, dtype=y.dtype)
        mu = ((2 * u[0] - 1) * self.n_mu).view(view)
        sigma = (1 + u[1] * (self.n_sigma - 1)).view(view)
        shape = y.shape if self.per_sample else view
        u_m = torch.rand(shape, generator=g, device=y.device, dtype=y.dtype)
        z_s = torch.randn(shape, generator=g, device=y.device, dtype=y.dtype)
        m = mu + (2 * u_m - 1) * self.r_mu
        s = sigma + self.r_sigma * z_s
        return s * y + m


def snapshot_noise(model: nn.Module) -> Callable[[], None]:
    """Capture the noise generators of every ``NoisyBatchNorm`` in ``model``; call the result
    to put them back.

    Why: a measurement that runs several forward passes (gradient before/after a step) must
    see the same noise in each, and must not advance the training run's noise stream, or a
    measured run would diverge from an unmeasured one.
    """
    layers = [m for m in model.modules() if isinstance(m, NoisyBatchNorm)]
    saved = [{d: g.get_state() for d, g in m._generators.items()} for m in layers]

    def restore() -> None:
        for layer, states in zip(layers, saved, strict=True):
            for device in list(layer._generators):
                if device not in states:
                    del layer._generators[device]  # re-created from the seed on next use
            for device, state in states.items():
                layer._generators[device].set_state(state)

    return restore


def make_norm(spec: NormSpec, n_features: int, dim: int, seed: int = 0) -> nn.Module:
    """A normalisation module for ``n_features`` channels of a ``dim``-D layer.

    ``dim`` is 0 for MLP features (N, C), 1 for 1-D convs (N, C, L), 2 for 2-D convs.
    "batch" is BatchNorm1d/2d; "layer" is LayerNorm over the features for MLPs and
    GroupNorm(1, C) (normalising over channels and positions) for convs; "noisy_batch" is
    ``NoisyBatchNorm`` with its defaults and the given ``seed``; a callable is called with
    ``n_features``, and also with ``seed=seed`` if it takes a ``seed`` argument (so a layer
    with its own random stream, like a noisy BatchNorm, gets a different seed per layer);
    None or "none" is the identity.
    """
    if spec is None or spec == "none":
        return nn.Identity()
    if callable(spec):
        if "seed" in inspect.signature(spec).parameters:
            return spec(n_features, seed=seed)
        return spec(n_features)
    if spec == "batch":
        return nn.BatchNorm2d(n_features) if dim == 2 else nn.BatchNorm1d(n_features)
    if spec == "layer":
        return nn.LayerNorm(n_features) if dim == 0 else nn.GroupNorm(1, n_features)
    if spec == "noisy_batch":
        return NoisyBatchNorm(n_features, seed=seed)
    raise ValueError(
        f"unknown norm {spec!r}: use None, 'batch', 'layer', 'noisy_batch' "
        "or a callable n_features -> nn.Module"
    )
