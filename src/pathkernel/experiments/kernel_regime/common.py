"""Helpers shared by the studies of the chapter "The kernel regime": the chapter's 1D data,
gradient descent recorded at checkpoints only (wide models), and a log-log power-law fit."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pathkernel.functional import flat_parameters
from pathkernel.training import train
from pathkernel.validation import integer

#: flat parameters held at once by `train_checkpoints` (bounds the recorded path's memory)
PATH_BUDGET = 20_000_000


def regression_data(n: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """n evenly spaced inputs in [-1, 1], shape (n, 1), and targets y = sin(2.5 x), (n,)."""
    x = torch.linspace(-1.0, 1.0, integer("n", n), dtype=dtype)[:, None]
    return x, torch.sin(2.5 * x[:, 0])


def train_checkpoints(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int,
                      every: int) -> list[torch.Tensor]:
    """Full-batch gradient descent (`pk.train`, mse) for `steps`, returning the flat parameters at
    steps 0, every, 2 every, ..., steps (steps must be a multiple of every).

    Gradient descent keeps no state between steps, so `pk.train` runs in segments and only the
    checkpoints are kept: a wide model's full path (steps+1, P) would not fit in memory. The
    checkpoints are on the model's device (a path's rows are kept on the CPU).
    """
    integer("every", every)
    if integer("steps", steps) % every:
        raise ValueError(f"steps={steps} must be a multiple of every={every}")
    theta = flat_parameters(model)
    segment = max(1, min(every, PATH_BUDGET // theta.numel()))
    while every % segment:
        segment -= 1
    checkpoints = [theta]
    for k in range(0, steps, segment):
        theta = train(model, x, y, lr=lr, steps=segment, progress_bar=False).params[-1].to(theta.device)
        if (k + segment) % every == 0:
            checkpoints.append(theta)
    return checkpoints



def power_law(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line log y = intercept + slope log x (>= 2 distinct x)."""
    if len(np.unique(xs)) < 2:
        raise ValueError(f"a power law needs >= 2 distinct x values; got {np.asarray(xs).tolist()}")
    slope, intercept = np.polyfit(np.log(xs), np.log(ys), 1)
    return float(slope), float(intercept)
