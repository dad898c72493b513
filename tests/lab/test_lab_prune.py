"""Magnitude pruning keeps the stated fraction; masks survive training; rewinding resets."""

from __future__ import annotations

import pytest
import torch

from kb.lab.data import digits
from kb.lab.models import MLP, CNN2d
from kb.lab.prune import (
    apply_masks,
    magnitude_prune,
    mask_gradients,
    prunable,
    rewind,
    sparsity,
)
from kb.lab.train import train


def n_weights(model: torch.nn.Module) -> int:
    """Number of prunable (rank >= 2) weights."""
    return sum(p.numel() for p in prunable(model).values())


@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.5, 0.97, 1.0])
def test_global_prune_removes_exactly_the_fraction_of_smallest(fraction: float) -> None:
    model = MLP(20, 30, 2, 5, seed=0)
    masks = magnitude_prune(model, fraction, scope="global")
    n = n_weights(model)
    assert set(masks) == {"hidden.0.weight", "hidden.1.weight", "readout.weight"}  # no biases
    assert sum(int((m == 0).sum()) for m in masks.values()) == round(fraction * n)
    assert sparsity(masks) == pytest.approx(round(fraction * n) / n)
    params = prunable(model)
    pruned = torch.cat([params[k].detach().abs()[m == 0] for k, m in masks.items()])
    kept = torch.cat([params[k].detach().abs()[m == 1] for k, m in masks.items()])
    if len(pruned) and len(kept):
        assert pruned.max() <= kept.min()


def test_layerwise_prune_and_iterative_rounds() -> None:
    model = CNN2d(width=4, depth=2, seed=0)
    masks = magnitude_prune(model, 0.3, scope="layer")
    for name, p in prunable(model).items():
        assert int((masks[name] == 0).sum()) == round(0.3 * p.numel())
    # a second round prunes 30% of what remains, and never revives a pruned weight
    again = magnitude_prune(model, 0.3, masks=masks, scope="layer")
    for name, p in prunable(model).items():
        alive = p.numel() - round(0.3 * p.numel())
        assert int(again[name].sum()) == alive - round(0.3 * alive)
        assert bool((again[name] <= masks[name]).all())
    g1 = magnitude_prune(model, 0.2)
    g2 = magnitude_prune(model, 0.2, masks=g1)
    n = n_weights(model)
    assert sum(int(m.sum()) for m in g2.values()) == (n - round(0.2 * n)) - round(
        0.2 * (n - round(0.2 * n))
    )  # ~ 64% kept


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_masks_survive_training_and_rewind_resets(optimizer: str) -> None:
    data = digits(seed=0)
    model = MLP(64, 32, 1, 10, seed=0)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    train(model, data, steps=20, lr=0.05 if optimizer == "sgd" else 1e-3, optimizer=optimizer)
    masks = magnitude_prune(model, 0.5)
    rewind(model, init, masks)
    params = dict(model.named_parameters())
    for name, m in masks.items():
        assert torch.equal(params[name].detach(), init[name] * m)
    assert torch.equal(params["hidden.0.bias"].detach(), init["hidden.0.bias"])
    handles = mask_gradients(model, masks)
    train(
        model,
        data,
        steps=20,
        lr=0.05 if optimizer == "sgd" else 1e-3,
        optimizer=optimizer,
        momentum=0.9,
        weight_decay=1e-3,
    )
    for name, m in masks.items():
        assert bool((params[name].detach()[m == 0] == 0).all())
        assert bool((params[name].detach()[m == 1] != init[name][m == 1]).any())  # others learn
    for h in handles:
        h.remove()
    apply_masks(model, masks)  # idempotent
    assert sparsity(masks) == pytest.approx(0.5, abs=1e-3)
