"""Conditioning: gradient descent stalls on a badly conditioned two-layer linear net; LM does not.

Source: Rahimi & Recht, NIPS 2017 Test-of-Time talk ("machine learning has become alchemy"),
the text of which they posted on the argmin.net blog (2017-12-05). As the talk is usually
recounted, it fits a two-layer *linear* network to a badly conditioned least-squares problem:
gradient descent slows to a crawl while Levenberg-Marquardt, a textbook second-order method,
drives the loss down by orders of magnitude; the point being that the deep-learning toolbox
has no account of such failures, only folklore. **Not verified**: the blog post could not be
reached, and the third-party transcripts of the talk that were found could be read only up
to their opening paragraphs. So the setting below (sizes, spectrum, step budgets) is
entirely ours, and the experiment tests the claim as stated here, not a figure of the talk.

Tests:  (no prediction registered yet; proposed: excess_loss_ratio_gd_over_lm > 100 on the
        ill-conditioned problem and < 10 on the well-conditioned control)

Task: inputs x = z S V^T in R^d with z ~ N(0, I), V a random rotation and the singular values
S log-spaced from 1 down to 10^-cond_decades (input covariance condition number
10^(2 cond_decades)); targets y = A x + noise with a random teacher A. Model: f(x) = W2 W1 x
with a hidden width h (no nonlinearity, no biases), weights ~ N(0, 1/fan_in); loss
0.5 * mean ||f(x) - y||^2, in float64. Its minimum is the least-squares loss of A (h >= d),
so we report the *excess* loss over that optimum, relative to the excess at initialisation.

Arms, from the same initial weights:
- GD: full-batch gradient descent for gd_steps steps, with learning rate c / lambda_max of the
  Hessian at initialisation for c in lr_factors (all below the stability limit 2); the best
  final loss over the grid is kept, so GD is tuned, not a strawman.
- LM: Levenberg-Marquardt on the residuals: delta = -(J^T J + mu I)^-1 J^T r, mu divided by 3
  after an accepted step and multiplied by 2 (step rejected) otherwise, for lm_iters iterations.
- Control: both arms again on a well-conditioned problem (cond_decades = 0) of the same size.

An excess loss below `floor` (relative) counts as solved; a ratio whose LM arm reached the
floor is only a lower bound (reported in "bounds").

Smoke: d = h = 10, n = 500, cond_decades 3, GD 20,000 steps x 3 learning rates, LM at most
100 iterations; measured 12 s of CPU time per seed on one thread (25-30 s wall while the
other core was busy). LM is also the cheaper arm in wall time (seed 0: 0.9 s vs 6.9 s for
one GD learning rate), so the comparison is not bought with compute. Full: d = h = 50, n = 5,000, 200,000 GD steps.

Deviations from the source: everything (the talk's own problem sizes, spectrum, step counts
and LM variant are [not found]). The LM damping schedule (/3, x2) is ours, as is the choice
of tuning GD's step over a grid of c / lambda_max.
"""

import math
import time

import torch

from kb.lab.rng import generator

SCALES = {
    "smoke": {
        "d": 10,  # input and output dimension
        "hidden": 10,  # hidden width of the linear net
        "n": 500,  # examples
        "cond_decades": 3,  # input singular values span 10^0 .. 10^-cond_decades
        "noise": 0.01,  # std of the target noise
        "gd_steps": 20000,
        "lr_factors": [0.5, 1.0, 1.5],  # GD learning rates, times 1 / lambda_max at init
        "lm_iters": 100,
        "lm_mu0": 1.0,  # initial LM damping, times the mean diagonal of J^T J
        "floor": 1e-12,  # relative excess loss treated as solved
    },
    "full": {
        "d": 50,
        "hidden": 50,
        "n": 5000,
        "cond_decades": 3,
        "noise": 0.01,
        "gd_steps": 200000,
        "lr_factors": [0.5, 1.0, 1.5],
        "lm_iters": 200,
        "lm_mu0": 1.0,
        "floor": 1e-12,
    },
}
REGIME = {
    "smoke": {"data_scale": "toy", "architectures": ["linear"]},
    "full": {"data_scale": "toy", "architectures": ["linear"]},
}
METRICS = {
    "excess_loss_ratio_gd_over_lm": {
        "description": "relative excess loss of tuned GD over that of Levenberg-Marquardt at the "
        "end of their budgets, on the ill-conditioned problem (1 = no difference)",
        "label": "Excess loss, GD ÷ LM (ill-conditioned)",
        "unit": "×",
        "scale": "log",
    },
    "excess_loss_ratio_gd_over_lm_control": {
        "description": "the same ratio on the well-conditioned control problem",
        "label": "Excess loss, GD ÷ LM (well-conditioned)",
        "unit": "×",
        "scale": "log",
    },
    "excess_loss_gd": {
        "description": "GD's final excess loss over the least-squares optimum, relative to the "
        "excess at initialisation (ill-conditioned problem)",
        "label": "GD relative excess loss",
        "unit": "",
        "scale": "log",
    },
    "excess_loss_lm": {
        "description": "LM's final relative excess loss (ill-conditioned problem)",
        "label": "LM relative excess loss",
        "unit": "",
        "scale": "log",
    },
    "excess_loss_gd_control": {
        "description": "GD's final relative excess loss on the well-conditioned control",
        "label": "GD relative excess loss (control)",
        "unit": "",
        "scale": "log",
    },
    "gd_progress": {
        "description": "GD's relative excess loss at the start over that at the end (> 1 = GD "
        "made progress; guards against a diverged or frozen GD)",
        "label": "GD loss reduction",
        "unit": "×",
        "scale": "log",
    },
    "seconds_gd": {
        "description": "wall time of the best GD run (one learning rate)",
        "label": "GD seconds",
        "unit": "s",
    },
    "seconds_lm": {
        "description": "wall time of the LM run",
        "label": "LM seconds",
        "unit": "s",
    },
}
VALIDITY = {
    "gd_makes_progress": {
        "metric": "gd_progress",
        "expect": "> 10",
        "why": "tuned GD must reduce the excess loss at least ten-fold, or its 'stall' is a "
        "bad learning rate or a divergence rather than conditioning",
    },
    "control_gd_converges": {
        "metric": "excess_loss_gd_control",
        "expect": "< 1e-6",
        "why": "on the well-conditioned problem GD must converge within its budget, or the "
        "budget (not the conditioning) is what stops it",
    },
}
MULTIVERSE = {
    "smoke": {
        "cond_decades": [2, 3, 4],  # how badly conditioned the inputs are
        "gd_steps": [5000, 20000, 60000],  # GD's budget
    },
}


def make_problem(config, decades, seed):
    """(x, y, least-squares optimum of the loss) for one conditioning, all float64."""
    g = generator(seed)
    d, n = config["d"], config["n"]
    v, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    s = torch.logspace(0, -decades, d, dtype=torch.float64)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * s @ v.T
    teacher = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    y = x @ teacher.T + config["noise"] * torch.randn(n, d, generator=g, dtype=torch.float64)
    best = torch.linalg.lstsq(x, y).solution
    opt = 0.5 * (x @ best - y).pow(2).sum() / n
    return x, y, float(opt)


def init_params(config, seed):
    """Flat parameter vector [W1 (h x d), W2 (d x h)] with N(0, 1/fan_in) entries."""
    g = generator(seed)
    d, h = config["d"], config["hidden"]
    w1 = torch.randn(h, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    w2 = torch.randn(d, h, generator=g, dtype=torch.float64) / math.sqrt(h)
    return torch.cat([w1.flatten(), w2.flatten()])


def residuals_fn(config, x, y):
    """theta -> residual vector (f(x) - y) / sqrt(n), so that loss = 0.5 ||r||^2."""
    d, h, n = config["d"], config["hidden"], config["n"]

    def residuals(theta):
        w1 = theta[: h * d].reshape(h, d)
        w2 = theta[h * d :].reshape(d, h)
        return ((x @ w1.T @ w2.T - y) / math.sqrt(n)).flatten()

    return residuals


def jacobian_fn(config, x):
    """theta -> d residuals / d theta in closed form (rows (i, k), columns [W1, W2]).

    R[i, k] = sum_j W2[k, j] (x W1^T)[i, j], so dR[i, k]/dW1[j, l] = W2[k, j] x[i, l] and
    dR[i, k]/dW2[k', j] = [k = k'] (x W1^T)[i, j]; autograd gives the same, ~20x slower.
    """
    d, h, n = config["d"], config["hidden"], config["n"]
    eye = torch.eye(d, dtype=x.dtype)

    def jacobian(theta):
        w1 = theta[: h * d].reshape(h, d)
        w2 = theta[h * d :].reshape(d, h)
        j1 = torch.einsum("kj,il->ikjl", w2, x).reshape(n * d, h * d)
        j2 = torch.einsum("kq,ij->ikqj", eye, x @ w1.T).reshape(n * d, d * h)
        return torch.cat([j1, j2], dim=1) / math.sqrt(n)

    return jacobian


def gradient_descent(loss, theta0, lr, steps, floor_loss):
    """Full-batch GD; returns (final loss, curve of (step, loss))."""
    theta = theta0.clone().requires_grad_(True)
    curve, every = [], max(1, steps // 50)
    for step in range(steps + 1):
        value = loss(theta)
        if step % every == 0 or step == steps:
            curve.append((step, float(value)))
        if not math.isfinite(float(value)) or step == steps or float(value) <= floor_loss:
            break
        (grad,) = torch.autograd.grad(value, theta)
        with torch.no_grad():
            theta -= lr * grad
    return float(loss(theta.detach())), curve


def levenberg_marquardt(residuals, jac, theta0, iters, mu0, floor_loss):
    """Levenberg-Marquardt on 0.5 ||r(theta)||^2; returns (final loss, curve)."""
    theta = theta0.clone()
    r = residuals(theta)
    value = 0.5 * float(r @ r)
    jtj_scale = None
    mu = None
    curve = [(0, value)]
    eye = torch.eye(len(theta), dtype=theta.dtype)
    for it in range(1, iters + 1):
        j = jac(theta)
        jtj, jtr = j.T @ j, j.T @ r
        if mu is None:
            jtj_scale = float(jtj.diagonal().mean())
            mu = mu0 * jtj_scale
        while True:
            step = torch.linalg.solve(jtj + mu * eye, -jtr)
            r_new = residuals(theta + step)
            new = 0.5 * float(r_new @ r_new)
            if new < value:
                theta, r, value, mu = theta + step, r_new, new, mu / 3
                break
            mu *= 2
            if mu > 1e12 * jtj_scale:  # no descent direction left at this precision
                break
        curve.append((it, value))
        if value <= floor_loss or mu > 1e12 * jtj_scale:
            break
    return value, curve


def solve_both(config, decades, seed):
    """Relative excess losses (GD, LM), GD progress, timings and curves for one problem."""
    x, y, opt = make_problem(config, decades, seed)
    theta0 = init_params(config, seed + 1)
    residuals = residuals_fn(config, x, y)

    def loss(theta):
        r = residuals(theta)
        return 0.5 * (r @ r)

    excess0 = float(loss(theta0)) - opt
    floor_loss = opt + config["floor"] * excess0
    hessian = torch.autograd.functional.hessian(loss, theta0)
    lam = float(torch.linalg.eigvalsh(hessian)[-1])
    best = None
    for factor in config["lr_factors"]:
        start = time.perf_counter()
        final, curve = gradient_descent(loss, theta0, factor / lam, config["gd_steps"], floor_loss)
        seconds = time.perf_counter() - start
        if math.isfinite(final) and (best is None or final < best[0]):
            best = (final, curve, seconds)
    if best is None:  # every learning rate diverged
        best = (float(loss(theta0)), [(0, float(loss(theta0)))], 0.0)
    start = time.perf_counter()
    lm_final, lm_curve = levenberg_marquardt(residuals, jacobian_fn(config, x), theta0, config["lm_iters"],
                                             config["lm_mu0"], floor_loss)
    lm_seconds = time.perf_counter() - start

    def rel(value):
        return max((value - opt) / excess0, config["floor"])

    return {
        "gd": rel(best[0]), "lm": rel(lm_final), "gd_seconds": best[2], "lm_seconds": lm_seconds,
        "gd_curve": [(s, rel(v)) for s, v in best[1]], "lm_curve": [(s, rel(v)) for s, v in lm_curve],
    }


def run(config, seed, device):
    torch.set_default_dtype(torch.float64)  # the conditioning needs double precision
    try:
        ill = solve_both(config, config["cond_decades"], seed)
        well = solve_both(config, 0, seed)
    finally:
        torch.set_default_dtype(torch.float32)
    floor = config["floor"]
    metrics = {
        "excess_loss_ratio_gd_over_lm": ill["gd"] / ill["lm"],
        "excess_loss_ratio_gd_over_lm_control": well["gd"] / well["lm"],
        "excess_loss_gd": ill["gd"],
        "excess_loss_lm": ill["lm"],
        "excess_loss_gd_control": well["gd"],
        "gd_progress": 1.0 / ill["gd"],
        "seconds_gd": ill["gd_seconds"],
        "seconds_lm": ill["lm_seconds"],
    }
    bounds = {}
    for key, arm in (("excess_loss_ratio_gd_over_lm", ill), ("excess_loss_ratio_gd_over_lm_control", well)):
        if arm["lm"] <= floor and arm["gd"] > floor:
            bounds[key] = "lower"  # LM reached the floor: its true excess is at most the floor
        elif arm["gd"] <= floor and arm["lm"] > floor:
            bounds[key] = "upper"
    if ill["lm"] <= floor:
        bounds["excess_loss_lm"] = "upper"
    if well["gd"] <= floor:
        bounds["excess_loss_gd_control"] = "upper"
    curves = {}
    for name, arm in (("ill", ill), ("control", well)):
        for method in ("gd", "lm"):
            points = arm[f"{method}_curve"]
            curves[f"excess_loss_{method}_{name}"] = {"x": [s for s, _ in points],
                                                      "y": [v for _, v in points]}
    return {"metrics": metrics, "bounds": bounds, "curves": curves}


if __name__ == "__main__":
    from kb.experiment import standalone

    standalone(run, SCALES)
