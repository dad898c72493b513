"""CIFAR-10 read from the standard python-pickle batches in a directory you provide.

This module never downloads. Point it at the extracted ``cifar-10-python.tar.gz``: a folder
(``cifar-10-batches-py/`` or its parent) holding ``data_batch_1`` .. ``data_batch_5`` and
``test_batch``, each a pickled dict with ``b"data"`` (uint8, N x 3072, channel-major: 1024 red,
1024 green, 1024 blue values, rows of 32) and ``b"labels"`` (N ints in 0..9).
Pickle can run code when loaded, so only point this at files you trust.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from kb.lab.dataset import Dataset

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
# Per-channel mean and std of the CIFAR-10 training images in [0, 1] (as used by airbench).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class CifarNotFoundError(FileNotFoundError, ValueError):
    """A CIFAR-10 batch file is missing or malformed (the loader never downloads)."""


def _find_root(root: Path) -> Path:
    """``root`` itself if it holds the batches, else its ``cifar-10-batches-py`` child."""
    nested = root / "cifar-10-batches-py"
    if not (root / TEST_FILE).exists() and (nested / TEST_FILE).exists():
        return nested
    return root


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) from one pickle batch file."""
    expected = (
        "expected the CIFAR-10 python version: a pickled dict with b'data' (uint8, N x 3072) "
        "and b'labels' (N ints), as in data_batch_1..5 and test_batch of cifar-10-python.tar.gz"
    )
    if not path.is_file():
        raise CifarNotFoundError(
            f"missing CIFAR-10 file {path}; {expected}. This loader never "
            "downloads: extract the archive and pass its directory."
        )
    with path.open("rb") as f:
        try:
            batch = pickle.load(f, encoding="bytes")
        except (pickle.UnpicklingError, EOFError) as err:
            raise CifarNotFoundError(f"cannot unpickle {path}: {err}; {expected}") from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise CifarNotFoundError(f"{path} has the wrong content; {expected}")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise CifarNotFoundError(
            f"{path}: data shape {data.shape}, {len(labels)} labels; {expected}"
        )
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(
    root: str | Path,
    device: str | torch.device = "cpu",
    n_train: int | None = None,
    n_test: int | None = None,
    normalize: bool = True,
) -> Dataset:
    """CIFAR-10 as float32 images (N, 3, 32, 32) and int64 labels, whole on ``device``.

    Pixels are scaled to [0, 1] and, with ``normalize``, standardised per channel with
    ``CIFAR10_MEAN`` / ``CIFAR10_STD``. ``n_train`` / ``n_test`` keep only the first examples
    (the batches are already in random order). Raises ``CifarNotFoundError`` (both a
    ``FileNotFoundError`` and a ``ValueError``) naming the first missing or malformed file.
    """
    base = _find_root(Path(root).expanduser())
    parts = [_read_batch(base / name) for name in TRAIN_FILES]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = _read_batch(base / TEST_FILE)
    if n_train is not None:
        x_train, y_train = x_train[:n_train], y_train[:n_train]
    if n_test is not None:
        x_test, y_test = x_test[:n_test], y_test[:n_test]

    mean = torch.tensor(CIFAR10_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, device=device).view(1, 3, 1, 1)

    def images(a: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(a).to(device).float() / 255.0  # uint8 travels, float is made there
        return (x - mean) / std if normalize else x

    return Dataset(
        x_train=images(x_train),
        y_train=torch.from_numpy(y_train).to(device),
        x_test=images(x_test),
        y_test=torch.from_numpy(y_test).to(device),
        n_classes=10,
        name="cifar10",
        meta={"root": str(base)},
    )
