"""The tasks the studies of the chapter "SGD as a diffusion" share: a linear regression and a small GELU MLP
fitted to a sine, each as a flat function f(w, x) -> (m,) with its initial parameters and data."""

from __future__ import annotations

import numpy as np
import torch

from pathkernel.functional import flat_function, flat_parameters
from pathkernel.models import MLP
from pathkernel.sgd_diffusion.covariance import Model

MODELS = ("linear", "mlp")


def linear(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """f(w, x) = <w, x>: (m,) for x (m, P)."""
    return x @ w


def task(model: str, n: int, dim: int, width: int, depth: int, seed: int,
         device: torch.device) -> tuple[Model, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(f, w0 (P,), x (n, d), y (n,)) in float64 on `device`.

    "linear": x ~ N(0, I_dim), y = <x, (1, ..., 1)> + N(0, 1/4) noise (seeded), w0 = 0, so the noise of
    SGD persists at the minimum. "mlp": a GELU MLP (width, depth, seeded) on x = n points evenly spaced
    in [-1, 1] (dim = 1), y = sin(3x)."""
    if model not in MODELS:
        raise ValueError(f"model={model!r}; expected one of {MODELS}")
    generator = torch.Generator().manual_seed(seed)
    if model == "linear":
        x = torch.randn(n, dim, generator=generator, dtype=torch.float64)
        y = x.sum(1) + 0.5 * torch.randn(n, generator=generator, dtype=torch.float64)
        return linear, torch.zeros(dim, dtype=torch.float64, device=device), x.to(device), y.to(device)
    network = MLP(1, width, depth, activation="gelu", seed=seed, dtype=torch.float64).to(device)
    x = torch.linspace(-1, 1, n, dtype=torch.float64)[:, None]
    f = flat_function(network)

    def scalar(w: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return f(w, inputs)[:, 0]

    return scalar, flat_parameters(network), x.to(device), torch.sin(3 * x[:, 0]).to(device)


def slope_fit(lrs: np.ndarray, gaps: np.ndarray, errors: np.ndarray) -> tuple[float, float, float, int]:
    """Slope of log|gap| against log lr over the points whose |gap| exceeds 3 standard errors (`errors`,
    zeros for exact gaps): (slope, low, high, points used). Monte Carlo gaps: weighted least squares with
    the log-scale errors errors/|gap|, the interval slope +- 1.96 standard errors; exact gaps: ordinary
    least squares, the interval from the residuals (zero width with two points); NaN below two points."""
    keep = np.abs(gaps) > 3 * errors
    k = int(keep.sum())
    if k < 2:
        return float("nan"), float("nan"), float("nan"), k
    u, v = np.log(lrs[keep]), np.log(np.abs(gaps[keep]))
    exact = not errors[keep].any()
    sigma = np.ones(k) if exact else errors[keep] / np.abs(gaps[keep])
    design = np.stack([u, np.ones_like(u)], axis=1) / sigma[:, None]
    coef, *_ = np.linalg.lstsq(design, v / sigma, rcond=None)
    scale = 1.0
    if exact:
        residuals = v - design @ coef
        scale = float(residuals @ residuals / (k - 2)) if k > 2 else 0.0
    se = float(np.sqrt(scale * np.linalg.inv(design.T @ design)[0, 0]))
    return float(coef[0]), float(coef[0] - 1.96 * se), float(coef[0] + 1.96 * se), k
