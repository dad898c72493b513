"""The CIFAR-10 loader on tiny files written in exactly the python-pickle batch format."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from kb.lab.cifar import CIFAR10_MEAN, CIFAR10_STD, CifarNotFoundError, load_cifar10

PER_BATCH = 4


def write_batches(root: Path) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Write data_batch_1..5 and test_batch (PER_BATCH images each) like the real archive."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    written = {}
    for i, name in enumerate([f"data_batch_{j}" for j in range(1, 6)] + ["test_batch"]):
        data = rng.integers(0, 256, size=(PER_BATCH, 3072), dtype=np.uint8)
        labels = [(i + k) % 10 for k in range(PER_BATCH)]
        batch = {
            b"batch_label": f"batch {i}".encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"img{k}.png".encode() for k in range(PER_BATCH)],
        }
        with (root / name).open("wb") as f:
            pickle.dump(batch, f, protocol=2)
        written[name] = (data, labels)
    return written


def test_loads_and_normalises(tmp_path: Path) -> None:
    written = write_batches(tmp_path)
    d = load_cifar10(tmp_path)
    assert d.x_train.shape == (5 * PER_BATCH, 3, 32, 32) and d.x_test.shape == (
        PER_BATCH,
        3,
        32,
        32,
    )
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.y_train[:PER_BATCH].tolist() == written["data_batch_1"][1]
    assert d.y_test.tolist() == written["test_batch"][1]
    # pixel (channel c, row r, col q) of image 0 is data[0, c*1024 + r*32 + q]
    raw = written["data_batch_2"][0][1]  # second image of the second batch
    for c, r, q in [(0, 0, 0), (1, 5, 7), (2, 31, 31)]:
        expected = (raw[c * 1024 + r * 32 + q] / 255.0 - CIFAR10_MEAN[c]) / CIFAR10_STD[c]
        got = float(d.x_train[PER_BATCH + 1, c, r, q])
        assert got == pytest.approx(expected, abs=1e-5)
    raw_d = load_cifar10(tmp_path, normalize=False)
    assert float(raw_d.x_train.max()) <= 1.0 and float(raw_d.x_train.min()) >= 0.0


def test_nested_directory_and_subsets(tmp_path: Path) -> None:
    write_batches(tmp_path / "cifar-10-batches-py")
    d = load_cifar10(tmp_path, n_train=6, n_test=2)
    assert d.n_train == 6 and d.n_test == 2


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    write_batches(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(CifarNotFoundError, match="data_batch_3") as info:
        load_cifar10(tmp_path)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    assert "never downloads" in str(info.value)


def test_malformed_file_is_a_clear_error(tmp_path: Path) -> None:
    write_batches(tmp_path)
    with (tmp_path / "test_batch").open("wb") as f:
        pickle.dump({b"data": np.zeros((2, 10), dtype=np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(CifarNotFoundError, match="test_batch"):
        load_cifar10(tmp_path)


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        load_cifar10(tmp_path)
