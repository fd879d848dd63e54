"""Argument checks of the tangent kernels: flat parameter vectors, and the points where the
normalized (cosine) kernel is defined."""

from __future__ import annotations

import torch
from torch import nn

from pathkernel.functional import flat_parameters, is_meta


def check_params(model: nn.Module, params: torch.Tensor | None, name: str) -> torch.Tensor:
    """`params` (a flat vector (P_all,) of every coordinate, frozen ones included, of the
    model's dtype and device), detached; the model's own flat parameters when None."""
    theta = flat_parameters(model)
    if params is None:
        return theta
    if not isinstance(params, torch.Tensor) or params.shape != theta.shape:
        shape = tuple(params.shape) if isinstance(params, torch.Tensor) else type(params).__name__
        raise ValueError(f"{name} has shape {shape}; expected a flat vector of every coordinate, frozen ones "
                         f"included, of shape {tuple(theta.shape)}")
    if params.dtype != theta.dtype:
        raise TypeError(f"{name} has dtype {params.dtype}; the model's parameters are {theta.dtype}")
    if params.device != theta.device:
        raise ValueError(f"{name} is on {params.device} but the model is on {theta.device}; move one of them")
    return params.detach()


def check_normalizable(diagonal: torch.Tensor, name: str) -> None:
    """The cosine form divides by sqrt(K(x, x)): refuse points where the gradient vanishes."""
    if is_meta(diagonal):  # shapes only: nothing to check
        return
    zero = torch.nonzero((diagonal <= 0).any(-1)).flatten()
    if zero.numel():
        raise ValueError(f"normalized=True is undefined at {name} rows {zero[:8].tolist()}"
                         f"{' ...' if zero.numel() > 8 else ''}: the gradient of f vanishes there (K(x, x) = 0); "
                         "use normalized=False or drop those points")
