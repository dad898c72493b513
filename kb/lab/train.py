"""The training loop: whole data set on the device, index-tensor batches, no per-step syncs.

``train`` runs SGD / Adam / sign descent for a number of steps or epochs and returns a
``TrainResult`` with curves and final metrics. The only host-device synchronisation is at
evaluation points (every ``eval_every`` steps): the step loss is accumulated on the device,
and a non-finite running loss there stops the run with ``diverged=True`` (never an
exception). Full-batch gradient descent is ``batch_size=None`` (or >= the training set size).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kb.lab.dataset import Dataset, batches
from kb.lab.rng import generator as make_generator

LossName = Literal["ce", "mse"]
LossFn = Callable[[Tensor, Tensor], Tensor]


# ----------------------------------------------------------------------------------------
# Losses


def mse_loss(outputs: Tensor, y: Tensor) -> Tensor:
    """Square loss ``mean_i 0.5 * ||f(x_i) - y_i||^2`` (sum over outputs, mean over examples).

    Integer labels are one-hot encoded (classification with square loss, Hui & Belkin 2021).
    The 1/2 and per-example sum make the Hessian of a linear model ``X^T X / n``, the usual
    convention in edge-of-stability work (sharpness 2/lr).
    """
    if not torch.is_floating_point(y):
        y = F.one_hot(y, outputs.shape[-1]).to(outputs.dtype)
    y = y.reshape(outputs.shape)
    return 0.5 * (outputs - y).pow(2).flatten(1).sum(dim=1).mean()


def cross_entropy(outputs: Tensor, y: Tensor) -> Tensor:
    """Mean softmax cross-entropy; LM outputs (B, T, V) with labels (B, T) are flattened."""
    return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), y.reshape(-1))


def loss_function(name: LossName | LossFn) -> LossFn:
    """``"ce"`` -> cross-entropy, ``"mse"`` -> ``mse_loss``; a callable is returned as is."""
    if callable(name):
        return name
    losses: dict[str, LossFn] = {"ce": cross_entropy, "mse": mse_loss}
    if name not in losses:
        raise ValueError(f"unknown loss {name!r}: use 'ce', 'mse' or a callable")
    return losses[name]


# ----------------------------------------------------------------------------------------
# Sign descent


class SignSGD(torch.optim.Optimizer):
    """Sign descent: ``p -= lr * sign(m)``, with m the gradient or its momentum average.

    With ``momentum = beta > 0`` this is Signum (Bernstein et al. 2018): ``m = beta m +
    (1 - beta) g``, m starting at the first gradient (as torch's SGD momentum does).
    ``weight_decay`` is added to the gradient before the sign (coupled).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        if lr <= 0 or not 0.0 <= momentum < 1.0:
            raise ValueError(f"need lr > 0 and 0 <= momentum < 1, got {lr}, {momentum}")
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One sign step for every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta, wd = group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad if wd == 0 else p.grad.add(p, alpha=wd)
                if beta > 0:
                    buf = self.state[p].get("momentum_buffer")
                    if buf is None:
                        buf = self.state[p]["momentum_buffer"] = g.clone()
                    else:
                        buf.mul_(beta).add_(g, alpha=1 - beta)
                    g = buf
                p.add_(torch.sign(g), alpha=-group["lr"])
        return loss


def make_optimizer(
    model: nn.Module, name: str, lr: float, momentum: float = 0.0, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """An optimizer ("sgd", "adam", "adamw" or "sign") over the model's param groups.

    Models with a ``param_groups(lr, optimizer)`` method (the muP ``MLP``) supply per-layer
    learning rates; otherwise all trainable parameters share ``lr``. ``momentum`` is SGD's
    heavy-ball momentum, Adam's beta1, or Signum's beta.
    """
    param_groups = getattr(model, "param_groups", None)
    if callable(param_groups):
        groups: Any = param_groups(lr, name)
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": lr}]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        betas = (momentum or 0.9, 0.999)
        return cls(groups, lr=lr, betas=betas, weight_decay=weight_decay)
    if name == "sign":
        return SignSGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}: use 'sgd', 'adam', 'adamw' or 'sign'")


# ----------------------------------------------------------------------------------------
# Evaluation


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    batch_size: int = 4096,
    loss: LossName | LossFn = "ce",
) -> tuple[float, float]:
    """(mean loss, accuracy) of ``model`` on (x, y) in eval mode; accuracy is NaN for float y.

    Batched only to bound memory; the loss is the example-weighted mean over batches. The
    model's train/eval mode is restored afterwards.
    """
    loss_fn = loss_function(loss)
    was_training = model.training
    model.eval()
    total_loss, correct, n = 0.0, 0, len(x)
    classify = not torch.is_floating_point(y)
    for start in range(0, n, batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        out = model(xb)
        total_loss += float(loss_fn(out, yb)) * len(xb)
        if classify:
            correct += int((out.argmax(dim=-1) == yb).sum())
    model.train(was_training)
    return total_loss / max(n, 1), (correct / max(y.numel(), 1) if classify else math.nan)


# ----------------------------------------------------------------------------------------
# Training


@dataclass
class TrainResult:
    """Curves recorded at every evaluation point, and the final metrics.

    ``train_loss[i]`` is the mean minibatch loss over the steps since the previous point
    (free: no extra forward passes); test metrics are full passes over the test set;
    accuracies are NaN for regression. ``diverged`` is True when a non-finite loss stopped
    the run, in which case ``steps`` ends at the step where that was detected.
    """

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    final_train_loss: float = math.nan  # full pass over the training set at the end
    final_train_acc: float = math.nan
    final_test_loss: float = math.nan
    final_test_acc: float = math.nan
    diverged: bool = False
    n_steps: int = 0  # optimizer steps actually taken
    seconds: float = 0.0  # wall time of the loop, evaluation included

    def curve(self, name: str) -> list[tuple[int, float]]:
        """(step, value) pairs of one of "train_loss", "test_loss", "test_acc"."""
        values: list[float] = getattr(self, name)
        return list(zip(self.steps, values, strict=True))


def steps_to_target(
    curve: Sequence[tuple[int, float]], target: float, higher_is_better: bool = True
) -> int | None:
    """First step at which the curve reaches ``target`` (>= it, or <= it for losses).

    None if it never does. Resolution is the evaluation interval of the run.
    """
    for step, value in curve:
        if (value >= target) if higher_is_better else (value <= target):
            return step
    return None


def ratio_bound(numerator: str | None, denominator: str | None) -> str | None:
    """Which bound a ratio a / b is, given a's and b's ("lower", "upper" or None if exact).

    A censored-lower numerator makes a lower bound, a censored-lower denominator an upper
    bound; both censored the same way leaves no direction (None: report no bound).
    """
    flip = {"lower": "upper", "upper": "lower"}
    from_den = flip[denominator] if denominator else None
    if numerator and from_den:
        return numerator if numerator == from_den else None
    return numerator or from_den


def train(
    model: nn.Module,
    data: Dataset,
    steps: int | None = None,
    epochs: float | None = None,
    lr: float = 0.1,
    optimizer: str = "sgd",
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    batch_size: int | None = 128,
    loss: LossName | LossFn = "ce",
    seed: int = 0,
    device: str | torch.device = "cpu",
    eval_every: int | None = None,
    callback: Callable[[int, nn.Module], bool | None] | None = None,
    lr_schedule: Callable[[int], float] | None = None,
    drop_last: bool = False,
) -> TrainResult:
    """Train ``model`` in place on ``data`` and return its curves and final metrics.

    Length: ``steps`` optimizer steps, or ``epochs`` passes (fractions allowed); exactly one.
    ``batch_size=None`` or >= n_train is full-batch GD. ``seed`` fixes the batch order only
    (build the model with its own ``seed``). ``eval_every`` defaults to 20 points per run.
    ``lr_schedule(step)`` multiplies every group's base LR at each step (warmup, decay).
    ``callback(step, model)`` runs at each evaluation point after the metrics are recorded;
    returning True stops training (e.g. a target accuracy was reached).
    A run whose running loss becomes NaN/inf stops at the next evaluation point with
    ``diverged=True``; final metrics are then left NaN.
    """
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps or epochs")
    loss_fn = loss_function(loss)
    data = data.to(device)
    model.to(device)
    n = data.n_train
    bs = n if batch_size is None or batch_size >= n else batch_size
    per_epoch = n // bs if drop_last else math.ceil(n / bs)
    total = int(steps) if steps is not None else max(1, round(float(epochs or 0) * per_epoch))
    every = eval_every or max(1, total // 20)
    opt = make_optimizer(model, optimizer, lr, momentum, weight_decay)
    base_lrs = [g["lr"] for g in opt.param_groups]
    gen = make_generator(seed)
    full_batch = bs >= n

    result = TrainResult()
    model.train()
    running = torch.zeros((), device=device)
    since, step = 0, 0
    start = time.perf_counter()
    while step < total and not result.diverged:
        epoch: Iterable[Tensor | None] = (
            [None] if full_batch else batches(n, bs, gen, drop_last, device)
        )
        for idx in epoch:
            if lr_schedule is not None:
                factor = lr_schedule(step)
                for group, base in zip(opt.param_groups, base_lrs, strict=True):
                    group["lr"] = base * factor
            xb = data.x_train if idx is None else data.x_train[idx]
            yb = data.y_train if idx is None else data.y_train[idx]
            batch_loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            batch_loss.backward()
            opt.step()
            running += batch_loss.detach()
            step, since = step + 1, since + 1
            if step % every == 0 or step == total:
                mean_loss = float(running) / since
                running.zero_()
                since = 0
                if not math.isfinite(mean_loss):
                    result.diverged = True
                    result.steps.append(step)
                    result.train_loss.append(mean_loss)
                    result.test_loss.append(math.nan)
                    result.test_acc.append(math.nan)
                    break
                test_loss, test_acc = evaluate(model, data.x_test, data.y_test, loss=loss_fn)
                model.train()
                result.steps.append(step)
                result.train_loss.append(mean_loss)
                result.test_loss.append(test_loss)
                result.test_acc.append(test_acc)
                if callback is not None and callback(step, model):
                    total = step
            if step >= total:
                break
    result.n_steps = step
    if not result.diverged:
        result.final_train_loss, result.final_train_acc = evaluate(
            model, data.x_train, data.y_train, loss=loss_fn
        )
        if result.steps and result.steps[-1] == step:  # just evaluated: reuse it
            result.final_test_loss, result.final_test_acc = (
                result.test_loss[-1],
                result.test_acc[-1],
            )
        else:
            result.final_test_loss, result.final_test_acc = evaluate(
                model, data.x_test, data.y_test, loss=loss_fn
            )
        if not math.isfinite(result.final_train_loss):
            result.diverged = True  # the very last steps blew up after the last check
    result.seconds = time.perf_counter() - start
    return result
