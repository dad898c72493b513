"""muTransfer: under muP the optimal learning rate stays put as width grows; under SP it drifts.

Reproduces: Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen & Gao 2022,
"Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter Transfer",
Fig. 1 / Sec. 3 (MLP trained with Adam, training loss against log2 learning rate at several
widths): under the standard parametrization (SP) the optimum moves to smaller learning
rates as the network widens; under the maximal update parametrization (muP) it is stable.

Tests:  optimal-lr-shifts-with-width / sp-optimum-moves  (sp_opt_lr_shift_log2 <= -1)
        mup-update-scaling / sp-shifts                     (sp_opt_lr_shift_log2 <= -1)
        mup-update-scaling / mup-stays                     (mup_opt_lr_shift_log2 ≈ 0 ± 0.5)
The shifts are signed, log2(optimal LR at the widest width) - log2(optimal LR at the
narrowest): negative means the optimum falls with width (the predictions' convention).
The predictions compare widths 128 and 2048 (a factor 16); the smoke scale keeps the factor
16 but at widths 32 and 512.

Procedure: kb.lab MLP with two hidden ReLU layers, parametrization "standard" or "mup"
(kb.lab.mlp: Yang et al. Table 3, Adam column, relative to base_width = the narrowest
width, so that at the narrowest width the two coincide and its runs are shared). For every
width, parametrization and learning rate on a log2 grid, train with Adam for a fixed
number of steps (same init seed and batch order) and record the final training loss on the
whole training set; a diverged run counts as +inf. The optimal log2 LR is the grid argmin,
refined by a parabola through the argmin and its two neighbours (moved by at most half a
grid step; not refined at the grid's edge).

Smoke: MNIST-1D (4,000 examples), widths 32 / 128 / 512, LRs 2^-10 .. 2^-3, 150 Adam steps
of batch 128; ~13 s per seed on one CPU thread. Smoke result (seeds 0, 1): SP shift -2.3
and -2.0 (as predicted); muP shift +1.1 and +1.2, i.e. under muP the optimum *rises* by
about one grid step from width 32 to 512, outside the predicted 0 ± 0.5. Short training
(150 steps) and a narrow base width may be why; not reproduced at this scale. Full: CIFAR-10 from a local copy
(`cifar_root`), widths 128-2048 (the predictions' setting), 2,000 steps; ~1 h per seed on
one GPU.
"""

import math

from kb.lab.cifar import load_cifar10
from kb.lab.data import mnist1d
from kb.lab.models import MLP
from kb.lab.train import train

SCALES = {
    "smoke": {
        "data": "mnist1d",
        "n_train": 4000,
        "widths": [32, 128, 512],  # the first is muP's base width
        "depth": 2,  # hidden layers
        "log2_lrs": [-10, -9, -8, -7, -6, -5, -4, -3],  # Adam learning rates, log2
        "steps": 150,
        "batch_size": 128,
    },
    "full": {
        "data": "cifar10",
        "cifar_root": "data/cifar-10-batches-py",
        "n_train": 50000,
        "widths": [128, 256, 512, 1024, 2048],
        "depth": 2,
        "log2_lrs": [-15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4],
        "steps": 2000,
        "batch_size": 128,
    },
}
REGIME = {
    "smoke": {"data_scale": "toy", "architectures": ["mlp"]},
    "full": {"data_scale": "small", "architectures": ["mlp"]},
}
METRICS = {
    "sp_opt_lr_shift_log2": "log2 optimal Adam LR at the widest width minus at the narrowest, standard parametrization",
    "mup_opt_lr_shift_log2": "the same shift under muP",
    "sp_opt_log2_lr_narrowest": "log2 optimal LR at the narrowest width (shared by SP and muP)",
    "sp_best_loss_widest": "lowest final training loss over the LR grid at the widest width, SP",
    "mup_best_loss_widest": "lowest final training loss over the LR grid at the widest width, muP",
}


def load_data(config, seed, device):
    if config["data"] == "mnist1d":
        return mnist1d(n_train=config["n_train"], n_test=1000, seed=seed, device=device)
    return load_cifar10(config["cifar_root"], device=device, n_train=config["n_train"])


def optimal_log2_lr(log2_lrs, losses):
    """Grid argmin of the loss, refined by a parabola through it and its neighbours."""
    i = min(range(len(losses)), key=lambda j: losses[j])
    if i == 0 or i == len(losses) - 1 or not all(map(math.isfinite, losses[i - 1 : i + 2])):
        return float(log2_lrs[i])
    a, b, c = losses[i - 1 : i + 2]
    step = log2_lrs[i + 1] - log2_lrs[i]
    curvature = a - 2 * b + c
    offset = 0.5 * (a - c) / curvature if curvature > 0 else 0.0
    return float(log2_lrs[i] + step * max(-0.5, min(0.5, offset)))


def run(config, seed, device):
    data = load_data(config, seed, device)
    d_in = math.prod(data.x_train.shape[1:])
    base = config["widths"][0]
    losses, curves = {}, {}
    for param in ("standard", "mup"):
        for width in config["widths"]:
            if param == "mup" and width == base:  # identical to SP at the base width
                losses[(param, width)] = losses[("standard", width)]
                continue
            row = []
            for log2_lr in config["log2_lrs"]:
                model = MLP(d_in, width, config["depth"], data.n_classes,
                            parametrization=param, base_width=base, seed=seed)
                result = train(model, data, steps=config["steps"], lr=2.0**log2_lr,
                               optimizer="adam", batch_size=config["batch_size"], seed=seed,
                               device=device, eval_every=config["steps"])
                loss = result.final_train_loss
                row.append(loss if math.isfinite(loss) and not result.diverged else math.inf)
            losses[(param, width)] = row
            curves[f"train_loss_vs_log2_lr_{param}_w{width}"] = {
                "x": config["log2_lrs"], "y": [min(v, 1e6) for v in row]}

    wide = config["widths"][-1]
    opt = {k: optimal_log2_lr(config["log2_lrs"], v) for k, v in losses.items()}
    metrics = {
        "sp_opt_lr_shift_log2": opt[("standard", wide)] - opt[("standard", base)],
        "mup_opt_lr_shift_log2": opt[("mup", wide)] - opt[("mup", base)],
        "sp_opt_log2_lr_narrowest": opt[("standard", base)],
        "sp_best_loss_widest": min(losses[("standard", wide)]),
        "mup_best_loss_widest": min(losses[("mup", wide)]),
    }
    for param in ("standard", "mup"):
        curves[f"opt_log2_lr_vs_width_{param}"] = {
            "x": config["widths"], "y": [opt[(param, w)] for w in config["widths"]]}
    return {"metrics": metrics, "curves": curves}


if __name__ == "__main__":
    from kb.experiment import standalone

    standalone(run, SCALES)
