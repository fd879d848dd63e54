"""The 2D data of the chapter "Diffusion models and GANs": a mixture of Gaussians on a circle."""

from __future__ import annotations

import math

import torch


def mixture(n: int, modes: int, spread: float, generator: torch.Generator) -> torch.Tensor:
    """(n, 2) float64 points: mode j ~ N((cos 2 pi j / modes, sin 2 pi j / modes), spread^2 I), modes
    drawn uniformly. Raises ValueError for n or modes below 1 or a negative spread (named)."""
    if n < 1 or modes < 1 or spread < 0:
        raise ValueError(f"mixture needs n >= 1, modes >= 1, spread >= 0; got n={n}, modes={modes}, spread={spread}")
    which = torch.randint(0, modes, (n,), generator=generator)
    angle = 2 * math.pi * which.to(torch.float64) / modes
    centers = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return centers + spread * torch.randn(n, 2, generator=generator, dtype=torch.float64)


def alpha_bar(t: torch.Tensor) -> torch.Tensor:
    """The cosine schedule's signal fraction: alpha_bar(t) = cos^2(pi t / 2) for noise level t in [0, 1];
    x_t = sqrt(alpha_bar(t)) x_0 + sqrt(1 - alpha_bar(t)) eps."""
    return torch.cos(0.5 * math.pi * t) ** 2
