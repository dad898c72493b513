"""Offline data sets held whole as tensors on a device; minibatches are index tensors.

Nothing here downloads anything. MNIST-1D is generated procedurally by the ``mnist1d``
package (and cached on disk, since generation is a pure-Python loop); the digits come from
scikit-learn's bundled copy; the synthetic tasks are drawn from explicit seeds. There is no
``DataLoader``: at these sizes the whole set fits on the device, and indexing a resident tensor
with a random index tensor is the fastest batching there is (the airbench approach).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from kb.lab.rng import generator as make_generator


@dataclass(frozen=True)
class Dataset:
    """A train/test split held as whole tensors.

    ``y`` holds int64 class indices for classification (``n_classes > 0``) and float targets
    of shape (N, d_out) for regression (``n_classes == 0``). ``meta`` carries whatever
    generated the data (teacher weights, frequencies, corrupted indices...).
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    n_classes: int  # 0 means regression
    name: str
    meta: dict[str, Any] = field(default_factory=dict)

    def to(self, device: str | torch.device) -> Dataset:
        """The same data set with all four tensors on ``device`` (no copy if already there)."""
        return dataclasses.replace(
            self,
            x_train=self.x_train.to(device),
            y_train=self.y_train.to(device),
            x_test=self.x_test.to(device),
            y_test=self.y_test.to(device),
        )

    @property
    def n_train(self) -> int:
        """Number of training examples."""
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test examples."""
        return int(self.x_test.shape[0])

    @property
    def is_classification(self) -> bool:
        """True when the labels are class indices (and accuracy is meaningful)."""
        return self.n_classes > 0


# ----------------------------------------------------------------------------------------
# On-disk cache for generated arrays


def cache_dir() -> Path:
    """Where generated data sets are cached: ``$KB_CACHE_DIR`` if set, else ``~/.cache/kb``."""
    env = os.environ.get("KB_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kb"


def _cache_path(name: str, key_args: dict[str, Any]) -> Path:
    """The cache file for ``name`` generated with ``key_args`` (a hash of the arguments)."""
    blob = json.dumps(key_args, sort_keys=True).encode()
    return cache_dir() / f"{name}-{hashlib.sha256(blob).hexdigest()[:20]}.npz"


def _cached_arrays(
    name: str, key_args: dict[str, Any], make: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Arrays for ``key_args`` read from the cache, or made by ``make()`` and then cached.

    Written atomically (temp file in the same directory + ``os.replace``) so a concurrent
    reader never sees half a file; an unreadable cache file is regenerated, and an unwritable
    cache directory only costs the regeneration next time.
    """
    path = _cache_path(name, key_args)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError, zipfile.BadZipFile):
            pass  # corrupt or truncated by something else: regenerate below
    arrays = make()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass  # read-only home or full disk: the data are still good, just not cached
    return arrays


# ----------------------------------------------------------------------------------------
# MNIST-1D and sklearn digits


def _generate_mnist1d(n_train: int, n_test: int, seed: int) -> dict[str, np.ndarray]:
    """Run the ``mnist1d`` procedural generator (no network) and split train/test.

    Only ``mnist1d.data.make_dataset`` is called: it builds every example from the ten
    hard-coded templates with numpy randomness. ``get_dataset`` (which may download the
    published pickle) is never touched. The generator seeds numpy's and python's *global*
    RNGs, so their states are saved and restored around the call.
    """
    import random

    import mnist1d.data

    args = mnist1d.data.get_dataset_args()
    total = n_train + n_test
    args.num_samples = 10 * math.ceil(total / 10)  # it makes num_samples // 10 per class
    args.seed = seed
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        ds = mnist1d.data.make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    # With the defaults (5000 samples, train_split 0.8) this is exactly the package's split.
    x = np.concatenate([ds["x"], ds["x_test"]]).astype(np.float32)
    y = np.concatenate([ds["y"], ds["y_test"]]).astype(np.int64)
    return {
        "x_train": x[:n_train],
        "y_train": y[:n_train],
        "x_test": x[n_train:total],
        "y_test": y[n_train:total],
    }


def mnist1d(
    n_train: int = 4000, n_test: int = 1000, seed: int = 0, device: str | torch.device = "cpu"
) -> Dataset:
    """MNIST-1D (Greydanus 2020): 10 classes of length-40 1-D signals, x float32 (N, 40).

    Generated with the package's default transformation arguments and ``seed``; note the
    published data set used seed 42 (pass ``seed=42`` with the default sizes to regenerate
    it). When ``n_train + n_test`` differs from the default 5,000 the generator is asked for
    that many samples (rounded up to a multiple of 10) and the first ``n_train`` become the
    training set. Generation is a Python loop (~0.7 s per 5k samples), so the arrays are
    cached on disk keyed by (sizes, seed, mnist1d version); see ``cache_dir``.
    """
    if n_train < 1 or n_test < 0:
        raise ValueError(f"need n_train >= 1 and n_test >= 0, got {n_train}, {n_test}")
    key = {
        "generator": "mnist1d.data.make_dataset",
        "mnist1d_version": importlib.metadata.version("mnist1d"),
        "n_train": n_train,
        "n_test": n_test,
        "seed": seed,
        "format": 1,
    }
    arrays = _cached_arrays("mnist1d", key, lambda: _generate_mnist1d(n_train, n_test, seed))
    return Dataset(
        x_train=torch.from_numpy(arrays["x_train"]).to(device),
        y_train=torch.from_numpy(arrays["y_train"]).to(device),
        x_test=torch.from_numpy(arrays["x_test"]).to(device),
        y_test=torch.from_numpy(arrays["y_test"]).to(device),
        n_classes=10,
        name="mnist1d",
        meta={"seed": seed},
    )


def digits(
    seed: int = 0,
    test_fraction: float = 0.2,
    device: str | torch.device = "cpu",
    flat: bool = True,
) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images, 10 classes), split at random by ``seed``.

    Pixels (0..16) are scaled to [0, 1], centred with the training set's per-pixel mean and
    divided by the training set's single global std (border pixels are constant, so per-pixel
    stds would divide by zero). x is (N, 64), or (N, 1, 8, 8) with ``flat=False`` for convnets.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(np.asarray(bunch.data, dtype=np.float32) / 16.0)
    y = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))
    perm = torch.randperm(len(y), generator=make_generator(seed))
    n_test = round(test_fraction * len(y))
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    mean, std = x[train_idx].mean(0), x[train_idx].std()
    x = (x - mean) / std
    if not flat:
        x = x.reshape(-1, 1, 8, 8)
    return Dataset(
        x_train=x[train_idx].to(device),
        y_train=y[train_idx].to(device),
        x_test=x[test_idx].to(device),
        y_test=y[test_idx].to(device),
        n_classes=10,
        name="digits",
        meta={"seed": seed},
    )


# ----------------------------------------------------------------------------------------
# Synthetic tasks


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
    amp = torch.ones_like(k) if amplitudes is None else torch.tensor(amplitudes, dtype=torch.float64)
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
        meta={"seed": seed, "frequencies": k.tolist(), "amplitudes": amp.tolist(),
              "phases": phases.tolist()},
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
    meta = {**dataset.meta, "corrupted": idx, "label_fraction": fraction,
            "gaussian_inputs": gaussian_inputs}
    name = f"{dataset.name}+random_labels({fraction:g})"
    return dataclasses.replace(dataset, x_train=x, y_train=y, name=name, meta=meta)


# ----------------------------------------------------------------------------------------
# Minibatches


def batches(
    n: int,
    batch_size: int,
    generator: torch.Generator,
    drop_last: bool = False,
    device: str | torch.device = "cpu",
) -> Iterator[Tensor]:
    """One epoch of shuffled int64 index tensors into a data set of ``n`` examples.

    Index a resident tensor with them (``x[idx]``) instead of using a DataLoader. With
    ``batch_size >= n`` this is full-batch: a single ``arange(n)``, no randomness used.
    ``drop_last`` drops a final short batch so every step sees exactly ``batch_size`` examples.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if batch_size >= n:
        yield torch.arange(n, device=device)
        return
    perm = torch.randperm(n, generator=generator, device=generator.device).to(device)
    for start in range(0, n, batch_size):
        idx = perm[start : start + batch_size]
        if drop_last and len(idx) < batch_size:
            return
        yield idx
