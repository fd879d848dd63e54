"""Helpers shared by the planar and 1D studies of the chapter "How the kernel evolves": the
network trained by full-batch Adam on the mean squared error, and the points of a box."""

from __future__ import annotations

import numpy as np
import torch

from pathkernel.models import MLP
from pathkernel.training import TrainingPath, train


def fit(x: torch.Tensor, y: torch.Tensor, config, *, steps: int, lr: float, seed: int) -> TrainingPath:
    """A fresh `MLP(d, config.width, config.depth, activation=config.activation)` (float64, seed
    `seed`) trained by full-batch Adam on the mean squared error to y, on x's device; returns its
    recorded path (the model holds theta_T)."""
    model = MLP(x.shape[1], config.width, config.depth, activation=config.activation, seed=seed,
                dtype=torch.float64).to(x.device)
    return train(model, x, y, lr=lr, steps=steps, optimizer="adam")


def box_grid(extent: tuple[float, float, float, float], size: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """Axes (size,), (size,) of the box (x0, x1, y0, y1) and its points (size^2, 2), row = y."""
    x0, x1, y0, y1 = extent
    gx, gy = np.linspace(x0, x1, size), np.linspace(y0, y1, size)
    return gx, gy, torch.from_numpy(np.stack([a.ravel() for a in np.meshgrid(gx, gy)], 1))
