"""The ball / sphere task of Courtois, Morel & Arias (§5.1)."""

from __future__ import annotations

import torch

from pathkernel.validation import finite_number, integer


def ball_sphere(
    n: int,
    *,
    d: int = 2,
    r2: float = 0.8,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """n points in R^d: the first n // 2 inside the ball of radius sqrt(r2) (label -1),
    the other n - n // 2 on the unit sphere ||x|| = 1 (label +1).

    Ball points are uniform in the ball (radius sqrt(r2) * U^(1/d)), sphere points
    uniform on the sphere. Returns x (n, d) and y (n,) in {-1, +1}.

    Raises:
        ValueError: n < 2, d < 1, r2 outside (0, 1) (the ball must sit strictly inside the
            sphere) or not finite, a negative seed, or a bool for any of them.
    """
    n = integer("n", n, low=2)
    d = integer("d", d)
    r2 = finite_number("r2", r2, 0, 1, open_low=True, open_high=True)
    seed = integer("seed", seed, low=0)
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(n, d, generator=generator, dtype=dtype)
    directions = directions / directions.norm(dim=1, keepdim=True)
    inner = n // 2
    radii = torch.ones(n, dtype=dtype)
    radii[:inner] = r2**0.5 * torch.rand(inner, generator=generator, dtype=dtype) ** (1 / d)
    y = torch.ones(n, dtype=dtype)
    y[:inner] = -1
    return directions * radii[:, None], y
