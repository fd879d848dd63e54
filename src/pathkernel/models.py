"""Models whose training paths the book decomposes.

`MLP` is the fully connected network of the paper (DESIGN §2): `depth` Linear layers,
an activation between them, PyTorch's default ("standard") or the NTK
parameterization. `LinearModel` is f(w, x) = <w, x> + b, the exact case of Theorem 2.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from pathkernel.parity_net import ParityNet  # noqa: F401  (re-exported: the 1D prefix-parity conv structure)
from pathkernel.prefix_parity import PrefixParityNet  # noqa: F401  (re-exported: S1's Figure 8, reconstructed)
from pathkernel.unet import UNet  # noqa: F401  (re-exported: the 6-scale U-Net of the 2D shape-filling chapter)
from pathkernel.validation import integer

ACTIVATIONS = ("gelu", "tanh", "relu", "softplus", "erf", "sigmoid", "identity")


class Erf(nn.Module):
    """Elementwise error function, the activation of the erf infinite-width NTK."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.erf(x)


def activation_module(name: str) -> nn.Module:
    """The `nn.Module` of an activation named in `ACTIVATIONS`."""
    modules = {
        "gelu": nn.GELU,
        "tanh": nn.Tanh,
        "relu": nn.ReLU,
        "softplus": nn.Softplus,
        "erf": Erf,
        "sigmoid": nn.Sigmoid,
        "identity": nn.Identity,
    }
    if name not in modules:
        raise ValueError(f"activation={name!r} is not supported; expected one of {ACTIVATIONS}")
    return modules[name]()


class NTKLinear(nn.Module):
    """Linear layer in the NTK parameterization (Jacot et al. 2018).

    Every weight and bias is drawn from N(0, 1); the layer computes
    ``sqrt(weight_var / fan_in) * a @ W.T + sqrt(bias_var) * b`` for input a of shape
    (batch, fan_in). Output (batch, fan_out).
    """

    def __init__(
        self, fan_in: int, fan_out: int, weight_var: float = 1.0, bias_var: float = 0.0
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in))
        self.bias = nn.Parameter(torch.randn(fan_out))
        self.weight_scale = math.sqrt(weight_var / fan_in)
        self.bias_scale = math.sqrt(bias_var)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.weight_scale * (a @ self.weight.T) + self.bias_scale * self.bias


class MLP(nn.Module):
    """Fully connected network ``in_dim -> width -> … -> width -> out_dim``.

    ``depth`` is the number of Linear layers (depth=1 is an affine model); the
    activation sits between consecutive layers, none after the last one.

    Args:
        in_dim, width, depth, out_dim: sizes.
        activation: one of ``ACTIVATIONS``.
        parameterization: ``"standard"`` (PyTorch's nn.Linear initialization and
            forward) or ``"ntk"`` (see `NTKLinear`; weight_var and bias_var apply).
        seed: seed of the initialization (the global RNG is left untouched).
        dtype: parameter dtype (float32 or float64).

    Input (batch, in_dim); output (batch, out_dim).
    """

    def __init__(
        self,
        in_dim: int,
        width: int,
        depth: int,
        out_dim: int = 1,
        activation: str = "gelu",
        *,
        parameterization: Literal["standard", "ntk"] = "standard",
        weight_var: float = 1.0,
        bias_var: float = 0.0,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        sizes = [integer("in_dim", in_dim)]
        sizes += [integer("width", width)] * (integer("depth", depth) - 1)
        sizes += [integer("out_dim", out_dim)]
        activation_module(activation)
        if parameterization not in ("standard", "ntk"):
            raise ValueError(
                f"parameterization={parameterization!r}; expected 'standard' or 'ntk'"
            )
        if weight_var <= 0 or bias_var < 0:
            raise ValueError(
                f"weight_var={weight_var} must be > 0 and bias_var={bias_var} >= 0"
            )
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype={dtype}; expected torch.float32 or torch.float64")
        self.activation = activation
        self.parameterization = parameterization
        layers: list[nn.Module] = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
                if k > 0:
                    layers.append(activation_module(activation))
                if parameterization == "ntk":
                    layers.append(NTKLinear(fan_in, fan_out, weight_var, bias_var))
                else:
                    layers.append(nn.Linear(fan_in, fan_out))
        self.layers = nn.Sequential(*layers).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class LinearModel(nn.Module):
    """Affine model f(w, x) = <w, x> + b (input (batch, in_dim), output (batch, out_dim)).

    Its tangent kernel <x, x'> + 1 does not depend on the parameters, so the
    discrete Domingos decomposition is exact (DESIGN §3).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 1,
        *,
        bias: bool = True,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype={dtype}; expected torch.float32 or torch.float64")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.linear = nn.Linear(
                integer("in_dim", in_dim), integer("out_dim", out_dim), bias=bias
            ).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)
