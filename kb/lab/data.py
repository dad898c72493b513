"""Offline data sets held whole as tensors on a device, and one import for all of them.

Nothing here downloads anything. MNIST-1D is generated procedurally by the ``mnist1d``
package (and cached on disk, since generation is a pure-Python loop); the digits come from
scikit-learn's bundled copy. ``Dataset`` and ``batches`` (``kb.lab.dataset``) and the
synthetic tasks (``kb.lab.synthetic``) are re-exported, so ``from kb.lab import data`` gives
every data source; CIFAR-10 is in ``kb.lab.cifar`` because it needs files you provide.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kb.lab.dataset import Dataset, batches
from kb.lab.rng import generator as make_generator
from kb.lab.synthetic import (
    gaussian_mixture,
    modular_arithmetic,
    random_labels,
    sinusoids,
    teacher_student,
)

__all__ = [
    "Dataset",
    "batches",
    "cache_dir",
    "digits",
    "gaussian_mixture",
    "mnist1d",
    "modular_arithmetic",
    "random_labels",
    "sinusoids",
    "teacher_student",
]


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
                np.savez(f, **arrays)  # type: ignore[arg-type]
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
    divided by the centred training set's single global std (border pixels are constant, so per-pixel
    stds would divide by zero). x is (N, 64), or (N, 1, 8, 8) with ``flat=False`` for convnets.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(np.asarray(bunch.data, dtype=np.float32) / 16.0)
    y = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))
    perm = torch.randperm(len(y), generator=make_generator(seed))
    n_test = round(test_fraction * len(y))
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    mean = x[train_idx].mean(0)
    x = x - mean
    x = x / x[train_idx].std()
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
