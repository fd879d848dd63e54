"""Study "the remainder sweep" of the chapter "Ball versus sphere" (the measurement announced in §5).

The remainder of Domingos' Theorem 2, max_x |residual|, when the learning rate, the width or
the number of steps of the 3-layer GELU MLP varies around a base setting, beside the exact
(segment-averaged) form, on a training set of the ball/sphere task of its own (`sweep_n`
points) and queries in the disk of radius 1.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.data import ball_sphere
from pathkernel.decomposition import domingos
from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.discrete_theorem import query_points
from pathkernel.functional import progress
from pathkernel.models import MLP
from pathkernel.training import train

#: radius of the disk of the query points
QUERY_RADIUS = 1.5

SWEPT = ("lr", "width", "steps")


@dataclass(frozen=True)
class Config(Presets):
    """Sizes of the sweep (ours: the paper gives none).

    sweep_n training points, n_query queries in the disk of radius 1.5; each of lr, width and
    steps varies over its tuple (sweep_lrs, sweep_widths, sweep_steps, increasing) while the
    other two stay at their base value (base_lr, base_width, base_steps, one of the tuple's values).
    """

    scale: str
    sweep_n: int
    sweep_lrs: tuple[float, ...]
    sweep_widths: tuple[int, ...]
    sweep_steps: tuple[int, ...]
    base_lr: float = 0.05
    base_width: int = 32
    base_steps: int = 100
    n_query: int = 100
    r2: float = 0.8
    depth: int = 3
    activation: str = "gelu"

    sources: ClassVar[dict[str, str]] = {
        "sweep_n": "ours: Courtois et al. §5 announce the measurement but give no size; a small set keeps "
                   "Theorem 2 for every setting affordable",
        "sweep_lrs": "ours: Courtois et al. §5 vary hyper-parameters without values in our copy; doublings of lr",
        "sweep_widths": "ours: doublings of the width (no values in Courtois et al. §5)",
        "sweep_steps": "ours: doublings of the number of steps (no values in Courtois et al. §5)",
        "base_lr": "ours: the base of the sweep, a value of sweep_lrs",
        "base_width": "ours: the base of the sweep, a value of sweep_widths",
        "base_steps": "ours: the base of the sweep, a value of sweep_steps",
        "n_query": "ours: query points of the largest remainder",
        "r2": "ours: the inner radius of Courtois et al. §5.1 is lost in our copy (the network study's)",
        "depth": "Courtois et al. §5.1: the 3-layers neural network",
        "activation": "Courtois et al. §5.1: the GELU function",
    }

    def __post_init__(self) -> None:
        for name, base, values in (("sweep_lrs", self.base_lr, self.sweep_lrs),
                                   ("sweep_widths", self.base_width, self.sweep_widths),
                                   ("sweep_steps", self.base_steps, self.sweep_steps)):
            if base not in values or list(values) != sorted(values):
                raise ValueError(f"{name}={values} must increase and contain the base value {base}")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", sweep_n=64, sweep_lrs=(0.0125, 0.025, 0.05, 0.1, 0.2),
                   sweep_widths=(16, 32, 64, 128), sweep_steps=(25, 50, 100, 200, 400))

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", sweep_n=200, sweep_lrs=(0.00625, 0.0125, 0.025, 0.05, 0.1, 0.2),
                   sweep_widths=(16, 32, 64, 128, 256, 512), sweep_steps=(25, 50, 100, 200, 400, 800, 1600),
                   n_query=500)


@dataclass
class Result:
    """residual_lr / _width / _steps and their *_exact: max_x |residual| of Theorem 2 and of the
    exact form along each sweep (same lengths as the config's tuples); sweep_loss_*: the final
    training loss of each sweep run."""

    config: Config
    residual_lr: np.ndarray
    residual_lr_exact: np.ndarray
    residual_width: np.ndarray
    residual_width_exact: np.ndarray
    residual_steps: np.ndarray
    residual_steps_exact: np.ndarray
    sweep_loss_lr: np.ndarray
    sweep_loss_width: np.ndarray
    sweep_loss_steps: np.ndarray


def remainder(x: torch.Tensor, y: torch.Tensor, xq: torch.Tensor, *, width: int, lr: float, steps: int,
              depth: int = 3, activation: str = "gelu", seed: int = 0) -> tuple[float, float, float]:
    """Train a fresh MLP on (x, y) and return (max_x |R| of Theorem 2, max_x |R| of the exact
    form, final training loss) over the queries xq (m, d). The model is trained on x's device."""
    model = MLP(x.shape[1], width, depth, activation=activation, seed=seed, dtype=torch.float64).to(x.device)
    path = train(model, x, y, lr=lr, steps=steps)
    plain = domingos(path, xq).residual.abs().max().item()
    exact = domingos(path, xq, exact=True).residual.abs().max().item()
    return plain, exact, path.losses[-1].item()


def sweep(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> dict[str, np.ndarray]:
    """The remainder sweep of `Config`: one training per distinct (lr, width, steps) setting, on `device`.

    Returns {"lr", "lr_exact", "lr_loss", "width", ...}: the values along each sweep."""
    device = check_device(device)
    x, y = (t.to(device) for t in ball_sphere(config.sweep_n, r2=config.r2, seed=seed + 2))
    xq = query_points(config.n_query, QUERY_RADIUS, seed + 3).to(device)
    base = {"lr": config.base_lr, "width": config.base_width, "steps": config.base_steps}
    settings = [("lr", v) for v in config.sweep_lrs] + [("width", v) for v in config.sweep_widths]
    settings += [("steps", v) for v in config.sweep_steps]
    cache: dict[tuple, tuple[float, float, float]] = {}
    out: dict[str, list] = {f"{key}{part}": [] for key in base for part in ("", "_exact", "_loss")}
    for name, value in progress(settings, total=len(settings), desc="remainder sweep", enabled=None):
        setting = {**base, name: value}
        key = (setting["lr"], setting["width"], setting["steps"])
        if key not in cache:
            cache[key] = remainder(x, y, xq, depth=config.depth, activation=config.activation, seed=seed,
                                   **setting)
        for part, v in zip(("", "_exact", "_loss"), cache[key]):
            out[f"{name}{part}"].append(v)
    return {k: np.asarray(v) for k, v in out.items()}


def all_residuals(result: Result, *, exact: bool = False) -> np.ndarray:
    """The largest remainders of every run of the three sweeps, concatenated (lr, width, steps);
    of the exact form when `exact`."""
    suffix = "_exact" if exact else ""
    return np.concatenate([getattr(result, f"residual_{name}{suffix}") for name in SWEPT])


def lr_growth(result: Result) -> tuple[float, float]:
    """(measured, predicted): the factor by which the remainder grows from the base learning rate to
    the largest, and the factor (lr_max / lr_base)^2 a remainder of order T lr^2 would give."""
    c = result.config
    measured = result.residual_lr[-1] / result.residual_lr[c.sweep_lrs.index(c.base_lr)]
    return float(measured), (c.sweep_lrs[-1] / c.base_lr) ** 2


def numbers(result: Result) -> dict[str, str]:
    """The study's numbers, by glue name: the range of the remainder over the sweep and the largest
    exact one, its growth with the learning rate (measured and predicted) and with the width, the
    radius of the queries' disk."""
    c = result.config
    measured, predicted = lr_growth(result)
    return {
        "ballsphere-residual-min": f"{all_residuals(result).min():.0e}",
        "ballsphere-residual-max": f"{all_residuals(result).max():.0e}",
        "ballsphere-exact-max": f"{all_residuals(result, exact=True).max():.0e}",
        "ballsphere-lr-max": f"{c.sweep_lrs[-1]:g}",
        "ballsphere-lr-base": f"{c.base_lr:g}",
        "ballsphere-lr-factor": f"{measured:.0f}",
        "ballsphere-lr-predicted": f"{predicted:.0f}",
        "ballsphere-width-factor": f"{result.residual_width[-1] / result.residual_width[0]:.0f}",
        "ballsphere-width-first": f"{c.sweep_widths[0]}",
        "ballsphere-width-last": f"{c.sweep_widths[-1]}",
        "ballsphere-query-radius": f"{QUERY_RADIUS:g}",
    }


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Run the sweep (data and queries drawn on the CPU, the networks trained and decomposed on `device`)."""
    device = check_device(device)
    swept = sweep(config, seed, device=device)
    return Result(
        config=config,
        residual_lr=swept["lr"], residual_lr_exact=swept["lr_exact"], residual_width=swept["width"],
        residual_width_exact=swept["width_exact"], residual_steps=swept["steps"],
        residual_steps_exact=swept["steps_exact"], sweep_loss_lr=swept["lr_loss"],
        sweep_loss_width=swept["width_loss"], sweep_loss_steps=swept["steps_loss"],
    )
