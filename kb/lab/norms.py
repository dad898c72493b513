"""Normalisation layers chosen by name, and Santurkar et al.'s noisy BatchNorm.

Models take ``norm`` as ``None``, ``"batch"``, ``"layer"``, ``"noisy_batch"`` or a callable
``n_features -> nn.Module``; ``make_norm`` turns that into a module for a given layer shape.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

NormSpec = str | Callable[[int], nn.Module] | None


class NoisyBatchNorm(_BatchNorm):
    """BatchNorm followed by time-varying random noise (Santurkar et al. 2018, §2.1).

    Santurkar et al. inject noise "after BatchNorm layers ... i.i.d. noise sampled from a
    non-zero mean and non-unit variance distribution" whose parameters change at every step,
    to make the layer-input distributions *less* stable than without BN. Here, on every
    forward pass in training mode, for each channel c a fresh distribution is drawn:

        mu_s[c], mu_m[c] ~ U(-mean_scale, mean_scale),  sd_s[c], sd_m[c] ~ U(0, std_scale)

    and the output is ``y = BN(x) * (1 + s) + m`` with s ~ N(mu_s, sd_s^2) and
    m ~ N(mu_m, sd_m^2) drawn i.i.d. per activation and per sample (``per_sample=True``) or
    shared by the whole batch (``per_sample=False``, a pure per-step distribution shift).
    In eval mode it is exactly BatchNorm. The paper's own noise constants (its App. A) are
    not reproduced here: ``mean_scale`` and ``std_scale`` are the knobs to set.
    Works for inputs (N, C), (N, C, L) and (N, C, H, W). The noise stream comes from its
    own generator seeded with ``seed``, so runs are repeatable and other RNGs are untouched.
    """

    def __init__(
        self,
        num_features: int,
        mean_scale: float = 0.5,
        std_scale: float = 0.5,
        per_sample: bool = True,
        seed: int = 0,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
    ) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=affine)
        self.mean_scale = mean_scale
        self.std_scale = std_scale
        self.per_sample = per_sample
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

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
        """BatchNorm, then (in training mode only) the per-step multiplicative/additive noise."""
        y = super().forward(input)
        if not self.training or (self.mean_scale == 0 and self.std_scale == 0):
            return y
        g = self._generator(y.device)
        c = y.shape[1]
        params = torch.rand(4, c, generator=g, device=y.device, dtype=y.dtype)
        mu_s, mu_m = (2 * params[:2] - 1) * self.mean_scale
        sd_s, sd_m = params[2:] * self.std_scale
        view = (1, c) + (1,) * (y.dim() - 2)
        mu_s, mu_m, sd_s, sd_m = (t.view(view) for t in (mu_s, mu_m, sd_s, sd_m))
        if self.per_sample:
            z = torch.randn((2, *y.shape), generator=g, device=y.device, dtype=y.dtype)
            s, m = mu_s + sd_s * z[0], mu_m + sd_m * z[1]
        else:
            z = torch.randn((2, c), generator=g, device=y.device, dtype=y.dtype)
            s, m = mu_s + sd_s * z[0].view(view), mu_m + sd_m * z[1].view(view)
        return y * (1 + s) + m


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
    ``n_features``; None or "none" is the identity.
    """
    if spec is None or spec == "none":
        return nn.Identity()
    if callable(spec):
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
