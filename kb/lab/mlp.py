"""A multilayer perceptron with standard, NTK and muP parametrisations.

Notation: ``depth`` hidden layers of ``width`` units, an input layer (d_in -> width), hidden
layers (width -> width) and a readout (width -> d_out). ``sigma_w`` is the weight scale
(sqrt(2) for ReLU, 1 otherwise, unless given) and ``sigma_b`` the bias std (0 by default).

- ``"standard"``: W ~ N(0, sigma_w^2 / fan_in) in every layer, biases ~ N(0, sigma_b^2). With
  ``sigma_b = 0`` this is He init for ReLU; it is also the NNGP convention of Lee et al. 2018
  (the readout uses the same ``sigma_w``), so ``kb.lab.measure.nngp_relu_kernel`` applies.
- ``"ntk"`` (Jacot et al. 2018): stored weights ~ N(0, 1) and each layer computes
  ``sigma_w / sqrt(fan_in) * W x + b``. Same function at init as "standard" (same seed, same
  draws), but the gradient on W carries the multiplier, so an SGD step of a given LR moves
  each layer sigma_w^2 / fan_in times less than in "standard": O(1) learning rates are
  stable at any width and training approaches the kernel (NTK) regime as width grows.
  Biases are not rescaled (multiplier 1, init N(0, sigma_b^2)).
- ``"mup"``: the Maximal Update Parametrisation as tabulated in Yang et al. 2022 (Tensor
  Programs V, arXiv:2203.03466) **Table 3**, written relative to a ``base_width`` as in the
  ``mup`` package, so that at ``width == base_width`` it coincides with "standard" and
  hyperparameters tuned there transfer. With m = width / base_width:

  ==================  ========================  ===================  =================
  quantity            input weights, biases,    hidden weights       output weights
                      norm gains (fan_out = n)
  ==================  ========================  ===================  =================
  init variance       sigma_w^2 / fan_in        sigma_w^2 / fan_in   sigma_w^2 / (fan_in m)
  SGD LR multiplier   m                         1                    1 / m
  Adam LR multiplier  1                         1 / m                1 / m
  ==================  ========================  ===================  =================

  Table 3 states only the scaling with width (output init variance 1/fan_in^2, SGD input
  LR fan_out, etc.); the constants at base width are the "standard" ones by construction.
  The readout bias has finite fan_in and fan_out and gets multiplier 1. The sign-descent
  optimiser uses the Adam column (its update size is also gradient-scale free).
  Not covered: weight-decay scaling, and the transformer-specific 1/d attention.

LR multipliers act through ``param_groups(lr, optimizer)``; ``kb.lab.train.train`` uses
that method whenever a model has it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kb.lab.norms import NormSpec, make_norm
from kb.lab.rng import seeded

Parametrization = Literal["standard", "ntk", "mup"]

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "silu": F.silu,
    "erf": torch.erf,
    "sigmoid": torch.sigmoid,
    "linear": lambda x: x,
}


class ScaledLinear(nn.Module):
    """``y = multiplier * (x @ weight.T) + bias``: a linear layer with a fixed forward multiplier.

    The multiplier (a plain float, not a parameter) is what distinguishes the NTK
    parametrisation from the standard one; it is 1 for "standard" and "mup".
    """

    def __init__(self, d_in: int, d_out: int, bias: bool = True, multiplier: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(d_out, d_in))
        self.bias = nn.Parameter(torch.zeros(d_out)) if bias else None
        self.multiplier = multiplier

    def forward(self, x: Tensor) -> Tensor:
        """Apply the layer to x of shape (..., d_in)."""
        if self.multiplier == 1.0:
            return F.linear(x, self.weight, self.bias)
        y = F.linear(x, self.weight) * self.multiplier
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        """Shown by ``print(model)``."""
        d_out, d_in = self.weight.shape
        return f"{d_in} -> {d_out}, bias={self.bias is not None}, multiplier={self.multiplier:.4g}"


class MLP(nn.Module):
    """Fully connected network: ``depth`` hidden layers of ``width``, then a linear readout.

    Inputs of any shape (N, ...) are flattened. Each hidden layer is linear -> norm ->
    activation (norm before the nonlinearity, as in Ioffe & Szegedy and Santurkar et al.).
    ``depth=0`` is a linear model. See the module docstring for the parametrisations.
    """

    def __init__(
        self,
        d_in: int,
        width: int,
        depth: int,
        d_out: int,
        activation: str = "relu",
        bias: bool = True,
        norm: NormSpec = None,
        parametrization: Parametrization = "standard",
        sigma_w: float | None = None,
        sigma_b: float = 0.0,
        base_width: int = 64,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {list(ACTIVATIONS)}")
        if parametrization not in ("standard", "ntk", "mup"):
            raise ValueError(f"unknown parametrization {parametrization!r}")
        self.activation_name = activation
        self.act = ACTIVATIONS[activation]
        self.parametrization = parametrization
        self.width, self.depth, self.base_width = width, depth, base_width
        self.sigma_w = (
            (math.sqrt(2.0) if activation == "relu" else 1.0) if sigma_w is None else sigma_w
        )
        self.sigma_b = sigma_b
        fans = [d_in] + [width] * depth
        ntk = parametrization == "ntk"
        with seeded(seed):
            self.hidden = nn.ModuleList(
                ScaledLinear(f, width, bias, self.sigma_w / math.sqrt(f) if ntk else 1.0)
                for f in fans[:-1]
            )
            self.norms = nn.ModuleList(make_norm(norm, width, 0, seed + i) for i in range(depth))
            self.readout = ScaledLinear(
                fans[-1], d_out, bias, self.sigma_w / math.sqrt(fans[-1]) if ntk else 1.0
            )
            self._init_weights()

    def _init_weights(self) -> None:
        """Draw weights and biases from the variances of the chosen parametrisation."""
        m = self.width / self.base_width
        layers = [*self.hidden, self.readout]
        for i, layer in enumerate(layers):
            fan_in = layer.weight.shape[1]
            if self.parametrization == "ntk":
                std = 1.0
            else:
                var = self.sigma_w**2 / fan_in
                is_output = i == len(layers) - 1 and self.depth > 0
                if self.parametrization == "mup" and is_output:
                    var /= m  # Table 3: output init variance 1/fan_in^2 (relative to base)
                std = math.sqrt(var)
            nn.init.normal_(layer.weight, 0.0, std)
            if layer.bias is not None:
                nn.init.normal_(layer.bias, 0.0, self.sigma_b)  # sigma_b = 0 gives zeros

    def features(self, x: Tensor) -> Tensor:
        """The last hidden layer's activations (N, width) (the input itself if depth == 0)."""
        h = x.flatten(1)
        for layer, norm in zip(self.hidden, self.norms, strict=True):
            h = self.act(norm(layer(h)))
        return h

    def forward(self, x: Tensor) -> Tensor:
        """Outputs (N, d_out) for inputs (N, ...)."""
        return self.readout(self.features(x))

    def lr_multipliers(self, optimizer: str = "sgd") -> dict[str, float]:
        """Per-parameter LR multipliers by name (all 1 unless ``parametrization == "mup"``).

        ``optimizer`` is "sgd" (also momentum SGD) or "adam"/"adamw"/"sign" (the Adam column
        of Table 3). See the module docstring for the table.
        """
        names = [n for n, _ in self.named_parameters()]
        if self.parametrization != "mup" or self.depth == 0:
            return dict.fromkeys(names, 1.0)
        m = self.width / self.base_width
        adam_like = optimizer in ("adam", "adamw", "sign")
        if not adam_like and optimizer != "sgd":
            raise ValueError(f"unknown optimizer {optimizer!r} for muP LR multipliers")
        out: dict[str, float] = {}
        for name in names:
            if name.startswith("readout."):
                out[name] = (1.0 / m) if name.endswith("weight") else 1.0  # output bias: 1
            elif name.startswith("hidden.0.weight"):
                out[name] = 1.0 if adam_like else m  # input weights
            elif name.startswith("hidden.") and name.endswith("weight"):
                out[name] = (1.0 / m) if adam_like else 1.0  # hidden weights
            else:
                out[name] = 1.0 if adam_like else m  # biases and norm gains: fan_out = width
        return out

    def param_groups(self, lr: float, optimizer: str = "sgd") -> list[dict[str, Any]]:
        """Optimizer param groups, one per parameter, with ``lr`` times its multiplier.

        Pass the result to ``torch.optim.SGD``/``Adam`` in place of ``model.parameters()``;
        each group also carries its ``name`` and ``lr_multiplier`` for inspection.
        """
        mult = self.lr_multipliers(optimizer)
        return [
            {"params": [p], "lr": lr * mult[name], "name": name, "lr_multiplier": mult[name]}
            for name, p in self.named_parameters()
            if p.requires_grad
        ]
