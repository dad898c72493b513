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

The identity above is what the registered prediction tests, so its "fails" cannot refute
"flat minima generalize": lambda_max moves under T_alpha by construction. The run therefore
also measures adaptive sharpness (Kwon et al. 2021: the top eigenvalue of diag|w| H diag|w|,
kb.lab.hessian with scale=|w|), which T_alpha cannot change; a prediction about whether an
invariant measure tracks generalisation needs a separate experiment.

Deviations from the paper:
- Dinh et al.: a theoretical construction (Theorem 3 / Fig. 2) with no training constants to
  reproduce [checked]. Keskar et al., whose sharpness the claim rests on: Adam, large batch =
  10% of the data, small batch 256, trained until the loss stops improving [checked].
- Ours: a 64-100-100-10 ReLU MLP on sklearn digits (Adam 1e-3, batch 64, 1,500 steps: our
  choices), lambda_max by power iteration in float64 on the whole training set.

Smoke: sklearn digits (1,437 training images), a 64-100-100-10 MLP; ~5 s per seed on one
CPU thread (measured, seed 0: lambda_max x24.9 at alpha = 10, adaptive sharpness x1.000).
Earlier smoke result (seeds 0, 1): outputs change by ~1e-14 while lambda_max grows
25x (alpha = 10) and 13-15x (alpha = 1/10), as Dinh et al. say. Full: 10,000 CIFAR-10
training images from a local copy (`cifar_root`) and a 3072-512-512-10 MLP; a few minutes
per seed on one GPU.
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
    "sharpness_ratio_rescaled_vs_original": {
        "description": "top Hessian eigenvalue after the alpha-rescaling over before (alpha = config alpha)",
        "label": "λ_max, rescaled ÷ original", "unit": "×", "scale": "log"},
    "sharpness_ratio_inverse_alpha": {
        "description": "the same ratio for 1/alpha (first layer divided, second multiplied)",
        "label": "λ_max, 1/alpha-rescaled ÷ original", "unit": "×", "scale": "log"},
    "adaptive_sharpness_ratio_rescaled_vs_original": {
        "description": "adaptive sharpness (top eigenvalue of diag|w| H diag|w|, Kwon et al. 2021) after the "
                       "alpha-rescaling over before: a measure the rescaling cannot change",
        "label": "Adaptive sharpness, rescaled ÷ original", "unit": "×", "scale": "log"},
    "adaptive_sharpness_original": {
        "description": "adaptive sharpness at the trained weights",
        "label": "Adaptive sharpness", "unit": "", "scale": "log"},
    "output_max_abs_diff": {
        "description": "largest absolute change of any test logit caused by the rescaling (float64)",
        "label": "Largest logit change", "unit": "", "scale": "log"},
    "sharpness_original": {"description": "top Hessian eigenvalue of the training loss at the trained weights",
                           "label": "λ_max", "unit": "", "scale": "log"},
    "train_loss": {"description": "training cross-entropy at the trained weights",
                   "label": "Train loss", "unit": "nats"},
    "test_acc": {"description": "test accuracy of the trained network (identical for every alpha)",
                 "label": "Test accuracy", "unit": ""},
}
VALIDITY = {
    "function_preserved": {
        "metric": "output_max_abs_diff",
        "expect": "< 1e-8",
        "why": "the rescaling must leave every output unchanged (float64), or it is not Dinh et al.'s T_alpha",
    },
    "at_a_minimum": {
        "metric": "train_loss",
        "expect": "< 0.05",
        "why": "sharpness is a property of a minimum; a Hessian far from one measures something else",
    },
}
MULTIVERSE = {
    "smoke": {"alpha": [3.0, 10.0, 100.0], "steps": [750, 1500, 3000]},
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

    def adaptive(m):
        return top_hessian_eigenvalue(m, "ce", x_h, y_h, iters=config["power_iters"],
                                      tol=config["power_tol"], seed=seed,
                                      scale=[p.detach().abs() for p in m.parameters()])

    adaptive_base = adaptive(model)
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
        "adaptive_sharpness_ratio_rescaled_vs_original": adaptive(rescaled(model, config["alpha"])) / adaptive_base,
        "adaptive_sharpness_original": adaptive_base,
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
