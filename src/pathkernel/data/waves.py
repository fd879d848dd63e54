"""One-dimensional regression targets: sin x and a square wave (Guo, He & Morel, Fig. 2)."""

from __future__ import annotations

import math

import torch

from pathkernel.validation import finite_number, integer

WAVES = ("sine", "square")


def wave(kind: str, x: torch.Tensor) -> torch.Tensor:
    """The target at x (any shape): sin x ("sine") or sign(sin x) with sign(0) = 1 ("square").

    x must be a floating tensor of finite values (ValueError naming the first NaN or inf).
    """
    if not isinstance(kind, str) or kind not in WAVES:
        raise ValueError(f"kind={kind!r}; expected one of {WAVES}")
    if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
        raise TypeError(f"x must be a floating torch.Tensor; got {getattr(x, 'dtype', type(x).__name__)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"x holds a non-finite value ({x[~torch.isfinite(x)].flatten()[0].item()}); "
                         f"expected finite points")
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
    `wave(kind, x)`. Returns x (n, 1) and y (n,). low and high must be finite, low < high.

    The grid is mirror-symmetric about its midpoint m = (low + high) / 2, so an odd n holds
    m itself exactly: with the default low = -pi, high = pi every odd-n grid contains the
    origin x = 0 exactly (torch.linspace does not guarantee this: its middle point of 101
    is -2.8e-16) and x_i = -x_(n-1-i). The ends are low and high exactly.
    """
    if not isinstance(kind, str) or kind not in WAVES:
        raise ValueError(f"kind={kind!r}; expected one of {WAVES}")
    n = integer("n", n, low=2)
    low = finite_number("low", low)
    high = finite_number("high", high)
    if not low < high:
        raise ValueError(f"low={low} must be < high={high}")
    steps = torch.arange(n, dtype=torch.float64)
    unit = (2 * steps - (n - 1)) / (n - 1)          # in [-1, 1], exactly antisymmetric: unit_i = -unit_(n-1-i)
    x = low / 2 + high / 2 + (high / 2 - low / 2) * unit
    x[0], x[-1] = low, high
    x = x.to(dtype)
    return x[:, None], wave(kind, x)
