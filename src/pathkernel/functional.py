"""A module seen as a function of its flat parameter vector: f(theta, x).

The flat vector follows ``torch.nn.utils.parameters_to_vector(model.parameters())``
(DESIGN §2). Outputs are always returned as (n, c): a scalar-output model (output
(n,) or (n, 1)) has c = 1, and callers squeeze that axis for the public shapes.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import TypeVar

import torch
from torch import nn
from torch.func import functional_call
from tqdm import tqdm

FlatFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

NON_SMOOTH_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.Hardtanh, nn.Hardshrink)


class NonSmoothActivationWarning(UserWarning):
    """A theorem that needs a C^1 model is applied to one with a kink (e.g. ReLU)."""


def flat_parameters(model: nn.Module) -> torch.Tensor:
    """The parameters of `model` as one detached vector of shape (P,)."""
    return nn.utils.parameters_to_vector(model.parameters()).detach().clone()


def flat_function(model: nn.Module) -> FlatFunction:
    """f(theta, x) -> (n, c): `model` evaluated at flat parameters theta (P,) on x (n, ...).

    The module's own parameters are not touched; buffers are used as they are.
    Differentiable in theta with torch.func (jvp, jacrev, vmap).
    """
    named = list(model.named_parameters())
    if not named:
        raise ValueError(f"{type(model).__name__} has no parameters to differentiate")
    names = [name for name, _ in named]
    shapes = [p.shape for _, p in named]
    numels = [p.numel() for _, p in named]
    buffers = dict(model.named_buffers())

    def f(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        chunks = theta.split(numels)
        params = {n: c.view(s) for n, c, s in zip(names, chunks, shapes)}
        out = functional_call(model, (params, buffers), (x,))
        return out.reshape(x.shape[0], -1)

    return f


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype shared by all parameters of `model`."""
    dtypes = {p.dtype for p in model.parameters()}
    if len(dtypes) != 1:
        raise TypeError(f"parameters of {type(model).__name__} mix dtypes {sorted(map(str, dtypes))}")
    dtype = dtypes.pop()
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"parameters have dtype {dtype}; expected torch.float32 or torch.float64")
    return dtype


def check_inputs(model: nn.Module, x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """Validate a batch of inputs for `model`: a tensor with a batch axis and the model's dtype."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2 or x.shape[0] < 1:
        raise ValueError(f"{name} has shape {tuple(x.shape)}; expected (batch, ...) with batch >= 1 and a feature axis")
    dtype = model_dtype(model)
    if x.dtype != dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but the model's parameters are {dtype}; convert one of them")
    return x


def output_dim(model: nn.Module, x: torch.Tensor) -> tuple[int, bool]:
    """(c, scalar): number of outputs per example, and whether the output is scalar ((n,) or (n, 1))."""
    with torch.no_grad():
        out = model(x[:1])
    scalar = out.dim() == 1 or (out.dim() == 2 and out.shape[1] == 1)
    return int(out[0].numel()), scalar


def warn_if_non_smooth(model: nn.Module, what: str) -> None:
    """Warn when `model` contains a kinked activation: `what` needs f to be C^1 in w."""
    kinked = sorted({type(m).__name__ for m in model.modules() if isinstance(m, NON_SMOOTH_MODULES)})
    if kinked:
        warnings.warn(
            f"{what} assumes a C^1 model, but the model contains {', '.join(kinked)}: "
            "the Taylor remainder bound does not hold at the kinks (use gelu, softplus or tanh "
            "for the theorem's setting)",
            NonSmoothActivationWarning,
            stacklevel=3,
        )


T = TypeVar("T")


def progress(iterable: Iterable[T], *, total: int, desc: str, enabled: bool | None) -> Iterable[T]:
    """A tqdm progress bar, shown by default only on an interactive terminal outside CI.

    enabled=None: on when stderr is a TTY and neither CI nor PATHKERNEL_QUIET is set.
    """
    if enabled is None:
        quiet = os.environ.get("CI") or os.environ.get("PATHKERNEL_QUIET")
        enabled = not quiet and sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, disable=not enabled, leave=False)
