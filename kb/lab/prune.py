"""Magnitude pruning, masks and weight rewinding (lottery-ticket experiments).

Masks are a dict ``{parameter name: 0/1 tensor shaped like it}`` covering the prunable
parameters: by default every weight with two or more dimensions (linear and conv kernels;
biases, norm gains and positional tables of rank < 2 are never pruned), as in Frankle &
Carbin 2019. Embeddings count as weights; pass ``include`` to choose differently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

Masks = dict[str, Tensor]


def _default_include(name: str, p: Tensor) -> bool:
    """Prune weights (rank >= 2), never biases or norm parameters."""
    return p.dim() >= 2


def prunable(
    model: nn.Module, include: Callable[[str, Tensor], bool] = _default_include
) -> dict[str, nn.Parameter]:
    """The parameters magnitude pruning acts on, by name."""
    return {n: p for n, p in model.named_parameters() if include(n, p)}


def magnitude_prune(
    model: nn.Module,
    fraction: float,
    masks: Mapping[str, Tensor] | None = None,
    scope: Literal["global", "layer"] = "global",
    include: Callable[[str, Tensor], bool] = _default_include,
) -> Masks:
    """New masks removing ``fraction`` of the *still unpruned* weights with the smallest |w|.

    Iterative magnitude pruning as in Frankle & Carbin 2019: each round prunes a fraction of
    what remains, so from no masks one round at 0.2 keeps 80% and two rounds keep 64%.
    Exactly ``round(fraction * remaining)`` weights are removed (ties broken by position),
    ranked across all prunable tensors together (``"global"``) or within each tensor
    (``"layer"``, the count rounded per tensor). Already-pruned weights stay pruned. The model
    is not modified: call ``apply_masks`` (and ``rewind`` for lottery tickets).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    params = prunable(model, include)
    old = {
        n: (masks[n] if masks is not None and n in masks else torch.ones_like(p))
        for n, p in params.items()
    }

    def prune_flat(scores: Tensor, mask: Tensor) -> Tensor:
        """Zero the round(fraction * alive) smallest alive scores of a flat tensor."""
        alive = mask.nonzero().squeeze(1)
        k = round(fraction * len(alive))
        new = mask.clone()
        if k > 0:
            order = torch.argsort(scores[alive], stable=True)
            new[alive[order[:k]]] = 0
        return new

    with torch.no_grad():
        if scope == "layer":
            return {
                n: prune_flat(p.abs().flatten(), old[n].flatten().to(p.dtype)).view_as(p)
                for n, p in params.items()
            }
        if scope != "global":
            raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
        scores = torch.cat([p.abs().flatten() for p in params.values()])
        flat = prune_flat(scores, torch.cat([old[n].flatten().to(scores.dtype) for n in params]))
        out: Masks = {}
        for (n, p), chunk in zip(
            params.items(), flat.split([p.numel() for p in params.values()]), strict=True
        ):
            out[n] = chunk.view_as(p).to(p.dtype)
        return out


def sparsity(masks: Mapping[str, Tensor]) -> float:
    """Fraction of masked-out (zero) entries over all masks."""
    total = sum(m.numel() for m in masks.values())
    return 1.0 - sum(float(m.sum()) for m in masks.values()) / max(total, 1)


@torch.no_grad()
def apply_masks(model: nn.Module, masks: Mapping[str, Tensor]) -> None:
    """Zero the pruned weights in place (``p *= mask``)."""
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        params[name].mul_(mask.to(params[name]))


def mask_gradients(model: nn.Module, masks: Mapping[str, Tensor]) -> list[RemovableHandle]:
    """Register hooks zeroing the gradients of pruned weights, so training keeps them at 0.

    With zero weights and zero gradients, SGD (with momentum or coupled weight decay), Adam
    and AdamW all leave pruned weights at exactly zero. Call ``handle.remove()`` on the
    returned handles before registering a new set of masks.
    """
    params = dict(model.named_parameters())
    handles = []
    for name, mask in masks.items():
        m = mask.to(params[name]).detach()
        handles.append(params[name].register_hook(lambda g, m=m: g * m))
    return handles


@torch.no_grad()
def rewind(model: nn.Module, init_state: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> None:
    """Reset the model to ``init_state`` (a state_dict) and apply ``masks``.

    With the state at initialisation this is the lottery-ticket reset (Frankle & Carbin
    2019); with a state saved after k steps it is weight rewinding (Frankle et al. 2020).
    """
    model.load_state_dict({k: v.clone() for k, v in init_state.items()})
    apply_masks(model, masks)
