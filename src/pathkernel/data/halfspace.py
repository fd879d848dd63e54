"""The linearly separable task of Courtois, Morel & Arias (§5.2): a half-space."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pathkernel.validation import integer


def unit_direction(direction: Sequence[float] | torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """`direction` (d,) scaled to unit length; ValueError for a zero or non-finite vector (or bools)."""
    if (direction.dtype == torch.bool if isinstance(direction, torch.Tensor)
            else isinstance(direction, (str, bytes)) or any(isinstance(v, bool) for v in direction)):
        raise ValueError(f"direction={direction!r} must be a vector of numbers, not bools or a string")
    u = torch.as_tensor(direction, dtype=dtype).reshape(-1)
    norm = u.norm()
    if u.numel() < 1 or not torch.isfinite(norm) or norm == 0:
        raise ValueError(f"direction={list(u.tolist())} must be a finite non-zero vector")
    return u / norm


def halfspace(
    n: int,
    *,
    direction: Sequence[float] | torch.Tensor = (1.0, 0.0),
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """n points uniform in the cube [-1, 1]^d, labelled by the side of the hyperplane <u, x> = 0.

    y_i = +1 if <u, x_i> >= 0 else -1, with u = direction / ||direction|| (its length d sets
    the dimension). Returns x (n, d) and y (n,) in {-1, +1}.
    """
    n = integer("n", n)
    seed = integer("seed", seed, low=0)
    u = unit_direction(direction, dtype)
    generator = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(n, u.numel(), generator=generator, dtype=dtype) - 1
    y = torch.where(x @ u >= 0, 1.0, -1.0).to(dtype)
    return x, y
