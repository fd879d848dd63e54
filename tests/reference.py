"""Independent references for the tests: plain autograd loops, no torch.func, no package code."""

from __future__ import annotations

import copy

import torch
from torch import nn


def load_flat(model: nn.Module, theta: torch.Tensor) -> nn.Module:
    """A deep copy of `model` holding the flat parameters theta."""
    clone = copy.deepcopy(model)
    nn.utils.vector_to_parameters(theta.clone(), clone.parameters())
    return clone


def naive_jacobian(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(n, c, P): one backward pass per example and per output."""
    params = list(model.parameters())
    rows = []
    for xi in x:
        out = model(xi.unsqueeze(0)).reshape(-1)
        per_output = []
        for a in range(out.numel()):
            grads = torch.autograd.grad(out[a], params, retain_graph=True, allow_unused=True)
            per_output.append(torch.cat([
                (g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)
            ]))
        rows.append(torch.stack(per_output))
    return torch.stack(rows)


def naive_kernel(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor, model2: nn.Module | None = None) -> torch.Tensor:
    """(n1, n2, c, c) as a double loop of dot products of naive Jacobian rows."""
    J1 = naive_jacobian(model, x1)
    J2 = naive_jacobian(model2 if model2 is not None else model, x2)
    K = torch.empty(J1.shape[0], J2.shape[0], J1.shape[1], J2.shape[1], dtype=J1.dtype)
    for i in range(J1.shape[0]):
        for j in range(J2.shape[0]):
            for a in range(J1.shape[1]):
                for b in range(J2.shape[1]):
                    K[i, j, a, b] = torch.dot(J1[i, a], J2[j, b])
    return K


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def randn(*shape: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Seeded standard normal samples."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)
