"""Shattered gradients: input-gradient correlation vs depth at init, plain net vs ResNet.

Reproduces: Balduzzi, Frean, Leary, Lewis, Ma & McWilliams 2017, "The Shattered Gradients
Problem: If resnets are the answer, then what is the question?", Sec. 2-3 (Figs. 1-3). Feed
a 1-D sweep of inputs (256 points in [-2, 2]) through a randomly initialised ReLU network
with a scalar output and look at d f / d x along the sweep. In plain feed-forward networks
the correlation between gradients at neighbouring inputs decays exponentially with depth
(~2^-L, white-noise-like gradients); with skip connections it decays only sublinearly.

Tests:  resnet-preserves-gradient-correlation / gradient-correlation-gap
        (grad_corr_resnet_over_plain_at_depth > 2, at the deepest depth, 50)

Networks (width WIDTH, depth L = number of hidden weight layers, He-initialised, then a
linear readout to one output), all with BatchNorm, as in the paper's main comparison:
- plain:  L x (linear -> BN -> ReLU)                       (kb.lab.mlp.MLP, norm="batch")
- resnet: linear stem, then L - 1 pre-activation blocks h <- h + W relu(BN(h)), then
          relu(BN(h)) -> readout  (one weight layer per block, so the depth matches).
BN statistics are those of the 256-point sweep itself (one training-mode pass with
cumulative averaging); gradients are then taken in eval mode, so each point's gradient is
its own and not coupled to the others through the batch statistics, while the forward
function is exactly the training-mode one. Without BN (and with zero biases) a ReLU net on a
scalar input is positively homogeneous, so its gradient is constant on each side of 0 and
trivially correlated: that is why every network here has BN. The correlation is the lag-1 autocorrelation of the standardised gradient
sequence (kb.lab.measure.gradient_correlation), averaged over N_INITS random
initialisations per depth. White noise gives ~0 with a sampling spread of about
1 / sqrt(256 * N_INITS); to keep the ratio meaningful, the plain net's correlation is floored
at that value in the denominator (the ratio is then a lower bound, flagged).

Deviations from the paper:
- Paper: gradient correlation between nearby inputs decays ~1/2^L in feedforward nets and
  ~1/sqrt(L) in ResNets, with BN in the main comparison [checked: abstract; rates:
  paper_facts.md]; a 1-D sweep over inputs of about [-3, 3] [checked, secondary]; width 200,
  256 input points, depth 50 [not found: not confirmed].
- Ours: inputs on [-2, 2] (our choice; the multiverse tries 1 and 3); every net has BN with
  statistics from the sweep, gradients in eval mode; 10 inits per depth at smoke.

Smoke: the paper's setting (width 200, depths 2-50, 256 points), 10 inits per depth; ~5 s
per seed on one CPU thread (measured, seed 0). Full: the same with 100 inits and more depths; minutes on a CPU.
No data set is involved (toy at both scales).

Notes (smoke, seeds 0 and 1): at depth 50 the plain net's neighbour correlation is 0.001 and
0.04 (white noise; 0.96 at depth 2) and the ResNet's 0.65 and 0.66: ratio 33 (a lower bound,
floored) and 18, in line with the paper.
"""

import math

import torch
from torch import nn

from kb.lab.measure import gradient_correlation
from kb.lab.models import MLP
from kb.lab.rng import seeded

SCALES = {
    "smoke": {
        "width": 200,  # units per hidden layer
        "depths": [2, 5, 10, 20, 30, 50],  # hidden weight layers; the last is "at depth"
        "n_points": 256,  # inputs on the sweep
        "x_range": 2.0,  # sweep over [-x_range, x_range]
        "n_inits": 10,  # random initialisations per (architecture, depth)
    },
    "full": {
        "width": 200,
        "depths": [2, 4, 6, 8, 10, 15, 20, 25, 30, 40, 50],
        "n_points": 256,
        "x_range": 2.0,
        "n_inits": 100,
    },
}
REGIME = {
    "smoke": {"data_scale": "toy", "architectures": ["mlp", "resnet"]},
    "full": {"data_scale": "toy", "architectures": ["mlp", "resnet"]},
}
METRICS = {
    "grad_corr_resnet_over_plain_at_depth": {
        "description": "lag-1 gradient correlation at the deepest depth, BN ResNet over BN plain net (plain floored at the noise level)",
        "label": "Gradient correlation, ResNet ÷ plain", "unit": "×", "scale": "log"},
    "grad_corr_plain_at_depth": {
        "description": "lag-1 correlation of neighbouring input gradients, plain BN net, deepest depth",
        "label": "Gradient correlation, plain, deepest", "unit": ""},
    "grad_corr_resnet_at_depth": {"description": "same for the BN ResNet",
                                  "label": "Gradient correlation, ResNet, deepest", "unit": ""},
    "grad_corr_plain_shallowest": {
        "description": "lag-1 correlation of the plain BN net at the shallowest depth",
        "label": "Gradient correlation, plain, shallowest", "unit": ""},
    "ratio_is_lower_bound": {
        "description": "1 if the plain correlation was below the noise floor (the ratio is then a lower bound)",
        "label": "Ratio is a lower bound", "unit": ""},
    "noise_floor": {"description": "1 / sqrt(n_points * n_inits): sampling spread of the correlation of white noise",
                    "label": "Noise floor", "unit": ""},
}
VALIDITY = {
    "sweep_resolves_smooth_gradients": {
        "metric": "grad_corr_plain_shallowest",
        "expect": ">= 0.8",
        "why": "at depth 2 neighbouring gradients must be strongly correlated, or the sweep cannot show "
               "shattering at all",
    },
}
MULTIVERSE = {
    "smoke": {"x_range": [1.0, 2.0, 3.0], "width": [100, 200]},
}
ARCHS = ("plain", "resnet")


class ResMLP(nn.Module):
    """Fully connected pre-activation ResNet: stem, (depth - 1) x [h + W relu(BN(h))], readout."""

    def __init__(self, width, depth, seed=0):
        super().__init__()
        with seeded(seed):
            self.stem = nn.Linear(1, width)
            self.branches = nn.ModuleList(nn.Linear(width, width) for _ in range(depth - 1))
            self.norms = nn.ModuleList(nn.BatchNorm1d(width) for _ in range(depth))
            self.readout = nn.Linear(width, 1)
            for layer in [self.stem, *self.branches, self.readout]:
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")  # He: var 2 / fan_in
                nn.init.zeros_(layer.bias)

    def forward(self, x):
        h = self.stem(x)
        for norm, branch in zip(self.norms[:-1], self.branches, strict=True):
            h = h + branch(torch.relu(norm(h)))
        return self.readout(torch.relu(self.norms[-1](h)))


def build(arch, width, depth, seed):
    if arch == "plain":
        return MLP(1, width, depth, 1, norm="batch", seed=seed)
    return ResMLP(width, depth, seed=seed)


@torch.no_grad()
def calibrate_bn(model, x):
    """Set every BN's running statistics to the exact statistics of the batch x."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average: after one pass, exactly this batch's stats
    model.train()
    model(x)
    model.eval()


def run(config, seed, device):
    r = config["x_range"]
    grid = torch.linspace(-r, r, config["n_points"], device=device).unsqueeze(1)
    n_inits = config["n_inits"]
    corr = {arch: [] for arch in ARCHS}
    for depth in config["depths"]:
        for arch in ARCHS:
            models = []
            for i in range(n_inits):
                model = build(arch, config["width"], depth, seed * 10007 + 101 * depth + i).to(device)
                calibrate_bn(model, grid)
                models.append(model)
            corr[arch].append(gradient_correlation(models, grid, max_lag=1).neighbor_correlation)
    floor = 1.0 / math.sqrt(config["n_points"] * n_inits)
    plain, resnet = corr["plain"][-1], corr["resnet"][-1]
    metrics = {
        "grad_corr_resnet_over_plain_at_depth": resnet / max(plain, floor),
        "grad_corr_plain_at_depth": plain,
        "grad_corr_resnet_at_depth": resnet,
        "grad_corr_plain_shallowest": corr["plain"][0],
        "ratio_is_lower_bound": float(plain < floor),
        "noise_floor": floor,
    }
    curves = {f"grad_corr_{arch}": {"x": config["depths"], "y": corr[arch]} for arch in ARCHS}
    bounds = {"grad_corr_resnet_over_plain_at_depth": "lower"} if plain < floor else {}
    return {"metrics": metrics, "bounds": bounds, "curves": curves}


if __name__ == "__main__":
    from kb.experiment import standalone

    standalone(run, SCALES)
