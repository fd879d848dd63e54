"""The kernel term and the Ito term of E f(x, W_T) along the SDE of a small GELU MLP, as lr and B vary.

Ito's formula along dW = -grad L dt + sqrt(lr) Sigma_B^{1/2} dB_t (`pathkernel.sgd_diffusion.ito`):
    E f(x, W_T) - f(x, W_0) = -E int_0^T sum_i l'_i K_{W_s}(x, x_i) ds + (lr/2) E int_0^T tr(Sigma_B grad^2 f(x, W_s)) ds.
Euler-Maruyama paths (step dt) accumulate both integrands at the left end of every step (Ito's
convention); the ensemble gives each term's mean and standard error, and the residual of the
identity (the change minus the two terms, O(dt) for the discretized paths) with its standard error.
To first order in lr the paths are the gradient-flow path w(s) and the Ito term is
lr (n - B)/((n - 1) B) J(x) with J(x) = 1/2 int_0^T tr(Sigma_1(w(s)) grad^2 f(x, w(s))) ds, computed
along gradient descent of step dt with the noise-free kernel term (`first_order` = the measured Ito
term divided by that prediction).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.stochastic_kernel._common import task
from pathkernel.sgd_diffusion import em_step, kernel_and_ito_rates, per_example_gradients
from pathkernel.validation import finite_number, integer


@dataclass(frozen=True)
class Config(Presets):
    """A GELU MLP (width, depth) on n points of a sine; the SDE for every lr in `lrs` and batch size in
    `batch_sizes`, `walkers` Euler-Maruyama paths of step dt to `time`; the terms at `queries` (inputs in [-1, 1])."""

    scale: str
    walkers: int
    lrs: tuple[float, ...] = (0.4, 0.2, 0.1)
    batch_sizes: tuple[int, ...] = (1, 2, 4)
    n: int = 8
    time: float = 1.0
    dt: float = 0.05
    width: int = 16
    depth: int = 2
    queries: tuple[float, ...] = (-0.5, 0.0, 0.5)

    sources: ClassVar[dict[str, str]] = {
        "walkers": "ours: enough paths for the Ito term's standard error to be small beside it",
        "lrs": "ours: halvings around the lr of a small network",
        "batch_sizes": "ours: from one example to half the data",
        "n": "ours: few examples, so every per-example gradient of every walker fits in memory",
        "time": "ours: one unit of time t = k lr, long enough for the loss to fall",
        "dt": "ours: the Euler-Maruyama step, below every lr",
        "width": "ours: a small GELU MLP (Guo et al. give no network for this in our copy)",
        "depth": "ours: one hidden layer",
        "queries": "ours: three inputs inside the data's interval",
    }

    def __post_init__(self) -> None:
        integer("walkers", self.walkers, 2)
        integer("n", self.n, 2)
        for b in self.batch_sizes:
            integer("batch_sizes", b, 1, self.n)
        finite_number("dt", self.dt, 0, self.time, open_low=True)
        if not self.lrs or any(lr <= 0 for lr in self.lrs):
            raise ValueError(f"lrs={self.lrs!r} must be positive")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", walkers=128)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", walkers=2000, lrs=(0.4, 0.2, 0.1, 0.05), batch_sizes=(1, 2, 4, 8), n=16, dt=0.01,
                   width=64)


@dataclass
class Result:
    """Arrays (len(lrs), len(batch_sizes), len(queries)): the ensemble means and standard errors of the
    kernel term int sum_i l'_i K ds (kernel, kernel_se), of the Ito term (ito, ito_se), of the change
    f(x, W_T) - f(x, W_0) (change, change_se) and of the residual change + kernel - ito (residual,
    residual_se); first_order = ito / (lr (n - B)/((n - 1) B) J(x)); diverged (len(lrs), len(batch_sizes)):
    the walkers whose Euler-Maruyama path left the floating-point range (all of that pair's statistics
    are then NaN: a mean over the survivors would be biased); along gradient descent of step dt
    (the noise-free path), per query (len(queries),): J, the kernel term (gd_kernel) and the change
    (gd_change)."""

    config: Config
    kernel: np.ndarray
    kernel_se: np.ndarray
    ito: np.ndarray
    ito_se: np.ndarray
    change: np.ndarray
    change_se: np.ndarray
    residual: np.ndarray
    residual_se: np.ndarray
    first_order: np.ndarray
    diverged: np.ndarray
    j: np.ndarray
    gd_kernel: np.ndarray
    gd_change: np.ndarray


def _stats(values: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over the walkers (axis 0)."""
    return values.mean(0).cpu().numpy(), (values.std(0) / values.shape[0] ** 0.5).cpu().numpy()


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    device = check_device(device)
    f, w0, x, y = task("mlp", config.n, 1, config.width, config.depth, seed, device)
    queries = torch.tensor(config.queries, dtype=torch.float64, device=device)[:, None]
    generator = torch.Generator().manual_seed(seed)
    steps = round(config.time / config.dt)
    out = {name: np.zeros((len(config.lrs), len(config.batch_sizes), len(config.queries)))
           for name in ("kernel", "kernel_se", "ito", "ito_se", "change", "change_se", "residual", "residual_se")}
    start = f(w0, queries)
    diverged = np.zeros((len(config.lrs), len(config.batch_sizes)), dtype=np.int64)
    for a, lr in enumerate(config.lrs):
        for b, batch in enumerate(config.batch_sizes):
            w = w0[None].repeat(config.walkers, 1)
            kernel = ito = torch.zeros(config.walkers, len(config.queries), dtype=torch.float64, device=device)
            for _ in range(steps):
                k_rate, i_rate = kernel_and_ito_rates(f, w, x, y, queries, lr=lr, batch_size=batch)
                kernel, ito = kernel + config.dt * k_rate, ito + config.dt * i_rate
                w = em_step(f, w, x, y, lr=lr, batch_size=batch, dt=config.dt, generator=generator)
            change = torch.vmap(f, in_dims=(0, None))(w, queries) - start
            finite = torch.isfinite(torch.cat([kernel, ito, change], dim=1)).all(dim=1)
            diverged[a, b] = int((~finite).sum())
            for name, values in (("kernel", kernel), ("ito", ito), ("change", change), ("residual", change + kernel - ito)):
                out[name][a, b], out[f"{name}_se"][a, b] = _stats(values) if diverged[a, b] == 0 else (np.nan, np.nan)
    w, j, gd_kernel = w0[None], 0.0, 0.0
    for _ in range(steps):  # gradient descent of step dt: the SDE without its noise
        k_rate, j_rate = kernel_and_ito_rates(f, w, x, y, queries, lr=1.0, batch_size=1)  # B = 1: Sigma_1 itself
        j, gd_kernel = j + config.dt * j_rate[0], gd_kernel + config.dt * k_rate[0]
        w = w - config.dt * per_example_gradients(f, w, x, y).mean(dim=1)
    lrs, bs = np.array(config.lrs)[:, None, None], np.array(config.batch_sizes)[None, :, None]
    predicted = lrs * (config.n - bs) / ((config.n - 1) * bs) * j.cpu().numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        first_order = out["ito"] / predicted
    return Result(config=config, first_order=first_order, diverged=diverged, j=j.cpu().numpy(), gd_kernel=gd_kernel.cpu().numpy(),
                  gd_change=(f(w[0], queries) - start).cpu().numpy(), **out)


def numbers(result: Result) -> dict[str, str | int]:
    """The chapter's numbers: sizes; the Ito term against the kernel term (largest and smallest ratio of
    their query-averaged magnitudes over lrs and batch sizes), the largest Ito term in standard errors,
    the measured Ito term over its first-order prediction at the smallest and the largest
    lr (n - B)/((n - 1) B), and the largest residual of Ito's formula in standard errors, all over the
    (lr, B) pairs whose walkers stayed finite; and how many pairs had a walker diverge."""
    c = result.config
    lrs, bs = np.array(c.lrs)[:, None], np.array(c.batch_sizes)[None, :]
    scale = np.broadcast_to(lrs * (c.n - bs) / ((c.n - 1) * bs), result.ito.shape[:2])
    # full batches (B = n) have no noise, hence no Ito term and no standard error; a pair whose walkers
    # diverged has no statistics
    noisy = (scale > 0) & (result.diverged == 0)
    ratio = np.where(noisy, np.abs(result.ito).mean(2) / np.abs(result.kernel).mean(2), np.nan)
    small = np.unravel_index(np.where(noisy, scale, np.inf).argmin(), scale.shape)
    large = np.unravel_index(np.where(noisy, scale, -np.inf).argmax(), scale.shape)
    top = np.unravel_index(np.nanargmax(ratio), ratio.shape)
    return {
        "sk-ito-scale": c.scale, "sk-ito-n": c.n, "sk-ito-width": c.width, "sk-ito-walkers": c.walkers,
        "sk-ito-time": f"{c.time:g}", "sk-ito-dt": f"{c.dt:g}",
        "sk-ito-ratio-max": f"{np.nanmax(ratio):.2g}", "sk-ito-ratio-min": f"{np.nanmin(ratio):.2g}",
        "sk-ito-ratio-lr": f"{c.lrs[top[0]]:g}", "sk-ito-ratio-b": c.batch_sizes[top[1]],
        "sk-ito-z-max": f"{np.max(np.abs(result.ito[noisy]) / result.ito_se[noisy]):.0f}",
        "sk-ito-z-min": f"{np.min(np.abs(result.ito[noisy]) / result.ito_se[noisy]):.0f}",
        "sk-ito-first-small": ", ".join(f"{v:.2f}" for v in result.first_order[small]),
        "sk-ito-first-large": ", ".join(f"{v:.2f}" for v in result.first_order[large]),
        "sk-ito-residual-z": f"{np.max(np.abs(result.residual[noisy]) / result.residual_se[noisy]):.1f}",
        "sk-ito-gd-kernel": ", ".join(f"{v:.3f}" for v in result.gd_kernel),
        "sk-ito-j": ", ".join(f"{v:.3f}" for v in result.j),
        "sk-ito-j-over-k": ", ".join(f"{v:.2g}" for v in np.abs(result.j / result.gd_kernel)),
        "sk-ito-queries": ", ".join(f"{v:g}" for v in c.queries),
        "sk-ito-kernel-max": f"{np.nanmax(np.abs(result.kernel)):.2f}",
        "sk-ito-diverged": f"{int((result.diverged > 0).sum())} of {result.diverged.size}",
    }
