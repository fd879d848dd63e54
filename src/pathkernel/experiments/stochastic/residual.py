"""Chapter "Stochastic Domingos theorems", study "residual": the remainder against the learning rate.

Each optimizer (GD, SGD, heavy-ball momentum, Adam; `_common`) is run from the same theta_0 to a
fixed time (base lr x steps) at several base rates and decomposed by `pk.domingos` at query
points in a disk: the largest |remainder| of the first-order theorem and of the exact
(segment-averaged) form, per optimizer and base rate, and the fitted order of the remainder in lr.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.decomposition import domingos
from pathkernel.experiments.discrete_exact.theorem import query_points
from pathkernel.experiments.stochastic._common import (OPTIMIZERS, QUERY_SOURCES, Optimizers, fit_order, learning_rate,
                                                       task, train_path)
from pathkernel.validation import integer


@dataclass(frozen=True, kw_only=True)
class Config(Optimizers):
    """Sizes of the study (Guo, He and Morel give none for these checks: ours are here).

    base_lrs: base learning rates, each run for round(time / base_lr) steps; the order of the
    remainder is fitted on base_lrs <= fit_max_lr. n_query points uniform in the disk of query_radius.
    """

    sources: ClassVar[dict[str, str]] = {
        **Optimizers.sources, "n_query": QUERY_SOURCES["n_query"], "query_radius": QUERY_SOURCES["query_radius"],
        "time": "ours: one training time (base lr x steps) for every base rate, so the remainders compare the same time",
        "base_lrs": "ours: halvings of the base rate, to measure the order of the remainder",
        "fit_max_lr": "ours: the slope is fitted on the smaller base rates, where a first-order remainder is expected",
    }

    time: float
    base_lrs: tuple[float, ...]
    n_query: int
    fit_max_lr: float = 0.025
    query_radius: float = 1.5

    def __post_init__(self) -> None:
        super().__post_init__()
        integer("n_query", self.n_query)
        if not all(lr > 0 for lr in self.base_lrs):
            raise ValueError(f"base_lrs={self.base_lrs} must all be > 0")
        if sum(lr <= self.fit_max_lr for lr in self.base_lrs) < 2:
            raise ValueError(f"base_lrs={self.base_lrs} need two values <= fit_max_lr={self.fit_max_lr} to fit a slope")
        if self.time <= 0:
            raise ValueError(f"time={self.time} must be > 0")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=64, width=32, batch_size=16, time=2.0,
                   base_lrs=(0.1, 0.05, 0.025, 0.0125, 0.00625), n_query=25)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=200, width=100, batch_size=20, time=2.0,
                   base_lrs=(0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125, 0.0015625), n_query=200, fit_max_lr=0.00625)


@dataclass
class Result:
    """Per optimizer (in the order of `optimizers`) and base rate, (4, L) over optimizers x lrs:
    residual, residual_exact (max over the query points of |remainder|), prediction_max
    (max |f(theta_T, x)|), final_loss. slopes (4,) and intercepts (4,) of log residual against
    log lr on the base rates <= fit_max_lr; local_slopes (4,) the same between the two smallest.
    """

    config: Config
    optimizers: tuple[str, ...]
    lrs: np.ndarray
    steps: np.ndarray
    residual: np.ndarray
    residual_exact: np.ndarray
    prediction_max: np.ndarray
    final_loss: np.ndarray
    slopes: np.ndarray
    intercepts: np.ndarray
    local_slopes: np.ndarray


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers from this study, by glue name: the scale (of every figure of the chapter),
    the fitted slopes (on the base rates up to fit_max_lr, and between the two smallest), the largest
    exact-form remainder, the momentum's memory 1 / (1 - momentum), the network's depth, the query
    disk's radius, and the paper preset's sizes."""
    config, paper = result.config, Config.paper()
    values = {
        "stochastic-scale": config.scale,
        "stochastic-depth": f"{config.depth}",
        "stochastic-query-radius": f"{config.query_radius:g}",
        "stochastic-fit-max": f"{config.fit_max_lr:g}",
        "stochastic-exact-max": f"{result.residual_exact.max():.0e}",
        "stochastic-memory": f"{1 / (1 - config.momentum):.0f}",
        "stochastic-paper-n": f"{paper.n}",
        "stochastic-paper-width": f"{paper.width}",
        "stochastic-paper-rates": f"{len(paper.base_lrs)}",
    }
    for a, name in enumerate(result.optimizers):
        values[f"stochastic-slope-{name}"] = f"{result.slopes[a]:.2f}"
        values[f"stochastic-local-{name}"] = f"{result.local_slopes[a]:.2f}"
    return values


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Train every optimizer at every base rate to `config.time` and decompose, on the ball/sphere task
    of `seed` (data, theta_0 and batch orders; data drawn on the CPU, computed on `device`)."""
    x, y = task(config, seed, device)
    xq = query_points(config.n_query, config.query_radius, seed + 1).to(x.device)
    shape = (len(OPTIMIZERS), len(config.base_lrs))
    plain, exact, scale, loss = (np.empty(shape) for _ in range(4))
    steps = np.asarray([max(1, round(config.time / lr)) for lr in config.base_lrs])
    for a, optimizer in enumerate(OPTIMIZERS):
        for b, base_lr in enumerate(config.base_lrs):
            path = train_path(config, x, y, optimizer, learning_rate(config, optimizer, base_lr), int(steps[b]),
                              init_seed=seed, batch_seed=seed)
            dec = domingos(path, xq)
            plain[a, b] = dec.residual.abs().max().item()
            scale[a, b] = dec.prediction.abs().max().item()
            loss[a, b] = path.losses[-1].item()
            exact[a, b] = domingos(path, xq, exact=True, nodes=config.nodes).residual.abs().max().item()
    lrs = np.asarray(config.base_lrs)
    fits = [fit_order(lrs, plain[a], config.fit_max_lr) for a in range(len(OPTIMIZERS))]
    local = [fit_order(lrs, plain[a], np.sort(lrs)[1])[0] for a in range(len(OPTIMIZERS))]
    return Result(config=config, optimizers=OPTIMIZERS, lrs=lrs, steps=steps, residual=plain, residual_exact=exact,
                  prediction_max=scale, final_loss=loss, slopes=np.asarray([s for s, _ in fits]),
                  intercepts=np.asarray([i for _, i in fits]), local_slopes=np.asarray(local))
