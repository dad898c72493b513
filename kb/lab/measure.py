"""Every measurement of the lab in one import, plus lesions, init statistics and
shattered-gradient correlations.

Defined here: ``lesion_blocks`` (Veit et al. 2016), ``output_statistics_at_init`` with the
analytic ``nngp_relu_kernel`` to compare it to (Lee et al. 2018), and ``gradient_correlation``
(Balduzzi et al. 2017). Re-exported: the landscape probes of ``kb.lab.landscape`` (Santurkar
et al. 2018 smoothness and internal covariate shift, interpolation barriers), the curvature
tools of ``kb.lab.hessian`` and the pruning tools of ``kb.lab.prune``. Every function leaves
the model's parameters, buffers and train/eval mode as it found them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from kb.lab.hessian import full_hessian, hvp_function, top_hessian_eigenvalue
from kb.lab.landscape import (
    GradientStepProbe,
    ICSMeasure,
    Interpolation,
    effective_smoothness,
    gradient_predictiveness,
    gradient_step_probe,
    input_distribution_shift,
    internal_covariate_shift,
    interpolation_losses,
    layer_input_moments,
)
from kb.lab.prune import apply_masks, magnitude_prune, mask_gradients, rewind, sparsity
from kb.lab.train import LossFn, LossName, evaluate, loss_function

__all__ = [
    "GradientCorrelation",
    "GradientStepProbe",
    "ICSMeasure",
    "InitStatistics",
    "Interpolation",
    "apply_masks",
    "effective_smoothness",
    "full_hessian",
    "gradient_correlation",
    "gradient_predictiveness",
    "gradient_step_probe",
    "hvp_function",
    "input_distribution_shift",
    "internal_covariate_shift",
    "interpolation_losses",
    "layer_input_moments",
    "lesion_blocks",
    "magnitude_prune",
    "mask_gradients",
    "nngp_relu_kernel",
    "output_statistics_at_init",
    "rewind",
    "sparsity",
    "top_hessian_eigenvalue",
]


def lesion_blocks(
    model: nn.Module, x: Tensor, y: Tensor, blocks: Iterable[int] | None = None
) -> tuple[float, list[float]]:
    """(accuracy of the intact model, [accuracy with block i deleted] for each block i).

    For models with a ``deleted_blocks`` set and ``n_blocks`` (``ResNet``, ``Transformer``),
    as in Veit et al. 2016's lesion study: one block deleted at a time, at test time.
    """
    if not hasattr(model, "deleted_blocks"):
        raise TypeError(f"{type(model).__name__} has no deleted_blocks switch")
    lesionable: Any = model  # ResNet or Transformer: has deleted_blocks and n_blocks
    before = set(lesionable.deleted_blocks)
    indices = list(range(int(lesionable.n_blocks))) if blocks is None else list(blocks)
    try:
        lesionable.deleted_blocks = set()
        _, baseline = evaluate(model, x, y)
        accs = []
        for i in indices:
            lesionable.deleted_blocks = {i}
            accs.append(evaluate(model, x, y)[1])
    finally:
        lesionable.deleted_blocks = before
    return baseline, accs


# ----------------------------------------------------------------------------------------
# Outputs over random initialisations, and the NNGP kernel to compare them with


@dataclass
class InitStatistics:
    """Statistics of f(x) over random initialisations, per input and output unit.

    ``mean``, ``var`` and ``excess_kurtosis`` are (N, d_out); ``kernel`` is the (N, N)
    empirical second moment E[f(x) f(x')] averaged over output units (the NNGP kernel).
    """

    mean: Tensor
    var: Tensor
    excess_kurtosis: Tensor
    kernel: Tensor
    n_inits: int


@torch.no_grad()
def output_statistics_at_init(
    make_model: Callable[[int], nn.Module],
    x: Tensor,
    n_inits: int = 1000,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> InitStatistics:
    """Mean, variance and excess kurtosis of outputs on fixed inputs over ``n_inits`` inits.

    ``make_model(s)`` must build a freshly initialised model from seed s; seeds ``seed ..
    seed + n_inits - 1`` are used. Models run in eval mode, moments are computed in float64.
    At infinite width the outputs are Gaussian (excess kurtosis 0) with covariance given by
    the NNGP kernel (``nngp_relu_kernel`` for ReLU MLPs); at finite width n the kurtosis is
    O(depth / n) (e.g. exactly 15 / n for one ReLU hidden layer with zero biases).
    """
    outs = []
    x = x.to(device)
    for i in range(n_inits):
        m = make_model(seed + i).to(device).eval()
        outs.append(m(x).double().reshape(len(x), -1))
    f = torch.stack(outs)  # (S, N, d_out)
    mean = f.mean(0)
    c = f - mean
    var = c.pow(2).mean(0)
    kurt = c.pow(4).mean(0) / var.pow(2) - 3.0
    kernel = torch.einsum("snk,smk->nm", f, f) / (f.shape[0] * f.shape[2])
    return InitStatistics(mean, var, kurt, kernel, n_inits)


def nngp_relu_kernel(
    x: Tensor, depth: int, sigma_w: float = math.sqrt(2.0), sigma_b: float = 0.0
) -> Tensor:
    """The NNGP kernel (N, N) of a ReLU MLP's outputs at infinite width (Lee et al. 2018).

    For ``kb.lab.mlp.MLP(parametrization="standard")``: weights N(0, sigma_w^2 / fan_in),
    biases N(0, sigma_b^2), ``depth`` hidden layers. K0 = sigma_b^2 + sigma_w^2 x.x' / d_in,
    then per layer the arc-cosine recursion (Cho & Saul 2009):
    K <- sigma_b^2 + sigma_w^2 / (2 pi) sqrt(K_xx K_x'x') (sin t + (pi - t) cos t),
    t = arccos(K_xx' / sqrt(K_xx K_x'x')); the diagonal becomes sigma_b^2 + sigma_w^2 K_xx / 2.
    For ReLU with sigma_b = 0 the diagonal is exact at every finite width too, in expectation.
    """
    x = x.double().flatten(1)
    k = sigma_b**2 + sigma_w**2 * (x @ x.T) / x.shape[1]
    for _ in range(depth):
        d = k.diagonal().clamp_min(1e-300).sqrt()
        norms = d[:, None] * d[None, :]
        theta = torch.arccos((k / norms).clamp(-1.0, 1.0))
        k = sigma_b**2 + sigma_w**2 / (2 * math.pi) * norms * (
            torch.sin(theta) + (math.pi - theta) * torch.cos(theta)
        )
    return k


# ----------------------------------------------------------------------------------------
# Balduzzi et al. 2017: shattered gradients


@dataclass
class GradientCorrelation:
    """Input gradients along a 1-D grid of inputs and how correlated they are.

    ``gradients`` (N,) are d f / d x (or d loss / d x) at each grid point (for vector inputs,
    the derivative along the grid's direction). ``autocorrelation[k]`` is the sample
    autocorrelation at lag k of the gradient sequence (1 at lag 0): near 0 for k >= 1 means
    white-noise-like "shattered" gradients, slow decay means brown-noise-like ones.
    ``covariance`` (N, N) is the outer product of the standardised gradients, averaged over
    the models given (Balduzzi et al.'s covariance-matrix figures).
    """

    gradients: Tensor
    autocorrelation: Tensor
    covariance: Tensor

    @property
    def neighbor_correlation(self) -> float:
        """Lag-1 autocorrelation: correlation of gradients at adjacent grid points."""
        return float(self.autocorrelation[1]) if len(self.autocorrelation) > 1 else math.nan


def _input_gradients(
    model: nn.Module, x_grid: Tensor, output_index: int, target: Tensor | None, loss: LossFn
) -> Tensor:
    """Per-point derivative of output ``output_index`` (or of the loss) along the grid."""
    was_training = model.training
    model.eval()  # in train mode BatchNorm would couple the grid points
    try:
        x = x_grid.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            out = model(x)
            if target is None:
                total = out.reshape(len(x), -1)[:, output_index].sum()
            else:
                total = loss(out, target) * len(x)  # sum of per-example losses
            (g,) = torch.autograd.grad(total, x)
    finally:
        model.train(was_training)
    g = g.reshape(len(x), -1)
    if g.shape[1] == 1:
        return g[:, 0].detach()
    direction = (x_grid[-1] - x_grid[0]).reshape(-1)
    return (g @ (direction / direction.norm())).detach()


def gradient_correlation(
    model: nn.Module | Sequence[nn.Module],
    x_grid: Tensor,
    max_lag: int | None = None,
    output_index: int = 0,
    target: Tensor | None = None,
    loss: LossName | LossFn = "ce",
) -> GradientCorrelation:
    """Shattered-gradients statistics of Balduzzi et al. 2017 on an ordered grid of inputs.

    ``x_grid`` is (N,) or (N, 1) for scalar-input networks (the paper's setting: 256 points
    in [-2, 2]) or (N, d) points along a line. Without ``target`` the gradient is of output
    ``output_index``; with ``target`` it is of the per-example loss. Models run in eval mode.
    With several models (e.g. random inits) the autocorrelation and covariance are averaged
    over them and ``gradients`` are those of the first.
    """
    models = [model] if isinstance(model, nn.Module) else list(model)
    grid = x_grid.unsqueeze(1) if x_grid.dim() == 1 else x_grid
    n = len(grid)
    lags = n - 1 if max_lag is None else min(max_lag, n - 1)
    loss_f = loss_function(loss)
    acfs, covs, first = [], [], None
    for m in models:
        g = _input_gradients(m, grid, output_index, target, loss_f).double()
        first = g if first is None else first
        z = g - g.mean()
        z = z / z.pow(2).mean().sqrt().clamp_min(1e-300)
        acfs.append(torch.stack([(z[: n - k] * z[k:]).sum() / n for k in range(lags + 1)]))
        covs.append(torch.outer(z, z))
    assert first is not None
    return GradientCorrelation(first, torch.stack(acfs).mean(0), torch.stack(covs).mean(0))
