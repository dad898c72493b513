"""Synthetic tasks drawn from explicit seeds: teacher-student regression, Gaussian mixtures,
modular arithmetic (grokking), sums of sinusoids (spectral bias), and label randomisation.

Every generator draws from its own ``torch.Generator`` on the CPU (so the same seed gives the
same data on every device) and returns a ``Dataset`` moved to ``device``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from kb.lab.dataset import Dataset
from kb.lab.rng import generator as make_generator


def teacher_student(
    n: int = 1000,
    d_in: int = 10,
    width: int = 64,
    seed: int = 0,
    noise: float = 0.0,
    n_test: int = 1000,
    depth: int = 1,
    device: str | torch.device = "cpu",
) -> Dataset:
    """Regression on x ~ N(0, I_{d_in}) with targets from a random ReLU-MLP teacher.

    Teacher: ``depth`` hidden ReLU layers of ``width`` units, He init (weight variance
    2/fan_in), no biases, a linear readout with variance 1/width, so targets have O(1) scale.
    Gaussian label noise of std ``noise`` is added to the *training* targets only, so test
    loss measures distance to the teacher. The teacher's weights are in ``meta["teacher"]``.
    """
    g = make_generator(seed)
    x = torch.randn(n + n_test, d_in, generator=g)
    weights: list[Tensor] = []
    h, fan_in = x, d_in
    for _ in range(depth):
        w = torch.randn(width, fan_in, generator=g) * math.sqrt(2.0 / fan_in)
        weights.append(w)
        h, fan_in = torch.relu(h @ w.T), width
    readout = torch.randn(1, fan_in, generator=g) / math.sqrt(fan_in)
    weights.append(readout)
    y = h @ readout.T  # (N, 1)
    y_train = y[:n] + noise * torch.randn(n, 1, generator=g)
    return Dataset(
        x_train=x[:n].to(device),
        y_train=y_train.to(device),
        x_test=x[n:].to(device),
        y_test=y[n:].to(device),
        n_classes=0,
        name="teacher_student",
        meta={"seed": seed, "noise": noise, "teacher": weights},
    )


def gaussian_mixture(
    n: int = 1000,
    d: int = 2,
    k: int = 2,
    separation: float = 3.0,
    seed: int = 0,
    n_test: int = 1000,
    device: str | torch.device = "cpu",
) -> Dataset:
    """k-class isotropic Gaussian mixture in d dimensions, unit within-class std.

    Class means have norm ``separation / sqrt(2)``: when k <= d they are orthogonal, so every
    pair of means is exactly ``separation`` apart (in units of the within-class std); when
    k > d they are random directions and ``separation`` is only the typical distance.
    Classes are drawn uniformly. Means are in ``meta["means"]``.
    """
    g = make_generator(seed)
    if k <= d:
        q, _ = torch.linalg.qr(torch.randn(d, k, generator=g))
        directions = q.T  # (k, d) orthonormal rows
    else:
        directions = torch.randn(k, d, generator=g)
        directions = directions / directions.norm(dim=1, keepdim=True)
    means = directions * (separation / math.sqrt(2.0))
    y = torch.randint(k, (n + n_test,), generator=g)
    x = means[y] + torch.randn(n + n_test, d, generator=g)
    return Dataset(
        x_train=x[:n].to(device),
        y_train=y[:n].to(device),
        x_test=x[n:].to(device),
        y_test=y[n:].to(device),
        n_classes=k,
        name="gaussian_mixture",
        meta={"seed": seed, "means": means, "separation": separation},
    )


def _is_prime(p: int) -> bool:
    """Trial division; p is at most a few hundred here."""
    return p >= 2 and all(p % q for q in range(2, math.isqrt(p) + 1))


def modular_arithmetic(
    p: int = 97,
    op: Literal["add", "sub", "div"] = "add",
    train_fraction: float = 0.3,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> Dataset:
    """All equations ``a op b = c (mod p)`` as token pairs, split at random (grokking tasks).

    x is int64 (N, 2) holding (a, b) with tokens in [0, p); y = (a op b) mod p. For "div",
    b ranges over 1..p-1 and c = a * b^(p-2) mod p (Fermat inverse), which needs p prime.
    Power et al. 2022 train on a random ``train_fraction`` of the p^2 (or p(p-1)) equations.
    """
    if op not in ("add", "sub", "div"):
        raise ValueError(f"op must be 'add', 'sub' or 'div', got {op!r}")
    if op == "div" and not _is_prime(p):
        raise ValueError(f"division mod p needs a prime p, got {p}")
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    if op == "div":
        keep = b != 0
        a, b = a[keep], b[keep]
        inverse = torch.tensor([pow(int(v), p - 2, p) if v else 0 for v in range(p)])
        c = (a * inverse[b]) % p
    elif op == "sub":
        c = (a - b) % p
    else:
        c = (a + b) % p
    x = torch.stack([a, b], dim=1)
    perm = torch.randperm(len(c), generator=make_generator(seed))
    n_train = round(train_fraction * len(c))
    tr, te = perm[:n_train], perm[n_train:]
    return Dataset(
        x_train=x[tr].to(device),
        y_train=c[tr].to(device),
        x_test=x[te].to(device),
        y_test=c[te].to(device),
        n_classes=p,
        name=f"mod{p}_{op}",
        meta={"seed": seed, "p": p, "op": op, "vocab_size": p},
    )


def sinusoids(
    n: int = 200,
    frequencies: Sequence[float] = (5, 10, 15, 20, 25, 30, 35, 40, 45, 50),
    amplitudes: Sequence[float] | None = None,
    seed: int = 0,
    n_test: int | None = None,
    device: str | torch.device = "cpu",
) -> Dataset:
    """1-D regression target ``sum_i A_i sin(2 pi k_i x + phi_i)`` on [0, 1) (spectral bias).

    As in Rahaman et al. 2019 (Fig. 1): frequencies k_i in cycles per unit interval, random
    phases phi_i ~ U[0, 2 pi) from ``seed``, amplitudes 1 unless given. Training inputs are the
    uniform grid i/n; test inputs are the midpoints (i + 1/2)/n_test (n_test defaults to n),
    so test loss measures interpolation between training points. x and y are (N, 1).
    Keep max(k_i) < n/2 (Nyquist) for the target to be learnable from the grid.
    """
    k = torch.tensor([float(f) for f in frequencies], dtype=torch.float64)
    amp = (
        torch.ones_like(k) if amplitudes is None else torch.tensor(amplitudes, dtype=torch.float64)
    )
    if amp.shape != k.shape:
        raise ValueError("amplitudes must have one entry per frequency")
    phases = 2 * math.pi * torch.rand(len(k), generator=make_generator(seed), dtype=torch.float64)
    n_test = n if n_test is None else n_test

    def target(x: Tensor) -> Tensor:
        return (amp * torch.sin(2 * math.pi * k * x + phases)).sum(dim=1, keepdim=True)

    x_train = (torch.arange(n, dtype=torch.float64) / n).unsqueeze(1)
    x_test = ((torch.arange(n_test, dtype=torch.float64) + 0.5) / n_test).unsqueeze(1)
    return Dataset(
        x_train=x_train.float().to(device),
        y_train=target(x_train).float().to(device),
        x_test=x_test.float().to(device),
        y_test=target(x_test).float().to(device),
        n_classes=0,
        name="sinusoids",
        meta={
            "seed": seed,
            "frequencies": k.tolist(),
            "amplitudes": amp.tolist(),
            "phases": phases.tolist(),
        },
    )


def random_labels(
    dataset: Dataset, fraction: float = 1.0, seed: int = 0, gaussian_inputs: bool = False
) -> Dataset:
    """A copy of ``dataset`` with ``fraction`` of its training labels replaced at random.

    As in Zhang et al. 2017 ("partially corrupted labels"): exactly round(fraction * n_train)
    training examples, chosen at random, get a label drawn uniformly from all classes (which
    may coincide with the true one). Test labels are untouched. With ``gaussian_inputs`` the
    training inputs are also replaced by Gaussian noise with the per-feature mean and std of
    the original training inputs (Zhang et al.'s "Gaussian" images). The corrupted indices are
    in ``meta["corrupted"]``.
    """
    if not dataset.is_classification:
        raise ValueError("random_labels needs a classification data set (n_classes > 0)")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    g = make_generator(seed)
    n = dataset.n_train
    idx = torch.randperm(n, generator=g)[: round(fraction * n)]
    new = torch.randint(dataset.n_classes, (len(idx),), generator=g)
    device = dataset.y_train.device
    y = dataset.y_train.clone()
    y[idx.to(device)] = new.to(device=device, dtype=y.dtype)
    x = dataset.x_train
    if gaussian_inputs:
        mean, std = x.float().mean(0), x.float().std(0)
        noise = torch.randn(x.shape, generator=g).to(device=device, dtype=mean.dtype)
        x = (mean + std * noise).to(dataset.x_train.dtype)
    meta = {
        **dataset.meta,
        "corrupted": idx,
        "label_fraction": fraction,
        "gaussian_inputs": gaussian_inputs,
    }
    name = f"{dataset.name}+random_labels({fraction:g})"
    return dataclasses.replace(dataset, x_train=x, y_train=y, name=name, meta=meta)
