"""Data sets: shapes, dtypes, determinism, caching, and the exact semantics of each task."""

from __future__ import annotations

import math
import random
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.lab import data
from kb.lab.data import (
    Dataset,
    batches,
    digits,
    gaussian_mixture,
    mnist1d,
    modular_arithmetic,
    random_labels,
    sinusoids,
    teacher_student,
)


def assert_same(a: Dataset, b: Dataset) -> None:
    """All four tensors identical (values, dtypes, shapes)."""
    for name in ("x_train", "y_train", "x_test", "y_test"):
        ta, tb = getattr(a, name), getattr(b, name)
        assert ta.dtype == tb.dtype and ta.shape == tb.shape, name
        assert torch.equal(ta, tb), name


# ---------------------------------------------------------------------------- MNIST-1D


def test_mnist1d_shapes_and_determinism() -> None:
    a = mnist1d(n_train=200, n_test=100, seed=3)
    assert a.x_train.shape == (200, 40) and a.x_test.shape == (100, 40)
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert a.n_classes == 10 and set(a.y_train.tolist()) <= set(range(10))
    assert_same(a, mnist1d(n_train=200, n_test=100, seed=3))
    other = mnist1d(n_train=200, n_test=100, seed=4)
    assert not torch.equal(a.x_train, other.x_train)


def test_mnist1d_sizes_not_multiple_of_ten() -> None:
    d = mnist1d(n_train=95, n_test=33, seed=0)
    assert d.n_train == 95 and d.n_test == 33


def test_mnist1d_cache_is_written_and_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KB_CACHE_DIR", str(tmp_path))
    first = mnist1d(n_train=120, n_test=30, seed=11)
    files = list(tmp_path.glob("mnist1d-*.npz"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("generator called although the cache should have been hit")

    monkeypatch.setattr(data, "_generate_mnist1d", refuse)
    second = mnist1d(n_train=120, n_test=30, seed=11)
    assert_same(first, second)

    # The arrays really come from the file: edit it and the loader returns the edit.
    with np.load(files[0]) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["x_train"][0, 0] = 123.0
    np.savez(files[0], **arrays)  # type: ignore[arg-type]
    assert float(mnist1d(n_train=120, n_test=30, seed=11).x_train[0, 0]) == 123.0


def test_mnist1d_corrupt_cache_is_regenerated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KB_CACHE_DIR", str(tmp_path))
    first = mnist1d(n_train=50, n_test=10, seed=5)
    (path,) = tmp_path.glob("mnist1d-*.npz")
    path.write_bytes(b"not a zip file")
    assert_same(first, mnist1d(n_train=50, n_test=10, seed=5))


def test_mnist1d_generation_is_offline_and_leaves_global_rngs_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KB_CACHE_DIR", str(tmp_path))  # empty cache: forces generation

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    np.random.seed(1234)
    random.seed(1234)
    expected_np, expected_py = np.random.rand(), random.random()
    np.random.seed(1234)
    random.seed(1234)
    mnist1d(n_train=40, n_test=10, seed=0)
    assert np.random.rand() == expected_np and random.random() == expected_py


# ------------------------------------------------------------------------------ digits


def test_digits_split_shapes_and_normalisation() -> None:
    d = digits(seed=0, test_fraction=0.2)
    assert d.n_train + d.n_test == 1797 and d.n_test == round(0.2 * 1797)
    assert d.x_train.shape == (d.n_train, 64)
    assert abs(float(d.x_train.mean())) < 1e-5 and abs(float(d.x_train.std()) - 1) < 1e-3
    assert_same(d, digits(seed=0, test_fraction=0.2))
    assert not torch.equal(d.y_train, digits(seed=1).y_train)
    img = digits(seed=0, flat=False)
    assert img.x_train.shape == (d.n_train, 1, 8, 8)
    assert torch.equal(img.x_train.flatten(1), d.x_train)


# -------------------------------------------------------------------------- synthetic


def test_teacher_student() -> None:
    d = teacher_student(n=300, d_in=5, width=16, seed=2, noise=0.0, n_test=100)
    assert d.x_train.shape == (300, 5) and d.y_train.shape == (300, 1) and d.n_classes == 0
    assert_same(d, teacher_student(n=300, d_in=5, width=16, seed=2, noise=0.0, n_test=100))
    w1, w2 = d.meta["teacher"]
    assert torch.allclose(torch.relu(d.x_test @ w1.T) @ w2.T, d.y_test, atol=1e-6)
    noisy = teacher_student(n=300, d_in=5, width=16, seed=2, noise=0.5, n_test=100)
    assert torch.equal(noisy.y_test, d.y_test)  # noise on training targets only
    resid = (noisy.y_train - d.y_train).std()
    assert 0.4 < float(resid) < 0.6


def test_gaussian_mixture_separation_is_exact_when_k_le_d() -> None:
    d = gaussian_mixture(n=500, d=5, k=3, separation=4.0, seed=0, n_test=200)
    means = d.meta["means"]
    dists = torch.cdist(means, means)
    off = dists[~torch.eye(3, dtype=torch.bool)]
    assert torch.allclose(off, torch.full_like(off, 4.0), atol=1e-5)
    assert d.x_train.shape == (500, 5) and set(d.y_train.tolist()) == {0, 1, 2}
    assert_same(d, gaussian_mixture(n=500, d=5, k=3, separation=4.0, seed=0, n_test=200))
    # within-class spread is unit-variance
    resid = d.x_train - means[d.y_train]
    assert abs(float(resid.var()) - 1) < 0.1


@pytest.mark.parametrize("op", ["add", "sub", "div"])
def test_modular_arithmetic(op: str) -> None:
    p = 11
    d = modular_arithmetic(p=p, op=op, train_fraction=0.4, seed=0)  # type: ignore[arg-type]
    x = torch.cat([d.x_train, d.x_test])
    y = torch.cat([d.y_train, d.y_test])
    n_expected = p * (p - 1) if op == "div" else p * p
    assert len(y) == n_expected and d.n_train == round(0.4 * n_expected)
    assert len({tuple(r) for r in x.tolist()}) == n_expected  # every equation exactly once
    for (a, b), c in zip(x.tolist(), y.tolist(), strict=True):
        if op == "add":
            assert c == (a + b) % p
        elif op == "sub":
            assert c == (a - b) % p
        else:
            assert (c * b) % p == a % p
    assert_same(d, modular_arithmetic(p=p, op=op, train_fraction=0.4, seed=0))  # type: ignore[arg-type]


def test_modular_division_needs_prime() -> None:
    with pytest.raises(ValueError, match="prime"):
        modular_arithmetic(p=12, op="div")


def test_sinusoids() -> None:
    d = sinusoids(n=64, frequencies=(1, 3), amplitudes=(1.0, 0.5), seed=0)
    assert d.x_train.shape == (64, 1) and d.y_train.shape == (64, 1)
    assert float(d.x_train.min()) == 0.0 and float(d.x_train.max()) < 1.0
    phases = d.meta["phases"]
    x = d.x_test.double()
    expected = torch.sin(2 * math.pi * x + phases[0]) + 0.5 * torch.sin(
        2 * math.pi * 3 * x + phases[1]
    )
    assert torch.allclose(d.y_test.double(), expected, atol=1e-5)
    assert_same(d, sinusoids(n=64, frequencies=(1, 3), amplitudes=(1.0, 0.5), seed=0))


def test_random_labels() -> None:
    base = gaussian_mixture(n=1000, d=4, k=4, seed=0, n_test=100)
    noisy = random_labels(base, fraction=0.5, seed=1)
    corrupted = noisy.meta["corrupted"]
    assert len(corrupted) == 500 and len(set(corrupted.tolist())) == 500
    mask = torch.zeros(1000, dtype=torch.bool)
    mask[corrupted] = True
    assert torch.equal(noisy.y_train[~mask], base.y_train[~mask])  # the rest untouched
    changed = float((noisy.y_train != base.y_train).float().sum())
    assert 300 < changed < 450  # ~ 500 * (1 - 1/4) = 375 actually change
    assert torch.equal(noisy.y_test, base.y_test) and torch.equal(noisy.x_train, base.x_train)
    assert torch.equal(base.y_train, gaussian_mixture(n=1000, d=4, k=4, seed=0, n_test=100).y_train)
    assert_same(noisy, random_labels(base, fraction=0.5, seed=1))
    gauss = random_labels(base, fraction=0.0, seed=1, gaussian_inputs=True)
    assert torch.equal(gauss.y_train, base.y_train) and not torch.equal(gauss.x_train, base.x_train)
    assert torch.allclose(gauss.x_train.mean(0), base.x_train.mean(0), atol=0.2)
    with pytest.raises(ValueError):
        random_labels(teacher_student(n=10, n_test=1), 0.5)


# ---------------------------------------------------------------------------- batches


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), batch_size=st.integers(1, 70), drop_last=st.booleans())
def test_batches_cover_each_index_once(n: int, batch_size: int, drop_last: bool) -> None:
    out = list(batches(n, batch_size, torch.Generator().manual_seed(0), drop_last=drop_last))
    idx = torch.cat(out).tolist()
    if batch_size >= n:
        assert idx == list(range(n))  # full batch
        return
    assert len(set(idx)) == len(idx)
    if drop_last:
        assert all(len(b) == batch_size for b in out) and len(idx) == (n // batch_size) * batch_size
    else:
        assert sorted(idx) == list(range(n))


def test_batches_deterministic_given_generator() -> None:
    a = list(batches(50, 8, torch.Generator().manual_seed(7)))
    b = list(batches(50, 8, torch.Generator().manual_seed(7)))
    c = list(batches(50, 8, torch.Generator().manual_seed(8)))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not all(torch.equal(u, v) for u, v in zip(a, c, strict=True))


def test_dataset_to_device() -> None:
    d = digits().to("cpu")
    assert d.x_train.device.type == "cpu" and d.is_classification
