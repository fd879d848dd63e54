"""The generic route: per-example Jacobians by torch.func, contracted block by block.

Any `nn.Module` whose forward treats examples independently: J(x_i) = d f(theta, x_i) /
d theta by ``torch.func.vmap(torch.func.jacrev(...))``, computed in chunks of examples so
that memory stays bounded, and K = J(x1) J(x2)^T (n1, n2, c, c) accumulated over chunks.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.func import jacrev, vmap

from pathkernel.functional import FlatFunction
from pathkernel.kernels.checks import check_normalizable


def jacobian(f: FlatFunction, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-example Jacobians d f(theta, x_i) / d theta, shape (n, c, P)."""

    def single(t: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        return f(t, xi.unsqueeze(0))[0]

    return vmap(jacrev(single), in_dims=(None, 0))(theta, x)


def jacobian_chunks(
    f: FlatFunction, theta: torch.Tensor, x: torch.Tensor, chunk: int
) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield (rows, J) with J = jacobian(f, theta, x[rows]) for consecutive row chunks."""
    for start in range(0, x.shape[0], chunk):
        rows = slice(start, min(start + chunk, x.shape[0]))
        yield rows, jacobian(f, theta, x[rows])


def rows_per_chunk(rows: int, bytes_per_row: int, max_memory: int) -> int:
    """Examples per Jacobian chunk: a quarter of `max_memory` in rows of `bytes_per_row`, in [1, rows]."""
    return max(1, min(rows, max_memory // (4 * bytes_per_row)))


def generic_kernel(
    f1: FlatFunction,
    theta1: torch.Tensor,
    x1: torch.Tensor,
    f2: FlatFunction,
    theta2: torch.Tensor,
    x2: torch.Tensor,
    c: int,
    max_memory: int,
    *,
    symmetric: bool,
    normalized: bool,
) -> torch.Tensor:
    """Blockwise J(x1) J(x2)^T of shape (n1, n2, c, c), keeping the x2 Jacobians when they fit.

    f1, f2: the model as a function of the selected coordinates (theta1, theta2) of each side."""
    n1, n2 = x1.shape[0], x2.shape[0]
    bytes_per_row = c * theta1.numel() * theta1.element_size()
    chunk = rows_per_chunk(max(n1, n2), bytes_per_row, max_memory)
    second = None
    if n2 * bytes_per_row <= max_memory // 2:
        second = list(jacobian_chunks(f2, theta2, x2, chunk))
    first = second if symmetric and second is not None else jacobian_chunks(f1, theta1, x1, chunk)
    kernel = x1.new_empty(n1, n2, c, c)
    diag1 = x1.new_empty(n1, c)
    diag2 = x1.new_empty(n2, c)
    for k, (rows1, J1) in enumerate(first):
        diag1[rows1] = J1.pow(2).sum(-1)
        blocks = second if second is not None else jacobian_chunks(f2, theta2, x2, chunk)
        for rows2, J2 in blocks:
            kernel[rows1, rows2] = torch.einsum("icp,jdp->ijcd", J1, J2)
            if k == 0:
                diag2[rows2] = J2.pow(2).sum(-1)
    if normalized:
        check_normalizable(diag1, "x1")
        check_normalizable(diag2, "x2")
        kernel = kernel / torch.sqrt(diag1[:, None, :, None] * diag2[None, :, None, :])
    return kernel
