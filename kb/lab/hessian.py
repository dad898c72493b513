"""Curvature of the training loss: Hessian-vector products and the top Hessian eigenvalue.

The Hessian is that of ``loss_fn(model(x), y)`` with respect to all trainable parameters,
on exactly the (x, y) given (pass the full training set for full-batch sharpness, as in
Cohen et al. 2021, or a fixed subset). The model is used in its current mode: call
``model.eval()`` first if it has dropout, since the loss must be a fixed function.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call

from kb.lab.norms import snapshot_noise
from kb.lab.rng import generator as make_generator
from kb.lab.train import LossFn, LossName, loss_function

Vectors = list[Tensor]  # one tensor per parameter, shaped like it


def _trainable(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the Hessian is taken with respect to."""
    return [p for p in model.parameters() if p.requires_grad]


def _dot(a: Vectors, b: Vectors) -> Tensor:
    """Euclidean inner product of two parameter-shaped vector lists."""
    return sum((u * v).sum() for u, v in zip(a, b, strict=True))  # type: ignore[return-value]


def hvp_function(
    model: nn.Module, loss_fn: LossName | LossFn, x: Tensor, y: Tensor
) -> Callable[[Vectors], Vectors]:
    """A function v -> H v for the loss on (x, y), by double backward (Pearlmutter's trick).

    One forward pass and one first-order gradient with ``create_graph=True`` are done here;
    each call is then one more backward pass through that graph. BatchNorm running
    statistics and NoisyBatchNorm noise streams are left as they were.
    """
    params = _trainable(model)
    # Run on copies of the buffers and restore the noise streams, so BatchNorm running
    # statistics and NoisyBatchNorm noise are left as they were: a measurement taken from a
    # training callback must not perturb the run.
    state: dict[str, Tensor] = dict(model.named_parameters())
    state.update({name: b.clone() for name, b in model.named_buffers()})
    restore_noise = snapshot_noise(model)
    loss = loss_function(loss_fn)(functional_call(model, state, (x,)), y)
    restore_noise()
    grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    # Gradients that do not depend on the parameters (unused parameters, or a loss linear in
    # them) contribute zero rows; autograd refuses to differentiate them, so leave them out.
    live = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]

    def hvp(v: Vectors) -> Vectors:
        if not live:
            return [torch.zeros_like(p) for p in params]
        out = torch.autograd.grad(
            [grads[i] for i in live],
            params,
            grad_outputs=[v[i] for i in live],
            retain_graph=True,
            allow_unused=True,
        )
        return [torch.zeros_like(p) if h is None else h for h, p in zip(out, params, strict=True)]

    return hvp


def full_hessian(model: nn.Module, loss_fn: LossName | LossFn, x: Tensor, y: Tensor) -> Tensor:
    """The dense (P, P) Hessian, one HVP per parameter (only for tiny models; P^2 memory).

    Rows follow ``model.parameters()`` order, each parameter flattened row-major.
    """
    params = _trainable(model)
    hvp = hvp_function(model, loss_fn, x, y)
    sizes = [p.numel() for p in params]
    rows = []
    for i in range(sum(sizes)):
        e = torch.zeros(sum(sizes), dtype=params[0].dtype, device=params[0].device)
        e[i] = 1.0
        v = [t.view_as(p) for t, p in zip(e.split(sizes), params, strict=True)]
        rows.append(torch.cat([h.reshape(-1) for h in hvp(v)]))
    return torch.stack(rows)


def _power_iteration(op: Callable[[Vectors], Vectors], v: Vectors, iters: int, tol: float) -> float:
    """Dominant eigenvalue (largest |lambda|) of a symmetric operator, via Rayleigh quotients.

    Stops when successive estimates differ by at most ``tol`` relative, or after ``iters``.
    """
    norm = _dot(v, v).sqrt()
    v = [t / norm for t in v]
    estimate = float("nan")
    for _ in range(iters):
        hv = op(v)
        new = float(_dot(v, hv))  # Rayleigh quotient (v has unit norm)
        norm = _dot(hv, hv).sqrt()
        if float(norm) == 0.0:
            return 0.0
        v = [t / norm for t in hv]
        if abs(new - estimate) <= tol * abs(new):
            return new
        estimate = new
    return estimate


def top_hessian_eigenvalue(
    model: nn.Module,
    loss_fn: LossName | LossFn,
    x: Tensor,
    y: Tensor,
    iters: int = 100,
    tol: float = 1e-4,
    seed: int = 0,
    scale: Vectors | None = None,
) -> float:
    """The largest (algebraic) eigenvalue of the loss Hessian, the "sharpness".

    With ``scale`` (one tensor per trainable parameter, shaped like it), the operator is
    D H D with D = diag(scale): the Hessian in coordinates w = scale * u. Passing
    ``scale = |w|`` gives the adaptive sharpness of Kwon et al. 2021 (ASAM), which is
    unchanged by Dinh et al.'s layer rescalings (alpha W1, W2 / alpha) of a ReLU network.

    Power iteration on H from a random start drawn with ``seed`` finds the eigenvalue of
    largest magnitude. If that is negative (possible away from minima), a second power
    iteration on ``H - lambda_neg I`` (all eigenvalues >= 0, top one lambda_max - lambda_neg)
    recovers the largest algebraic eigenvalue. Accuracy is governed by ``tol`` (relative
    change between iterations) and the spectral gap; use float64 for tight comparisons.
    """
    params = _trainable(model)
    raw = hvp_function(model, loss_fn, x, y)
    if scale is None:
        hvp = raw
    else:
        d = [s.detach().to(p) for s, p in zip(scale, params, strict=True)]

        def hvp(v: Vectors) -> Vectors:
            return [di * h for di, h in zip(d, raw([di * t for di, t in zip(d, v, strict=True)]), strict=True)]

    g = make_generator(seed)
    v0 = [torch.randn(p.shape, generator=g, dtype=torch.float64).to(p) for p in params]
    lam = _power_iteration(hvp, v0, iters, tol)
    if lam >= 0:
        return lam

    def shifted(v: Vectors) -> Vectors:
        return [h - lam * t for h, t in zip(hvp(v), v, strict=True)]

    return _power_iteration(shifted, v0, iters, tol) + lam
