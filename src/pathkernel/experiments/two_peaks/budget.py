"""One budget rule for gradient descent and Adam on the multi-peak task, and intervals over seeds.

The rule (`fit`), the same for both optimizers: every run starts from its network's seeded
initialization theta_0 and is trained full batch on the loss L(theta) = mean_i 1/2 (f(theta, x_i) - y_i)^2
with each learning rate of one common grid, all copies in lockstep; the run stops at the first
step T at which one copy's training loss satisfies L(theta_T) <= target (that copy is kept: its
learning rate is the one that reaches the target in the fewest steps), or at T = max_steps,
the common cap (then the copy with the lowest finite training loss is kept). A copy whose loss
becomes NaN or infinite has diverged and is dropped. Only training losses are read: the choice
of the learning rate never sees an unseen input.

Updates follow torch.optim: gradient descent theta <- theta - lr g; Adam (betas, eps) with
m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2, theta <- theta - lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t) + eps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import grad_and_value, vmap

from pathkernel.determinism import fixed_threads
from pathkernel.experiments.statistics import mean_interval
from pathkernel.functional import flat_function
from pathkernel.training import TrainingDivergedError
from pathkernel.validation import finite_number, integer

OPTIMIZERS = ("gd", "adam")
#: the confidence level of the intervals over seeds
LEVEL = 0.95


@dataclass
class Fit:
    """The kept copy of each of R runs under the budget rule.

    lr (R,) its learning rate and lr_index (R,) its index in the grid; steps (R,) T; reached (R,)
    whether L(theta_T) <= target; losses (R, max_steps + 1) L(theta_0) .. L(theta_T), NaN after T;
    theta (R, P) theta_T; grid_losses (R, G) every grid copy's last training loss (NaN: diverged).
    """

    lr: np.ndarray
    lr_index: np.ndarray
    steps: np.ndarray
    reached: np.ndarray
    losses: np.ndarray
    theta: torch.Tensor
    grid_losses: np.ndarray


def check_rule(lrs: Sequence[float], target: float, max_steps: int) -> None:
    """Raise ValueError naming the value when the grid, the target or the cap is not usable."""
    if isinstance(lrs, (str, bytes)) or not isinstance(lrs, Sequence) or len(lrs) == 0:
        raise ValueError(f"lrs={lrs!r} must be a non-empty sequence of learning rates")
    for lr in lrs:
        finite_number("a learning rate in lrs", lr, 0, open_low=True)
    if len(set(lrs)) != len(lrs):
        raise ValueError(f"lrs={lrs!r} has repeated values")
    finite_number("target_loss", target, 0, open_low=True)
    integer("max_steps", max_steps, 1)


def fit(model: nn.Module, theta0: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *, optimizer: str,
        lrs: Sequence[float], target: float, max_steps: int, betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8) -> Fit:
    """Train R runs of `model`'s architecture under the budget rule (module docstring).

    Args:
        model: the architecture (its parameters are not touched), output (n, 1).
        theta0: (R, P) flat initial parameters of the runs (`parameters_to_vector` order).
        x: (R, m, d) training inputs of each run; y: (R, m) targets.
        optimizer: "gd" or "adam"; lrs: the grid (G,); target: the training loss to reach;
        max_steps: the cap on the number of steps.

    Computes on theta0's device; on the CPU on one thread (`determinism.fixed_threads`): its many small
    batched operations ran 7x slower on two intra-op threads (the quick sweep: 52 s against 7 s, on a
    shared 2-core machine).

    Raises:
        ValueError: an unknown optimizer, a bad grid, target or cap, or shapes that disagree.
        TrainingDivergedError: every copy of a run diverged.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r} is not supported; expected one of {OPTIMIZERS}")
    check_rule(lrs, target, max_steps)
    runs, p = theta0.shape
    if x.dim() != 3 or x.shape[0] != runs or y.shape != x.shape[:2]:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must be (R, m, d) and (R, m) with "
                         f"R = {runs} runs (theta0 {tuple(theta0.shape)})")
    with fixed_threads(1) if theta0.device.type == "cpu" else nullcontext():
        return _lockstep(model, theta0, x, y, optimizer, lrs, target, max_steps, betas, eps)


def _lockstep(model: nn.Module, theta0: torch.Tensor, x: torch.Tensor, y: torch.Tensor, optimizer: str,
              lrs: Sequence[float], target: float, max_steps: int, betas: tuple[float, float], eps: float) -> Fit:
    """`fit`'s loop, its arguments checked."""
    runs, p = theta0.shape
    grid = len(lrs)
    f = flat_function(model)

    def loss(theta: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        return 0.5 * (f(theta, xs)[:, 0] - ys).pow(2).mean()

    step = vmap(grad_and_value(loss))
    device, dtype = theta0.device, theta0.dtype
    run = torch.arange(runs, device=device).repeat_interleave(grid)           # copy -> run
    rate = torch.tensor(lrs, dtype=dtype, device=device).repeat(runs)         # copy -> learning rate
    live = torch.arange(runs * grid, device=device)                            # the copies still training
    theta = theta0.detach().repeat_interleave(grid, 0)
    first, second = torch.zeros_like(theta), torch.zeros_like(theta)
    history = torch.full((runs * grid, max_steps + 1), math.nan, dtype=dtype, device=device)
    final = torch.full((runs * grid,), math.nan, dtype=dtype, device=device)
    kept, steps = np.full(runs, -1), np.zeros(runs, dtype=int)
    kept_theta = torch.empty(runs, p, dtype=dtype, device=device)
    for k in range(max_steps + 1):
        gradient, value = step(theta, x[run[live]], y[run[live]])
        history[live, k] = value.detach()
        finite = torch.isfinite(value)
        final[live[~finite]] = math.nan
        final[live[finite]] = value[finite].detach()
        owner = run[live]
        alive = torch.zeros(runs, dtype=torch.long, device=device).index_add_(0, owner, finite.long())
        if bool((alive[owner] == 0).any()):
            r = owner[alive[owner] == 0][0].item()
            raise TrainingDivergedError(f"every copy of run {r} diverged by step {k} (lrs={list(lrs)})")
        done = torch.zeros(len(live), dtype=torch.bool)
        finished = owner[finite & (value <= target)].unique() if k < max_steps else owner.unique()
        for r in finished.tolist():
            mine = (owner == r) & finite
            best = torch.nonzero(mine)[value[mine].argmin()].item()
            kept[r], steps[r], kept_theta[r] = live[best].item(), k, theta[best]
            done |= owner == r
        keep = ~done & finite
        if not bool(keep.any()):
            break
        live, theta, gradient = live[keep], theta[keep], gradient[keep]
        first, second, lr = first[keep], second[keep], rate[live][:, None]
        if optimizer == "gd":
            theta = theta - lr * gradient
        else:
            first = betas[0] * first + (1 - betas[0]) * gradient
            second = betas[1] * second + (1 - betas[1]) * gradient * gradient
            denominator = second.sqrt() / math.sqrt(1 - betas[1] ** (k + 1)) + eps
            theta = theta - lr / (1 - betas[0] ** (k + 1)) * first / denominator
    losses = history[torch.from_numpy(kept).to(device)].cpu().numpy()
    return Fit(lr=np.asarray(lrs, dtype=float)[kept % grid], lr_index=kept % grid, steps=steps,
               reached=losses[np.arange(runs), steps] <= target, losses=losses, theta=kept_theta,
               grid_losses=final.view(runs, grid).cpu().numpy())


def interval(values: np.ndarray, level: float = LEVEL, *, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Mean and Student-t interval of the mean over the last axis (seeds), clipped to [low, high].

    values (..., s) with s >= 2 -> (..., 3): mean, mean - h, mean + h with
    h = t_{(1 + level)/2, s-1} * std(values, ddof=1) / sqrt(s), each clipped to [low, high]
    (the range of an accuracy by default); `statistics.mean_interval`.
    """
    return np.clip(np.stack(mean_interval(values, level), -1), low, high)
