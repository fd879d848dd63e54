"""The tasks of the chapter "What a kernel machine cannot learn": a uniform grid of [-1, 1] as the
sample of the input distribution, a target on it, and training inputs inside it; and the check
that a learning rate lets gradient descent on that grid converge."""

from __future__ import annotations

import math

import torch

from pathkernel.kernels import integral_operator
from pathkernel.validation import integer

#: target functions on [-1, 1] by name
TARGETS = {
    "sine": lambda x: torch.sin(math.pi * x),
    "square": lambda x: torch.sign(torch.sin(2 * math.pi * x)),
    "high": lambda x: torch.sin(6 * math.pi * x),
}


def grid(m: int) -> torch.Tensor:
    """(m, 1) the uniform grid of [-1, 1] with m >= 2 points, float64."""
    integer("m", m, low=2)
    return torch.linspace(-1.0, 1.0, m, dtype=torch.float64)[:, None]


def task(name: str, m: int, train_every: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(sample (m, 1), target on it (m,), training indices (n,)) of task `name`.

    "sine", "square", "high": that target, trained on every `train_every`-th grid point;
    "sine-ood": the sine trained only on the grid points with x < 0 (every `train_every`-th) and
    tested on all of [-1, 1], so half the test inputs lie outside the training range.
    """
    integer("train_every", train_every)
    base = name.removesuffix("-ood")
    if base not in TARGETS or (name != base and base != "sine"):
        raise ValueError(f"task={name!r}; expected one of {sorted(TARGETS) + ['sine-ood']}")
    sample = grid(m)
    indices = torch.arange(0, m, train_every)
    if name.endswith("-ood"):
        indices = indices[sample[indices, 0] < 0]
    return sample, TARGETS[base](sample[:, 0]), indices


def check_rate(lr: float, kernel: torch.Tensor) -> None:
    """ValueError unless lr < 2 / lambda_1, lambda_1 the top eigenvalue of the kernel's operator
    K / m on the grid (kernel (m, m)): at a larger rate gradient descent on the mean squared error
    of the kernel's linear model, u_{k+1} = (I - lr K / m) u_k, diverges along the top eigenspace."""
    top = float(integral_operator(kernel).eigenvalues.max())
    if not lr * top < 2:
        raise ValueError(f"lr={lr:g} with the tangent kernel's top eigenvalue lambda_1={top:.4g} on the grid: "
                         f"gradient descent diverges; expected lr < 2 / lambda_1 = {2 / top:.4g}")
