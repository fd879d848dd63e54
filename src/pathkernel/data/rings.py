"""Concentric rings: the ball / sphere task with c classes (the vector-output example)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pathkernel.validation import finite_number, integer


def rings(
    n: int,
    *,
    radii: Sequence[float] = (0.3, 0.65, 1.0),
    thickness: float = 0.1,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """n points in the plane on c = len(radii) concentric annuli, class j on the j-th.

    Class j gets n // c points (the first n % c classes one more), uniform in angle and
    uniform in area on the annulus radii[j] - thickness / 2 <= ||x|| <= radii[j] + thickness / 2.
    Returns x (n, 2) and integer labels y (n,) in {0, ..., c - 1}, in class order.

    Raises:
        ValueError: n not an integer, a radius or the thickness not a finite number (NaN,
            inf, a bool), thickness <= 0, overlapping annuli, fewer than two classes or than
            one point per class, a negative seed.
    """
    n = integer("n", n)
    seed = integer("seed", seed, low=0)
    if isinstance(radii, (str, bytes)) or not hasattr(radii, "__len__"):
        raise ValueError(f"radii={radii!r} must be a sequence of numbers (one radius per class)")
    radii = [finite_number(f"radii[{j}]", r, 0, open_low=True) for j, r in enumerate(radii)]
    c = len(radii)
    if c < 2 or n < c:
        raise ValueError(f"n={n} points and {c} radii: need at least two classes and one point per class")
    thickness = finite_number("thickness", thickness, 0, open_low=True)
    if radii[0] - thickness / 2 < 0 or any(b - a <= thickness for a, b in zip(radii, radii[1:])):
        raise ValueError(
            f"radii={tuple(radii)} must increase, start at >= thickness / 2 and be more than "
            f"thickness={thickness} apart (the annuli must not overlap)"
        )
    counts = [n // c + (j < n % c) for j in range(c)]
    generator = torch.Generator().manual_seed(seed)
    inner = torch.tensor([r - thickness / 2 for r in radii], dtype=dtype)
    outer = torch.tensor([r + thickness / 2 for r in radii], dtype=dtype)
    y = torch.repeat_interleave(torch.arange(c), torch.tensor(counts))
    angle = 2 * torch.pi * torch.rand(n, generator=generator, dtype=dtype)
    u = torch.rand(n, generator=generator, dtype=dtype)
    radius = torch.sqrt(inner[y] ** 2 + u * (outer[y] ** 2 - inner[y] ** 2))
    return torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1), y
