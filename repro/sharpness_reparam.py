"""Sharp minima can be made flat (and flat ones sharp) without changing the function.

Reproduces: Dinh, Pascanu, Bengio & Bengio 2017, "Sharp Minima Can Generalize for Deep
Nets", Sec. 4 (Theorem 3 / Fig. 2, the alpha-scale transformation): for a ReLU network,
T_alpha(W1, W2) = (alpha W1, W2 / alpha) computes exactly the same function, yet the
Hessian of the loss changes by factors alpha^2 and 1/alpha^2 on the two blocks, so the top
Hessian eigenvalue ("sharpness") can be made arbitrarily large. If sharpness as measured by
lambda_max were a property of the learned function it would not move under T_alpha.

Tests:  flat-minima-generalize / sharpness-invariant-under-rescaling
        (sharpness_ratio_rescaled_vs_original ≈ 1 ± 0.1; Dinh et al. predict it fails)

Procedure: train a ReLU MLP (two hidden layers) to a low training loss with Adam; move it
to float64; measure the top eigenvalue of the cross-entropy Hessian on the whole training
set by power iteration (kb.lab.hessian.top_hessian_eigenvalue); then, for each alpha in
ALPHAS, multiply the first layer's weights and bias by alpha and divide the second layer's
weights by alpha (ReLU is positively homogeneous, so every output is unchanged), and
measure lambda_max and the largest absolute change of any test-set logit again.

Smoke: sklearn digits (1,437 training images), a 64-100-100-10 MLP; ~6 s per seed on one
CPU thread. Smoke result (seeds 0, 1): outputs change by ~1e-14 while lambda_max grows 25x
(alpha = 10) and 13-15x (alpha = 1/10), as Dinh et al. say, against the prediction. Full: 10,000 CIFAR-10 training images from a local copy (`cifar_root`) and a
3072-512-512-10 MLP; a few minutes per seed on one GPU.
"""

import copy
import math

import torch

from kb.lab.cifar import load_cifar10
from kb.lab.data import digits
from kb.lab.hessian import top_hessian_eigenvalue
from kb.lab.models import MLP
from kb.lab.train import evaluate, train

SCALES = {
    "smoke": {
        "data": "digits",
        "n_train": None,  # all 1,437 training images
        "width": 100,  # units per hidden layer (two hidden layers)
        "lr": 1e-3,  # Adam
        "batch_size": 64,
        "steps": 1500,  # enough to drive the training loss near zero on digits
        "alpha": 10.0,  # the rescaling the prediction is about
        "alphas": [0.1, 0.3, 1.0, 3.0, 10.0],  # for the sharpness-vs-alpha curve
        "power_iters": 300,  # max power-iteration steps per eigenvalue
        "power_tol": 1e-6,  # relative change at which power iteration stops
        "hessian_examples": None,  # None = the whole training set
    },
    "full": {
        "data": "cifar10",
        "cifar_root": "data/cifar-10-batches-py",
        "n_train": 10000,
        "width": 512,
        "lr": 1e-3,
        "batch_size": 128,
        "steps": 10000,
        "alpha": 10.0,
        "alphas": [0.1, 0.3, 1.0, 3.0, 10.0],
        "power_iters": 300,
        "power_tol": 1e-6,
        "hessian_examples": 5000,
    },
}
REGIME = {
    "smoke": {"data_scale": "toy", "architectures": ["mlp"]},
    "full": {"data_scale": "small", "architectures": ["mlp"]},
}
METRICS = {
    "sharpness_ratio_rescaled_vs_original": "top Hessian eigenvalue after the alpha-rescaling over before (alpha = config alpha)",
    "sharpness_ratio_inverse_alpha": "the same ratio for 1/alpha (first layer divided, second multiplied)",
    "output_max_abs_diff": "largest absolute change of any test logit caused by the rescaling (float64)",
    "sharpness_original": "top Hessian eigenvalue of the training loss at the trained weights",
    "train_loss": "training cross-entropy at the trained weights",
    "test_acc": "test accuracy of the trained network (identical for every alpha)",
}


def load_data(config, seed, device):
    if config["data"] == "digits":
        return digits(seed=seed, device=device)
    return load_cifar10(config["cifar_root"], device=device, n_train=config["n_train"])


def rescaled(model, alpha):
    """T_alpha: first layer (weights and bias) times alpha, second layer's weights over alpha."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        out.hidden[0].weight.mul_(alpha)
        out.hidden[0].bias.mul_(alpha)
        out.hidden[1].weight.div_(alpha)
    return out


def run(config, seed, device):
    data = load_data(config, seed, device)
    d_in = math.prod(data.x_train.shape[1:])
    model = MLP(d_in, config["width"], 2, data.n_classes, seed=seed).to(device)
    train(model, data, steps=config["steps"], lr=config["lr"], optimizer="adam",
          batch_size=config["batch_size"], seed=seed, device=device)

    # Measure in float64 so the "unchanged outputs" check is at round-off level.
    model = model.double().eval()
    n_h = config["hessian_examples"] or data.n_train
    x_h, y_h = data.x_train[:n_h].double(), data.y_train[:n_h]
    x_test = data.x_test.double()
    train_loss, _ = evaluate(model, data.x_train.double(), data.y_train)
    _, test_acc = evaluate(model, x_test, data.y_test)
    with torch.no_grad():
        logits = model(x_test)

    def sharpness(m):
        return top_hessian_eigenvalue(m, "ce", x_h, y_h, iters=config["power_iters"],
                                      tol=config["power_tol"], seed=seed)

    base = sharpness(model)
    alphas = sorted(set(config["alphas"]) | {config["alpha"], 1.0 / config["alpha"]})
    ratios, diffs = {}, {}
    for alpha in alphas:
        m = rescaled(model, alpha)
        with torch.no_grad():
            diffs[alpha] = float((m(x_test) - logits).abs().max())
        ratios[alpha] = sharpness(m) / base
    metrics = {
        "sharpness_ratio_rescaled_vs_original": ratios[config["alpha"]],
        "sharpness_ratio_inverse_alpha": ratios[1.0 / config["alpha"]],
        "output_max_abs_diff": max(diffs.values()),
        "sharpness_original": base,
        "train_loss": train_loss,
        "test_acc": test_acc,
    }
    curves = {"sharpness_ratio_vs_alpha": {"x": alphas, "y": [ratios[a] for a in alphas]}}
    return {"metrics": metrics, "curves": curves}


if __name__ == "__main__":
    from kb.experiment import standalone

    standalone(run, SCALES)
