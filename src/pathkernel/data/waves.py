"""One-dimensional regression targets: sin x and a square wave (Guo, He & Morel, Fig. 2)."""

from __future__ import annotations

import math

import torch

from pathkernel.validation import integer

WAVES = ("sine", "square")


def wave(kind: str, x: torch.Tensor) -> torch.Tensor:
    """The target at x (any shape): sin x ("sine") or sign(sin x) with sign(0) = 1 ("square")."""
    if kind not in WAVES:
        raise ValueError(f"kind={kind!r}; expected one of {WAVES}")
    s = torch.sin(x)
    return s if kind == "sine" else torch.where(s >= 0, 1.0, -1.0).to(x.dtype)


def waves(
    kind: str,
    n: int,
    *,
    low: float = -math.pi,
    high: float = math.pi,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """n equally spaced points x_i in [low, high] (both ends included) and the targets
    `wave(kind, x)`. Returns x (n, 1) and y (n,)."""
    integer("n", n, low=2)
    if not low < high:
        raise ValueError(f"low={low} must be < high={high}")
    x = torch.linspace(low, high, n, dtype=dtype)
    return x[:, None], wave(kind, x)
