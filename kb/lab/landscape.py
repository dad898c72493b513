"""The loss landscape around the training trajectory.

- ``gradient_step_probe`` / ``gradient_predictiveness`` / ``effective_smoothness``: loss and
  gradient along the gradient direction (Santurkar et al. 2018, §3.1 and Fig. 4).
- ``internal_covariate_shift``: Santurkar et al. 2018's Definition 2.1 (§2.2, Fig. 5).
- ``layer_input_moments`` / ``input_distribution_shift``: how much each layer's input
  distribution moves between two points of training (Santurkar et al. 2018, Fig. 2).
- ``interpolation_losses``: loss along the straight line between two solutions (barriers,
  linear mode connectivity).

All functions leave the model's parameters, buffers (BatchNorm running statistics) and
train/eval mode as they found them. Call them from a training callback to follow a run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from kb.lab.norms import snapshot_noise
from kb.lab.train import LossFn, LossName, evaluate, loss_function


def _checkpoint(model: nn.Module) -> Callable[[], None]:
    """Capture parameters, buffers and NoisyBatchNorm noise streams; call the result to
    restore them (so every pass of a measurement sees the same BN statistics and noise)."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    restore_noise = snapshot_noise(model)

    def restore() -> None:
        model.load_state_dict(state)
        restore_noise()

    return restore


def _loss_and_grads(
    model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, params: Sequence[Tensor]
) -> tuple[float, list[Tensor]]:
    """Loss on (x, y) and its gradient w.r.t. ``params`` (zeros for unused ones)."""
    with torch.enable_grad():
        loss = loss_fn(model(x), y)
        out = torch.autograd.grad(loss, list(params), allow_unused=True)
    grads = [
        torch.zeros_like(p) if g is None else g.detach() for g, p in zip(out, params, strict=True)
    ]
    return float(loss.detach()), grads


def _norm(ts: Iterable[Tensor]) -> float:
    """Euclidean norm of a list of tensors viewed as one vector."""
    return math.sqrt(sum(float(t.pow(2).sum()) for t in ts))


# ----------------------------------------------------------------------------------------
# Santurkar et al. 2018 §3.1: loss and gradient along the gradient direction


@dataclass
class GradientStepProbe:
    """Loss and gradient at theta - eta * g for each step size eta (g the gradient at theta).

    ``losses[k] = L(theta - eta_k g)``; ``grad_changes[k] = ||grad L(theta - eta_k g) - g||_2``;
    ``distances[k] = eta_k ||g||_2`` (how far the step moved).
    """

    step_sizes: list[float]
    loss: float  # L(theta)
    grad_norm: float  # ||g||_2
    losses: list[float]
    grad_changes: list[float]
    distances: list[float]

    @property
    def loss_range(self) -> tuple[float, float]:
        """(min, max) loss over the steps: the shaded band of Santurkar et al.'s Fig. 4a."""
        return min(self.losses), max(self.losses)

    @property
    def effective_smoothness(self) -> float:
        """max_k ||grad change|| / distance: Fig. 4c's "effective" beta-smoothness."""
        return max(
            (c / d for c, d in zip(self.grad_changes, self.distances, strict=True) if d > 0),
            default=0.0,
        )


def gradient_step_probe(
    model: nn.Module,
    loss_fn: LossName | LossFn,
    x: Tensor,
    y: Tensor,
    step_sizes: Sequence[float] = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4),
) -> GradientStepProbe:
    """Move along the gradient by each step size and record loss and gradient there.

    This is the measurement behind Santurkar et al. 2018 §3.1 / Fig. 4: at a point of the
    training trajectory (call it from a training callback), compute g = grad L(theta) on the
    batch (x, y), then for each eta in ``step_sizes`` (absolute step sizes, like learning
    rates: theta_k = theta - eta g) evaluate L(theta_k) and grad L(theta_k) on the same batch.
    The paper plots (a) the range of L(theta_k), (b) the range of ||grad L(theta_k) - g||
    ("gradient predictiveness": smaller is more predictive) and (c) the maximum of
    ||grad L(theta_k) - g|| / ||theta_k - theta|| ("effective beta-smoothness"). The default
    step sizes span [0.05, 0.4]; we could not confirm the paper's exact range, so pass the
    ones you need (e.g. multiples of the training LR). BatchNorm stays in its current mode;
    the model is restored afterwards.
    """
    loss_f = loss_function(loss_fn)
    params = [p for p in model.parameters() if p.requires_grad]
    restore = _checkpoint(model)
    base_loss, g = _loss_and_grads(model, loss_f, x, y, params)
    g_norm = _norm(g)
    losses, changes, distances = [], [], []
    for eta in step_sizes:
        restore()  # also undoes BN running-stat updates and noise draws of the last pass
        with torch.no_grad():
            for p, gp in zip(params, g, strict=True):
                p.sub_(eta * gp)
        loss_k, g_k = _loss_and_grads(model, loss_f, x, y, params)
        losses.append(loss_k)
        changes.append(_norm(a - b for a, b in zip(g_k, g, strict=True)))
        distances.append(abs(eta) * g_norm)
    restore()
    return GradientStepProbe(
        [float(e) for e in step_sizes], base_loss, g_norm, losses, changes, distances
    )


def gradient_predictiveness(
    model: nn.Module,
    loss_fn: LossName | LossFn,
    x: Tensor,
    y: Tensor,
    step_sizes: Sequence[float] = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4),
) -> tuple[float, float]:
    """(min, max) over step sizes of ||grad L(theta - eta g) - grad L(theta)||_2 (Fig. 4b)."""
    probe = gradient_step_probe(model, loss_fn, x, y, step_sizes)
    return min(probe.grad_changes), max(probe.grad_changes)


def effective_smoothness(
    model: nn.Module,
    loss_fn: LossName | LossFn,
    x: Tensor,
    y: Tensor,
    step_sizes: Sequence[float] = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4),
) -> float:
    """max over step sizes of ||grad L(theta - eta g) - g||_2 / (eta ||g||_2) (Fig. 4c)."""
    return gradient_step_probe(model, loss_fn, x, y, step_sizes).effective_smoothness


# ----------------------------------------------------------------------------------------
# Santurkar et al. 2018 §2.2: internal covariate shift


@dataclass
class ICSMeasure:
    """Gradient of one layer before (G) and after (G') the layers below it take their step."""

    layer: int
    l2: float  # ||G - G'||_2
    cosine: float  # <G, G'> / (||G|| ||G'||)
    grad_norm: float  # ||G||_2, to put l2 on a scale


def _weight_layers(model: nn.Module) -> list[nn.Module]:
    """Modules owning a rank >= 2 weight, in registration (for our models: forward) order."""
    layers = []
    for m in model.modules():
        weight = getattr(m, "weight", None)
        if isinstance(weight, nn.Parameter) and weight.dim() >= 2:
            layers.append(m)
    return layers


def internal_covariate_shift(
    model: nn.Module,
    loss_fn: LossName | LossFn,
    x: Tensor,
    y: Tensor,
    lr: float,
    layers: Sequence[nn.Module] | None = None,
) -> list[ICSMeasure]:
    """Santurkar et al.'s Definition 2.1 of ICS, for every layer, on the batch (x, y).

    For layer i with parameters W_i: G_i = grad_{W_i} L(W_1, ..., W_k) at the current point,
    and G'_i = grad_{W_i} L(W_1', ..., W_{i-1}', W_i, ..., W_k) after the layers *below* i
    have taken their update W_j' = W_j - lr * G_j while layers i..k are unchanged; both on the
    same batch. ICS is ||G_i - G'_i||_2 (and the paper's Fig. 5 also shows their cosine).
    The update is a plain SGD step (the paper uses the training optimizer's actual update,
    which coincides for SGD without momentum). ``layers`` defaults to every module with a
    rank >= 2 weight (linear/conv), each contributing all its direct parameters; parameters
    outside those modules (e.g. norm gains) are not moved. O(k) forward/backward passes.
    """
    loss_f = loss_function(loss_fn)
    layer_list = list(layers) if layers is not None else _weight_layers(model)
    groups = [[p for p in m.parameters(recurse=False) if p.requires_grad] for m in layer_list]
    flat = [p for grp in groups for p in grp]
    restore = _checkpoint(model)
    _, g_all = _loss_and_grads(model, loss_f, x, y, flat)
    grads: dict[int, Tensor] = {id(p): g for p, g in zip(flat, g_all, strict=True)}
    out = []
    for i, grp in enumerate(groups):
        restore()
        with torch.no_grad():
            for below in groups[:i]:
                for p in below:
                    p.sub_(lr * grads[id(p)])
        _, g_new = _loss_and_grads(model, loss_f, x, y, grp)
        g_old = [grads[id(p)] for p in grp]
        n_old, n_new = _norm(g_old), _norm(g_new)
        dot = sum(float((a * b).sum()) for a, b in zip(g_old, g_new, strict=True))
        out.append(
            ICSMeasure(
                layer=i,
                l2=_norm(a - b for a, b in zip(g_old, g_new, strict=True)),
                cosine=dot / (n_old * n_new) if n_old > 0 and n_new > 0 else math.nan,
                grad_norm=n_old,
            )
        )
    restore()
    return out


def layer_input_moments(
    model: nn.Module, x: Tensor, layers: Sequence[nn.Module] | None = None
) -> list[tuple[Tensor, Tensor]]:
    """Per-unit (mean, std) of each layer's input on the batch ``x``, as training sees it.

    The forward pass runs in training mode (batch statistics, NoisyBatchNorm noise on), so
    it shows the distribution a layer is fed during training; parameters, buffers, noise
    streams and mode are restored afterwards. ``layers`` defaults to every module with a
    rank >= 2 weight. Moments are over the batch (and positions, for convs) per channel.
    Santurkar et al. 2018 (Fig. 2) show such per-layer input distributions drifting over
    training; ``input_distribution_shift`` compares two of these snapshots.
    """
    layer_list = list(layers) if layers is not None else _weight_layers(model)
    moments: list[tuple[Tensor, Tensor]] = []

    def hook(_m: nn.Module, args: tuple[Tensor, ...]) -> None:
        a = args[0].detach()
        flat = a.transpose(0, 1).reshape(a.shape[1], -1) if a.dim() > 2 else a.T
        moments.append((flat.mean(dim=1), flat.std(dim=1)))

    restore = _checkpoint(model)
    was_training = model.training
    handles = [m.register_forward_pre_hook(hook) for m in layer_list]
    try:
        model.train()
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        restore()
        model.train(was_training)
    return moments


def input_distribution_shift(
    before: Sequence[tuple[Tensor, Tensor]], after: Sequence[tuple[Tensor, Tensor]]
) -> float:
    """Mean over layers and units of |mean_after - mean_before| + |std_after - std_before|,
    for two ``layer_input_moments`` snapshots (the first layer, fed the data, is skipped)."""
    shifts = [
        float(((m1 - m0).abs() + (s1 - s0).abs()).mean())
        for (m0, s0), (m1, s1) in list(zip(before, after, strict=True))[1:]
    ]
    return sum(shifts) / len(shifts) if shifts else math.nan


# ----------------------------------------------------------------------------------------
# Linear interpolation and lesions


@dataclass
class Interpolation:
    """Loss and accuracy along theta(alpha) = (1 - alpha) theta_a + alpha theta_b."""

    alphas: list[float]
    losses: list[float]
    accuracies: list[float]

    @property
    def barrier(self) -> float:
        """max_alpha [L(alpha) - ((1 - alpha) L(0) + alpha L(1))] (Frankle et al. 2020)."""
        l0, l1 = self.losses[0], self.losses[-1]
        return max(
            loss - ((1 - a) * l0 + a * l1) for a, loss in zip(self.alphas, self.losses, strict=True)
        )


def interpolation_losses(
    model_a_state: Mapping[str, Tensor],
    model_b_state: Mapping[str, Tensor],
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    n_points: int = 11,
    loss: LossName | LossFn = "ce",
) -> Interpolation:
    """Evaluate ``model`` (eval mode) at ``n_points`` evenly spaced points between two states.

    Floating-point entries of the state dicts (weights and BN running statistics) are
    interpolated as (1 - alpha) a + alpha b, which is exact at both endpoints; integer
    buffers are taken from a. Interpolated BN statistics are not the statistics of the
    interpolated network (see REPAIR, Jordan et al. 2023): recompute them if that matters.
    """
    restore = _checkpoint(model)
    alphas = [i / (n_points - 1) for i in range(n_points)] if n_points > 1 else [0.0]
    losses, accs = [], []
    for a in alphas:
        state = {
            k: ((1 - a) * v + a * model_b_state[k]) if torch.is_floating_point(v) else v
            for k, v in model_a_state.items()
        }
        model.load_state_dict(state)
        lo, acc = evaluate(model, x, y, loss=loss)
        losses.append(lo)
        accs.append(acc)
    restore()
    return Interpolation(alphas, losses, accs)
