"""A small transformer: encoder classifier or decoder-only LM, pre-LN or post-LN.

nanoGPT-style: learned positional embeddings, multi-head self-attention through
``F.scaled_dot_product_attention``, a GELU MLP, N(0, 0.02) init with residual projections
scaled by 1/sqrt(2 n_layers). Two probes for interpretability experiments work at test time
without retraining:

- ``deleted_blocks``: a set of layer indices skipped in forward (their residual branches
  removed); ``drop_top(k)`` deletes the top k layers (as in layer-dropping studies).
- ``head_mask``: a (n_layers, n_heads) buffer multiplying each head's output before the
  output projection (Michel et al. 2019); set entries to 0 to mask heads.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kb.lab.rng import seeded


class SelfAttention(nn.Module):
    """Multi-head self-attention with an optional per-head output mask."""

    def __init__(self, d_model: int, n_heads: int, causal: bool, dropout: float) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads, self.causal, self.dropout = n_heads, causal, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: Tensor, head_mask: Tensor | None = None) -> Tensor:
        """(B, T, D) -> (B, T, D); ``head_mask`` (n_heads,) scales each head's output."""
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=self.causal, dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, T, D/H)
        if head_mask is not None:
            y = y * head_mask.view(1, -1, 1, 1)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """Attention + MLP with residuals; LayerNorm before (pre-LN) or after (post-LN) each."""

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, pre_ln: bool, causal: bool, dropout: float
    ) -> None:
        super().__init__()
        self.pre_ln = pre_ln
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads, causal, dropout)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, head_mask: Tensor | None = None) -> Tensor:
        """Pre-LN: x + f(LN(x)); post-LN (original Transformer): LN(x + f(x))."""
        if self.pre_ln:
            x = x + self.drop(self.attn(self.ln1(x), head_mask))
            return x + self.drop(self.mlp(self.ln2(x)))
        x = self.ln1(x + self.drop(self.attn(x, head_mask)))
        return self.ln2(x + self.drop(self.mlp(x)))


class Transformer(nn.Module):
    """Token (``vocab_size``) or vector (``d_in``) sequences -> class logits or LM logits.

    - Classifier (``n_classes`` given): logits (B, n_classes) from the last position
      (``pool="last"``, natural with ``causal=True``, e.g. "a b =" -> c) or the mean.
    - Decoder-only LM (``n_classes=None``, needs ``vocab_size``; use ``causal=True``):
      logits (B, T, vocab_size).
    Inputs: int64 (B, T) tokens, or float (B, T, d_in) vectors ((B, T) when d_in == 1).
    Dropout (default 0) draws from torch's global RNG.
    """

    def __init__(
        self,
        vocab_size: int | None = None,
        n_classes: int | None = None,
        d_in: int | None = None,
        max_len: int = 64,
        d_model: int = 128,
        n_heads: int = 4,
        n_layers: int = 2,
        d_ff: int | None = None,
        pre_ln: bool = True,
        causal: bool = False,
        dropout: float = 0.0,
        pool: Literal["last", "mean"] = "last",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if (vocab_size is None) == (d_in is None):
            raise ValueError("give exactly one of vocab_size (tokens) or d_in (vectors)")
        if n_classes is None and vocab_size is None:
            raise ValueError("a language model (n_classes=None) needs vocab_size")
        self.n_layers, self.n_heads, self.pre_ln, self.pool = n_layers, n_heads, pre_ln, pool
        self.n_classes, self.d_in = n_classes, d_in
        self.deleted_blocks: set[int] = set()
        with seeded(seed):
            self.embed: nn.Module = (
                nn.Embedding(vocab_size, d_model)
                if vocab_size is not None
                else nn.Linear(d_in or 1, d_model)
            )
            self.pos = nn.Parameter(torch.zeros(max_len, d_model))
            self.blocks = nn.ModuleList(
                Block(d_model, n_heads, d_ff or 4 * d_model, pre_ln, causal, dropout)
                for _ in range(n_layers)
            )
            self.ln_f = nn.LayerNorm(d_model) if pre_ln else nn.Identity()
            self.head = nn.Linear(d_model, n_classes if n_classes is not None else vocab_size or 0)
            self._init_weights()
        self.register_buffer("head_mask", torch.ones(n_layers, n_heads), persistent=False)

    def _init_weights(self) -> None:
        """N(0, 0.02) weights, zero biases; residual output projections get 0.02/sqrt(2L)."""
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, 0.0, 0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.pos, 0.0, 0.02)
        for block in self.blocks:
            assert isinstance(block, Block)
            for proj in (block.attn.proj, block.mlp[2]):
                assert isinstance(proj, nn.Linear)
                nn.init.normal_(proj.weight, 0.0, 0.02 / math.sqrt(2 * self.n_layers))

    @property
    def n_blocks(self) -> int:
        """Number of transformer layers (the deletable blocks)."""
        return self.n_layers

    def drop_top(self, k: int) -> None:
        """Delete the top ``k`` layers at test time (``k = 0`` restores all of them)."""
        self.deleted_blocks = set(range(self.n_layers - k, self.n_layers))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (B, n_classes) or LM logits (B, T, vocab_size)."""
        if self.d_in == 1 and x.dim() == 2:
            x = x.unsqueeze(-1)
        h = self.embed(x)
        h = h + self.pos[: h.shape[1]]
        mask: Tensor = self.head_mask  # type: ignore[assignment]
        for i, block in enumerate(self.blocks):
            if i not in self.deleted_blocks:
                h = block(h, mask[i])
        h = self.ln_f(h)
        if self.n_classes is None:
            return self.head(h)
        return self.head(h[:, -1] if self.pool == "last" else h.mean(dim=1))
