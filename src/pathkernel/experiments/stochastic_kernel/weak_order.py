"""First weak order: E L(W_T) of SGD against that of its SDE, as the learning rate shrinks.

At time T = steps * lr, SGD (a fresh uniform batch of B distinct examples per step) and the SDE
dW = -grad L dt + sqrt(lr) Sigma_B^{1/2} dB_t (Euler-Maruyama, `substeps` steps per SGD step) are run
as ensembles of `walkers` paths from one w0; the gap of their mean training loss, with its standard
error, is measured for every lr and its slope in log-log fitted over the gaps above 3 standard errors
(Li, Tai & E's first order: slope 1). For linear regression ("linear") the three expectations (SGD,
SDE, gradient flow) are also exact (`pathkernel.sgd_diffusion.linear_moments`), at the ensembles' lrs
(how far each ensemble is from its exact value, in standard errors: the Euler-Maruyama bias shows
there) and down to much smaller lrs (`exact_lrs`): the exact gaps and their local slopes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.stochastic_kernel._common import task, slope_fit
from pathkernel.sgd_diffusion import euler_maruyama, flow_moments, sde_moments, sgd_ensemble, sgd_moments
from pathkernel.sgd_diffusion.linear_moments import expected_loss
from pathkernel.validation import integer


@dataclass(frozen=True)
class Config(Presets):
    """model "linear" (x in R^dim, closed forms) or "mlp" (GELU, width, depth, on a sine); n examples,
    batches of batch_size; SGD and SDE to time T = `time` for each of `lrs`; `walkers` paths per ensemble,
    `substeps` Euler-Maruyama steps per SGD step; exact_lrs: the lrs of the closed forms ("linear" only)."""

    scale: str
    model: str
    walkers: int
    lrs: tuple[float, ...] = (0.2, 0.1, 0.05, 0.025)
    n: int = 8
    batch_size: int = 2
    time: float = 1.0
    substeps: int = 8
    exact_lrs: tuple[float, ...] = tuple(0.2 / 2 ** k for k in range(8))
    dim: int = 2
    width: int = 16
    depth: int = 2

    sources: ClassVar[dict[str, str]] = {
        "model": "ours: Guo et al.'s Lemma 3.1 (first-order weak approximation) gives no experiment in our copy",
        "walkers": "ours: enough paths for the gaps at the larger lrs to exceed 3 standard errors",
        "lrs": "ours: halvings, so the slope is read over a factor 8",
        "n": "ours: few examples, so the batches (and their exact average) stay few",
        "batch_size": "ours: a quarter of the data, far from full batch",
        "time": "ours: one unit of time t = k lr, long enough for the loss to fall",
        "substeps": "ours: Euler-Maruyama steps per SGD step, so the SDE's own discretization is smaller",
        "exact_lrs": "ours: halvings down to where the exact gap's local slope settles",
        "dim": "ours: a two-dimensional regression keeps the moment system small",
        "width": "ours: a small GELU MLP, so per-example gradients of every walker fit in memory",
        "depth": "ours: one hidden layer",
    }

    def __post_init__(self) -> None:
        integer("walkers", self.walkers, 2)
        integer("n", self.n, 2)
        integer("batch_size", self.batch_size, 1, self.n - 1)
        for name in ("lrs", "exact_lrs"):
            lrs = getattr(self, name)
            if (name == "lrs" and not lrs) or any(not 0 < lr <= self.time or abs(self.time / lr - round(self.time / lr)) > 1e-9
                                                  for lr in lrs):
                raise ValueError(f"{name}={lrs!r} must divide time={self.time} (one horizon for every lr)")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", model="linear", walkers=8000, lrs=(0.2, 0.1, 0.05))

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", model="mlp", walkers=20_000, lrs=(0.25, 0.125, 0.0625, 0.03125), n=16, batch_size=4,
                   exact_lrs=())


@dataclass
class Result:
    """Per lr (len(lrs),): SGD and SDE ensemble means of L(W_T) and their standard errors, the gap
    sgd - sde and its standard error; for "linear" the exact E L of SGD, SDE and gradient flow at the
    same lrs (exact_sgd, exact_sde, exact_flow; NaN for "mlp") and at `exact_lrs` (curve_sgd, curve_sde,
    curve_flow); fit: (slope, low, high, points) of the ensemble gaps; local_slopes: of the exact gap
    |sgd - sde| between consecutive exact_lrs, flow_slopes: the same for |sgd - flow|."""

    config: Config
    steps: np.ndarray
    sgd: np.ndarray
    sgd_se: np.ndarray
    sde: np.ndarray
    sde_se: np.ndarray
    exact_sgd: np.ndarray
    exact_sde: np.ndarray
    exact_flow: np.ndarray
    curve_sgd: np.ndarray
    curve_sde: np.ndarray
    curve_flow: np.ndarray
    fit: tuple[float, float, float, int]
    local_slopes: np.ndarray
    flow_slopes: np.ndarray


def _loss(f, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean and standard error of L over the walkers w (walkers, P)."""
    losses = 0.5 * ((torch.vmap(f, in_dims=(0, None))(w, x) - y) ** 2).mean(dim=1)
    return float(losses.mean()), float(losses.std() / losses.numel() ** 0.5)


def _exact(x: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, lr: float, batch_size: int, steps: int) -> list[float]:
    """Exact E L(W_T) of SGD, the SDE and gradient flow at T = steps * lr (linear regression)."""
    return [float(expected_loss(x, y, *moments)) for moments in (
        sgd_moments(x, y, w0, lr=lr, batch_size=batch_size, steps=steps),
        sde_moments(x, y, w0, lr=lr, batch_size=batch_size, time=steps * lr),
        flow_moments(x, y, w0, time=steps * lr))]


def _local_slopes(lrs: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """d log|gap| / d log lr between consecutive lrs."""
    return np.diff(np.log(np.abs(gaps))) / np.diff(np.log(lrs)) if len(lrs) > 1 else np.zeros(0)


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    device = check_device(device)
    f, w0, x, y = task(config.model, config.n, config.dim, config.width, config.depth, seed, device)
    generator = torch.Generator().manual_seed(seed)
    linear = config.model == "linear"
    rows = []
    for lr in config.lrs:
        steps = round(config.time / lr)
        walk = dict(lr=lr, batch_size=config.batch_size, walkers=config.walkers, generator=generator)
        sgd = _loss(f, sgd_ensemble(f, w0, x, y, steps=steps, **walk), x, y)
        sde = _loss(f, euler_maruyama(f, w0, x, y, time=steps * lr, steps=steps * config.substeps, **walk), x, y)
        exact = _exact(x, y, w0, lr, config.batch_size, steps) if linear else [float("nan")] * 3
        rows.append((steps, *sgd, *sde, *exact))
    steps, sgd, sgd_se, sde, sde_se, exact_sgd, exact_sde, exact_flow = map(np.array, zip(*rows))
    exact_lrs = np.array(config.exact_lrs if linear else ())
    curves = np.array([_exact(x, y, w0, lr, config.batch_size, round(config.time / lr)) for lr in exact_lrs]).reshape(-1, 3)
    return Result(config=config, steps=steps, sgd=sgd, sgd_se=sgd_se, sde=sde, sde_se=sde_se, exact_sgd=exact_sgd,
                  exact_sde=exact_sde, exact_flow=exact_flow, curve_sgd=curves[:, 0], curve_sde=curves[:, 1],
                  curve_flow=curves[:, 2], fit=slope_fit(np.array(config.lrs), sgd - sde, np.hypot(sgd_se, sde_se)),
                  local_slopes=_local_slopes(exact_lrs, curves[:, 0] - curves[:, 1]),
                  flow_slopes=_local_slopes(exact_lrs, curves[:, 0] - curves[:, 2]))


def numbers(result: Result) -> dict[str, str | int]:
    """The chapter's numbers: sizes, the slope of the ensemble gaps with its interval and the points
    used, the exact slopes against the SDE and against gradient flow, the gaps at the smallest lr, and
    the largest distance of an ensemble from its exact value in standard errors ("n/a" for the MLP)."""
    c = result.config
    slope, low, high, used = result.fit
    out = {
        "sk-weak-scale": c.scale, "sk-weak-model": c.model, "sk-weak-n": c.n, "sk-weak-b": c.batch_size,
        "sk-weak-walkers": c.walkers, "sk-weak-time": f"{c.time:g}", "sk-weak-substeps": c.substeps,
        "sk-weak-lr-max": f"{max(c.lrs):g}", "sk-weak-lr-min": f"{min(c.lrs):g}", "sk-weak-lrs": len(c.lrs),
        "sk-weak-slope": f"{slope:.2f}", "sk-weak-slope-low": f"{low:.2f}", "sk-weak-slope-high": f"{high:.2f}",
        "sk-weak-used": used,
        "sk-weak-gap-max-se": f"{np.max(np.abs(result.sgd - result.sde) / np.hypot(result.sgd_se, result.sde_se)):.1f}",
    }
    exact = {"sk-weak-local-slope", "sk-weak-local-first", "sk-weak-flow-slope", "sk-weak-exact-lr-min",
             "sk-weak-exact-gap", "sk-weak-flow-gap", "sk-weak-sgd-z", "sk-weak-sde-z", "sk-weak-em-bias"}
    out |= dict.fromkeys(sorted(exact), "n/a (no closed form for the MLP)")
    if c.model == "linear":
        out |= {"sk-weak-local-slope": f"{result.local_slopes[-1]:.3f}",
                "sk-weak-local-first": f"{result.local_slopes[0]:.2f}",
                "sk-weak-flow-slope": f"{result.flow_slopes[-1]:.3f}",
                "sk-weak-exact-lr-min": f"{min(c.exact_lrs):.2g}",
                "sk-weak-exact-gap": f"{result.curve_sgd[-1] - result.curve_sde[-1]:.2e}",
                "sk-weak-flow-gap": f"{result.curve_sgd[-1] - result.curve_flow[-1]:.2e}",
                "sk-weak-sgd-z": f"{(np.abs(result.sgd - result.exact_sgd) / result.sgd_se).max():.1f}",
                "sk-weak-sde-z": f"{(np.abs(result.sde - result.exact_sde) / result.sde_se).max():.1f}",
                "sk-weak-em-bias": f"{np.abs(result.sde - result.exact_sde).max():.1e}"}
    return out
