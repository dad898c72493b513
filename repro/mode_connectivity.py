"""Mode connectivity: a trained one-bend path joins two independently trained minima.

Reproduces: Garipov, Izmailov, Podoprikhin, Vetrov & Wilson 2018, "Loss Surfaces, Mode
Connectivity, and Fast Ensembling of DNNs" (NeurIPS 2018), Sec. 3 (curve finding) and the
polygonal-chain result: independently trained optima are joined by simple curves "along which
train and test accuracy stay nearly constant", while the straight line between them crosses a
region of high loss.

Tests:  minima-form-connected-manifold / curve-removes-barrier
        (barrier_ratio_curve_over_linear < 0.1)

Two MLPs (same architecture, different initial weights and batch orders) are trained to
convergence on MNIST-1D. The straight line theta(t) = (1 - t) theta_a + t theta_b and a
polygonal chain with one bend theta_c,

    phi(t) = 2 (t theta_c + (0.5 - t) theta_a)            for 0 <= t <= 0.5
    phi(t) = 2 ((t - 0.5) theta_b + (1 - t) theta_c)      for 0.5 <= t <= 1,

are compared. Only the bend is trained (initialised at the midpoint of the line, which is
where the chain starts as the line itself): at each step t ~ U(0, 1) is drawn and the
minibatch loss at phi(t) is minimised with respect to theta_c, as in Garipov et al.'s curve
training. The barrier of a path is max_t [L(path(t)) - ((1 - t) L(0) + t L(1))] over
`n_points` evenly spaced t, on the whole training set (the definition of Frankle et al. 2020
used in kb.lab.landscape); the same is reported for test loss and test error.

Smoke: MNIST-1D (4,000 train / 1,000 test), MLP 2 x 256 ReLU, Adam 1e-3 for 3,000 steps per
endpoint, bend trained with Adam 1e-3 for 3,000 steps; measured 13.5 s of CPU time (15.6 s wall)
per seed on one thread. Full: the same at 10x the training steps with width 1,024 (a GPU helps).

Deviations from the paper:
- Garipov et al. connect VGG-16, ResNet and Wide-ResNet optima on CIFAR-10/100 [checked:
  abstract and github timgaripov/dnn-mode-connectivity README]; the registered prediction and
  we use an MLP, and at smoke scale MNIST-1D instead of MNIST (offline, CPU).
- Their curve-training schedule (epochs, learning rate, weight decay) and the number of
  points at which the curve is evaluated are [not found]; ours are chosen for CPU cost.
- The "barrier" of the prediction is read as the maximum excess over the linear
  interpolation of the endpoint losses (kb.lab.landscape's definition); Garipov et al. plot
  loss and error along the curve rather than define a single barrier number.
"""

import math

import torch
from torch.func import functional_call

from kb.lab.data import mnist1d
from kb.lab.models import MLP
from kb.lab.rng import generator
from kb.lab.train import cross_entropy, train

SCALES = {
    "smoke": {
        "n_train": 4000,
        "n_test": 1000,
        "width": 256,  # units per hidden layer
        "depth": 2,  # hidden layers
        "lr": 0.001,  # Adam, for the endpoints
        "steps": 3000,  # Adam steps per endpoint
        "batch_size": 128,
        "curve_lr": 0.001,  # Adam, for the bend
        "curve_steps": 3000,  # bend-training steps, one t ~ U(0, 1) per minibatch
        "n_points": 21,  # points at which each path is evaluated
    },
    "full": {
        "n_train": 4000,
        "n_test": 1000,
        "width": 1024,
        "depth": 2,
        "lr": 0.001,
        "steps": 30000,
        "batch_size": 128,
        "curve_lr": 0.001,
        "curve_steps": 30000,
        "n_points": 61,
    },
}
REGIME = {
    "smoke": {"data_scale": "toy", "architectures": ["mlp"]},
    "full": {"data_scale": "toy", "architectures": ["mlp"]},
}
METRICS = {
    "barrier_ratio_curve_over_linear": {
        "description": "training-loss barrier along the trained one-bend curve over that along "
        "the straight line (0 = the curve removes the barrier)",
        "label": "Barrier, curve ÷ line",
        "unit": "",
    },
    "barrier_linear": {
        "description": "training-loss barrier (nats) along the straight line between the two minima",
        "label": "Barrier on the line",
        "unit": "nats",
    },
    "barrier_curve": {
        "description": "training-loss barrier (nats) along the trained one-bend curve",
        "label": "Barrier on the curve",
        "unit": "nats",
    },
    "test_error_barrier_linear": {
        "description": "max over the line of test error minus its linear interpolation between the ends",
        "label": "Test-error barrier, line",
        "unit": "",
    },
    "test_error_barrier_curve": {
        "description": "max over the curve of test error minus its linear interpolation between the ends",
        "label": "Test-error barrier, curve",
        "unit": "",
    },
    "endpoint_train_loss": {
        "description": "mean training loss of the two trained endpoints",
        "label": "Endpoint training loss",
        "unit": "nats",
    },
    "endpoint_test_acc": {
        "description": "mean test accuracy of the two trained endpoints",
        "label": "Endpoint test accuracy",
        "unit": "",
    },
}
VALIDITY = {
    "line_has_barrier": {
        "metric": "barrier_linear",
        "expect": "> 0.1",
        "why": "the straight line must cross a real barrier (> 0.1 nats) for removing it to mean "
        "anything; a ratio of two near-zero barriers is noise",
    },
    "endpoints_are_minima": {
        "metric": "endpoint_train_loss",
        "expect": "< 0.1",
        "why": "both endpoints must be trained to low training loss, or the path joins two "
        "points on a slope rather than two minima",
    },
}
MULTIVERSE = {
    "smoke": {
        "width": [64, 256, 1024],  # barriers are said to shrink with width
        "curve_steps": [1000, 3000, 6000],  # how long the bend is trained
    },
}


def chain(t, a, b, c):
    """The one-bend polygonal chain phi(t) through a (t=0), c (t=0.5), b (t=1)."""
    if t <= 0.5:
        return {k: 2 * (t * c[k] + (0.5 - t) * a[k]) for k in a}
    return {k: 2 * ((t - 0.5) * b[k] + (1 - t) * c[k]) for k in a}


def line(t, a, b):
    return {k: (1 - t) * a[k] + t * b[k] for k in a}


@torch.no_grad()
def path_profile(model, params_at, ts, x, y):
    """Loss and error of the model at each point of a path, on (x, y)."""
    losses, errors = [], []
    for t in ts:
        out = functional_call(model, params_at(t), (x,))
        losses.append(float(cross_entropy(out, y)))
        errors.append(float((out.argmax(-1) != y).float().mean()))
    return losses, errors


def barrier(ts, values):
    """max_t [v(t) - ((1 - t) v(0) + t v(1))]."""
    return max(v - ((1 - t) * values[0] + t * values[-1]) for t, v in zip(ts, values, strict=True))


def run(config, seed, device):
    data = mnist1d(n_train=config["n_train"], n_test=config["n_test"], seed=seed, device=device)
    ends, endpoint_loss, endpoint_acc = [], [], []
    for k in range(2):
        model = MLP(40, config["width"], config["depth"], 10, seed=1000 * seed + k).to(device)
        result = train(model, data, steps=config["steps"], lr=config["lr"], optimizer="adam",
                       batch_size=config["batch_size"], seed=1000 * seed + 10 + k, device=device,
                       eval_every=config["steps"])
        ends.append({n: p.detach().clone() for n, p in model.named_parameters()})
        endpoint_loss.append(result.final_train_loss if not result.diverged else math.inf)
        endpoint_acc.append(result.final_test_acc if not result.diverged else 0.0)
    a, b = ends
    bend = {k: ((a[k] + b[k]) / 2).requires_grad_(True) for k in a}
    opt = torch.optim.Adam(bend.values(), lr=config["curve_lr"])
    g = generator(1000 * seed + 20)
    n = data.n_train
    step = 0
    while step < config["curve_steps"]:
        for idx in torch.randperm(n, generator=g).split(config["batch_size"]):
            t = float(torch.rand((), generator=g))
            out = functional_call(model, chain(t, a, b, bend), (data.x_train[idx],))
            loss = cross_entropy(out, data.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step >= config["curve_steps"]:
                break
    c = {k: v.detach() for k, v in bend.items()}
    ts = [i / (config["n_points"] - 1) for i in range(config["n_points"])]
    model.eval()
    lin_train, _ = path_profile(model, lambda t: line(t, a, b), ts, data.x_train, data.y_train)
    cur_train, _ = path_profile(model, lambda t: chain(t, a, b, c), ts, data.x_train, data.y_train)
    _, lin_err = path_profile(model, lambda t: line(t, a, b), ts, data.x_test, data.y_test)
    _, cur_err = path_profile(model, lambda t: chain(t, a, b, c), ts, data.x_test, data.y_test)
    b_lin, b_cur = barrier(ts, lin_train), barrier(ts, cur_train)
    metrics = {
        "barrier_ratio_curve_over_linear": b_cur / max(b_lin, 1e-9),  # validity rejects b_lin ~ 0
        "barrier_linear": b_lin,
        "barrier_curve": b_cur,
        "test_error_barrier_linear": barrier(ts, lin_err),
        "test_error_barrier_curve": barrier(ts, cur_err),
        "endpoint_train_loss": sum(endpoint_loss) / 2,
        "endpoint_test_acc": sum(endpoint_acc) / 2,
    }
    curves = {
        "train_loss_line": {"x": ts, "y": lin_train},
        "train_loss_curve": {"x": ts, "y": cur_train},
        "test_error_line": {"x": ts, "y": lin_err},
        "test_error_curve": {"x": ts, "y": cur_err},
    }
    return {"metrics": metrics, "curves": curves}


if __name__ == "__main__":
    from kb.experiment import standalone

    standalone(run, SCALES)
