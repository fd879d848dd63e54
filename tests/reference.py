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


def naive_outside(free) -> set[tuple[int, int]]:
    """Pixels of the boolean image `free` reachable from its border through 4-neighbour
    steps in `free` (a breadth-first search in plain Python)."""
    rows, cols = len(free), len(free[0])
    queue = [(i, j) for i in range(rows) for j in range(cols)
             if (i in (0, rows - 1) or j in (0, cols - 1)) and free[i][j]]
    seen = set(queue)
    while queue:
        i, j = queue.pop()
        for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
            if 0 <= a < rows and 0 <= b < cols and free[a][b] and (a, b) not in seen:
                seen.add((a, b))
                queue.append((a, b))
    return seen


def naive_boundary(shape, neighbours: int = 8) -> list[list[bool]]:
    """Pixels of `shape` with a neighbour (8 or 4 of them) outside it or beyond the border."""
    rows, cols = len(shape), len(shape[0])
    steps = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)]
    if neighbours == 4:
        steps = [(a, b) for a, b in steps if a == 0 or b == 0]

    def outside(i, j):
        return not (0 <= i < rows and 0 <= j < cols) or not shape[i][j]

    return [[bool(shape[i][j]) and any(outside(i + a, j + b) for a, b in steps) for j in range(cols)]
            for i in range(rows)]
