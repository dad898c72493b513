"""The ``Dataset`` container and index-tensor minibatching.

A data set is held whole as four tensors on the device; a minibatch is an int64 index
tensor (``x[idx]``). There is no ``DataLoader``: at these sizes indexing a resident tensor
is the fastest batching there is (the airbench approach).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor


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
