"""Explicit randomness: seeded generators and a context for seeding module initialisation.

Every random thing in ``kb.lab`` takes a ``seed`` or a ``torch.Generator``; nothing reads or
leaves behind changes to torch's global RNG, so two calls with the same seed give the same
tensors no matter what ran in between.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with ``seed``.

    Why: ``torch.randn(..., generator=g)`` needs a generator on the tensor's device; making
    it in one place keeps seeding uniform across CPU and GPU runs.
    """
    return torch.Generator(device=torch.device(device)).manual_seed(int(seed))


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the body with torch's CPU RNG seeded to ``seed``, then restore the previous state.

    Why: ``nn.Module`` constructors draw their initial weights from the global RNG; wrapping
    construction in ``seeded(seed)`` makes a model a pure function of its seed without leaking
    the seeding into the caller's RNG stream. Models are built on the CPU and moved afterwards,
    so the same seed gives the same weights on every device.
    """
    state = torch.random.get_rng_state()
    try:
        torch.default_generator.manual_seed(int(seed))  # CPU only: CUDA RNGs untouched
        yield
    finally:
        torch.random.set_rng_state(state)
