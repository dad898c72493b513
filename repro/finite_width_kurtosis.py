"""Finite-width corrections at initialization scale with depth over width, L/n.

Reproduces: Roberts, Yaida & Hanin 2021, "The Principles of Deep Learning Theory", Ch. 4-5
(the four-point vertex / excess kurtosis of preactivations at initialization grows with
the aspect ratio L/n; Sec. 5.4 for ReLU at criticality, C_W = 2). Infinite-width networks
are Gaussian (excess kurtosis 0); at finite width the last layer's preactivations have an
excess kurtosis that, to leading order, is proportional to L/n, not to 1/n alone.

Tests:  finite-width-depth-to-width / kurtosis-grows-with-aspect-ratio
        (kurtosis_slope_vs_depth_over_width > 0)

What is measured: ReLU MLPs, zero biases, weight variance 2 / fan_in (criticality), one
input x. For L hidden layers of width n, the readout preactivation z given the network is
N(0, q) with q = (2 / n) |relu(z_L)|^2, so its excess kurtosis is exactly
3 Var(q) / E[q]^2, which is what we estimate (a lower-variance estimator than the sample
fourth moment of z). Drawing n x n weight matrices for every init of a 32 x 512 network is
too slow for a CPU, so the grid uses an exact sampler of the same distribution: given
layer l, W_{l+1} relu(z_l) ~ N(0, (2/n) |relu(z_l)|^2 I_n) because Gaussian rows are
rotation invariant, hence q_{l+1} = q_l (2/n) sum_j relu(eps_j)^2 with fresh eps ~ N(0, I_n),
and that sum of n squared rectified normals is a chi-square variable with K ~ Binomial(n,
1/2) degrees of freedom. So each layer costs two scalar draws per sampled network, and one
depth-32 chain per width gives every depth. (The sampler implies the closed form
3((1 + 5/n)^L - 1) ~ 15 L/n; for L = 1, 15/n as in kb.lab.measure. It is not used.)
A cross-check builds real kb.lab MLPs (standard parametrization) at the cheap grid points
(width <= 64, depth <= 4) and compares their kurtosis estimate with the sampler's.

The fit: ordinary least squares of the measured excess kurtosis on L/n over the whole grid
(depths 2-32 x widths 32-512, as in the prediction), with an intercept; R^2 reported, and
for contrast the R^2 of the same fit on 1/n alone. At L/n near 1 the kurtosis grows
exponentially (the linear law is leading order only) and is heavy-tailed, so the estimate
there is noisy and biased low by Monte-Carlo: expect a positive slope and a modest R^2.

Deviations from the book:
- Roberts, Yaida & Hanin: theory (Ch. 4-5), no training constants; criticality C_W = 1 for deep
  linear nets [checked: eqs. 3.11-3.15], C_W = 2 for ReLU [not re-checked]; finite-width
  corrections controlled by L/n [unchecked].
- Ours: ReLU MLPs at criticality with zero bias, an exact scalar sampler of the last-layer
  second moment (cross-checked against real MLPs at small L, n), grid depths 2-32 x widths
  32-512. With a closed form available (above), a positive slope is nearly guaranteed; the
  informative numbers are the R^2 against L/n versus 1/n and the slope at small L/n.

Smoke: 200,000 sampled networks per width, 2,000 real MLPs per check point; ~5 s CPU per seed
on one CPU thread. Smoke result (seeds 0, 1): positive slopes (188, 145; dominated by the
noisy L/n = 1 corner), R^2 0.76-0.80 against L/n versus 0.18-0.20 against 1/n alone, slope
~19 over L/n <= 1/8, real MLPs within 0.07-0.24 of the sampler: as the book says. Full: 10^7 sampled networks per width and 20,000 real MLPs per check
point; a few minutes per seed on a CPU.
"""

import math

import numpy as np
import torch

from kb.lab.models import MLP
from kb.lab.rng import generator

SCALES = {
    "smoke": {
        "depths": [2, 4, 8, 16, 32],  # hidden layers L
        "widths": [32, 64, 128, 256, 512],  # units per hidden layer n
        "n_samples": 200000,  # sampled networks per width (one depth-32 chain each)
        "check_inits": 2000,  # real MLP inits per cross-check point
        "check_max_width": 64,  # cross-check every grid point with n <= this ...
        "check_max_depth": 4,  # ... and L <= this
        "d_in": 10,  # input dimension (irrelevant to the kurtosis, but the MLP needs one)
    },
    "full": {
        "depths": [2, 4, 8, 16, 32],
        "widths": [32, 64, 128, 256, 512],
        "n_samples": 10_000_000,
        "check_inits": 20000,
        "check_max_width": 64,
        "check_max_depth": 4,
        "d_in": 10,
    },
}
REGIME = {
    "smoke": {"data_scale": "toy", "architectures": ["mlp"]},
    "full": {"data_scale": "toy", "architectures": ["mlp"]},
}
METRICS = {
    "kurtosis_slope_vs_depth_over_width": {
        "description": "OLS slope of the last-layer excess kurtosis against L/n over the grid",
        "label": "Kurtosis slope vs L/n", "unit": ""},
    "kurtosis_fit_r2": {"description": "R^2 of that linear fit", "label": "R² vs L/n", "unit": ""},
    "kurtosis_fit_r2_vs_inverse_width": {
        "description": "R^2 of the same fit on 1/n alone (the alternative that depth does not matter)",
        "label": "R² vs 1/n", "unit": ""},
    "kurtosis_small_ratio_slope": {
        "description": "OLS slope through the origin over grid points with L/n <= 1/8 (15 at leading order; higher orders raise it)",
        "label": "Slope at small L/n", "unit": ""},
    "kurtosis_check_max_abs_diff": {
        "description": "largest |kurtosis of real MLPs - sampler| over the cross-check points",
        "label": "Sampler vs real MLPs, largest gap", "unit": ""},
}
VALIDITY = {
    "sampler_matches_real_mlps": {
        "metric": "kurtosis_check_max_abs_diff",
        "expect": "< 0.5",
        "why": "the grid uses the exact scalar sampler; it must agree with real MLPs where both are measured",
    },
}
MULTIVERSE = {
    "smoke": {"n_samples": [100000, 200000, 400000], "check_inits": [1000, 2000]},
}


def excess_kurtosis(q):
    """Excess kurtosis of z ~ N(0, q) with random q: 3 Var(q) / E[q]^2 (q in float64)."""
    return float(3.0 * q.var(unbiased=False) / q.mean() ** 2)


def sampled_variances(width, depths, n_samples, rng):
    """{L: q samples} for L in depths: the readout's conditional variance after L layers."""
    q = np.ones(n_samples)  # q_1 = 2 |x|^2 / d_in, scaled to 1 (kurtosis is scale-free)
    out = {}
    for layer in range(1, max(depths) + 1):
        k = rng.binomial(width, 0.5, n_samples)  # units with a positive preactivation
        q = q * (2.0 / width) * rng.gamma(k / 2.0, 2.0)  # chi-square with k degrees of freedom
        if layer in depths:
            out[layer] = torch.from_numpy(q.copy())
    return out


@torch.no_grad()
def mlp_kurtosis(width, depth, config, seed, device):
    """The same estimate from real kb.lab MLPs: q = (2/n) |last hidden activations|^2."""
    x = torch.randn(1, config["d_in"], generator=generator(seed)).to(device)
    n = config["check_inits"]
    qs = []
    for s in range(seed * n, seed * n + n):  # disjoint init seeds across runner seeds
        model = MLP(config["d_in"], width, depth, 1, seed=s).to(device)
        qs.append(model.features(x).double().pow(2).sum() * 2.0 / width)
    return excess_kurtosis(torch.stack(qs))


def ols(x, y, intercept=True):
    """(slope, R^2) of y on x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    a = np.stack([x, np.ones_like(x)], 1) if intercept else x[:, None]
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ coef
    r2 = 1.0 - resid @ resid / ((y - y.mean()) @ (y - y.mean()))
    return float(coef[0]), float(r2)


def run(config, seed, device):
    rng = np.random.default_rng(seed)
    depths = config["depths"]
    ratio, inv_width, kurt, table = [], [], [], {}
    for width in config["widths"]:
        qs = sampled_variances(width, depths, config["n_samples"], rng)
        for L in depths:
            table[(L, width)] = excess_kurtosis(qs[L])
            ratio.append(L / width)
            inv_width.append(1.0 / width)
            kurt.append(table[(L, width)])

    slope, r2 = ols(ratio, kurt)
    _, r2_inv = ols(inv_width, kurt)
    small = [(r, k) for r, k in zip(ratio, kurt, strict=True) if r <= 1 / 8]
    small_slope, _ = ols([r for r, _ in small], [k for _, k in small], intercept=False)
    checks = [abs(mlp_kurtosis(n, L, config, seed, device) - table[(L, n)])
              for (L, n) in table if n <= config["check_max_width"] and L <= config["check_max_depth"]]

    order = np.argsort(ratio)
    metrics = {
        "kurtosis_slope_vs_depth_over_width": slope,
        "kurtosis_fit_r2": r2,
        "kurtosis_fit_r2_vs_inverse_width": r2_inv,
        "kurtosis_small_ratio_slope": small_slope,
        "kurtosis_check_max_abs_diff": max(checks) if checks else math.nan,
    }
    curves = {"excess_kurtosis_vs_depth_over_width": {
        "x": [ratio[i] for i in order], "y": [kurt[i] for i in order]}}
    return {"metrics": metrics, "curves": curves}


if __name__ == "__main__":
    from kb.experiment import standalone

    standalone(run, SCALES)
