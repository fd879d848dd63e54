"""Chapter "Stochastic Domingos theorems", study "per_sample": contributions across optimizers.

The four optimizers (`_common`) are trained from the same theta_0 on the same data (the mini-batch
ones with the same batch order) at one base rate and decomposed in the exact form at a few query
points: the per-sample contributions, their Spearman rank correlations (over all training points
and within each class), and the special cases that recover gradient descent and SGD
(batch = n, momentum = 0), through different code paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from scipy.stats import rankdata

from pathkernel.decomposition import Decomposition, domingos
from pathkernel.experiments.stochastic._common import (OPTIMIZERS, QUERY_SOURCES, Optimizers, learning_rate, task,
                                                       train_path)
from pathkernel.training import TrainingPath
from pathkernel.validation import integer


@dataclass(frozen=True, kw_only=True)
class Config(Optimizers):
    """Sizes of the study (Guo, He and Morel give none for these checks: ours are here).

    compare_lr, compare_steps: base learning rate and steps of every optimizer; queries: the query points.
    """

    sources: ClassVar[dict[str, str]] = {
        **Optimizers.sources, "queries": QUERY_SOURCES["queries"],
        "compare_lr": "ours: the base rate of the four optimizers compared (0.5 diverged at the paper preset's width)",
        "compare_steps": "ours: the steps of every optimizer (the chapter's table shows their final losses)",
    }

    compare_lr: float
    compare_steps: int
    queries: tuple[tuple[float, float], ...] = ((0.0, 0.0), (0.6, 0.8), (-1.2, 0.5))

    def __post_init__(self) -> None:
        super().__post_init__()
        integer("compare_steps", self.compare_steps)
        if not self.compare_lr > 0:
            raise ValueError(f"compare_lr={self.compare_lr} must be > 0")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=64, width=32, batch_size=16, compare_lr=0.3, compare_steps=60)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=200, width=100, batch_size=20, compare_lr=0.3, compare_steps=400)


@dataclass
class Result:
    """Optimizer axis in the order of `optimizers`; q = len(queries), n training points (x, y).

    contribution, path_kernel (4, q, n) of the exact decompositions; prediction, initial (4, q);
    compare_loss (4,) final batch losses; spearman (q, 4, 4) rank correlations of the contributions
    per query (`rank_correlations`); spearman_within (q, 4, 4) the same within each class (ball,
    sphere), averaged over the two; recovery_names, recovery_params, recovery_contribution: the
    special cases and their max |difference| of parameters and of contributions from the optimizer
    they reduce to.
    """

    config: Config
    optimizers: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    queries: np.ndarray
    contribution: np.ndarray
    path_kernel: np.ndarray
    prediction: np.ndarray
    initial: np.ndarray
    compare_loss: np.ndarray
    spearman: np.ndarray
    spearman_within: np.ndarray
    recovery_names: tuple[str, ...]
    recovery_params: np.ndarray
    recovery_contribution: np.ndarray


def rank_correlations(contribution: np.ndarray) -> np.ndarray:
    """Spearman rank correlations between optimizers, per query: the Pearson correlation
    of the ranks (ties get their average rank).

    contribution: (k, q, n) per-sample contributions of k optimizers at q queries.
    Returns (q, k, k).
    """
    return np.stack([np.corrcoef(rankdata(contribution[:, j], axis=1)) for j in range(contribution.shape[1])])


def with_gd(result: Result, *, within: bool = False) -> dict[str, float]:
    """Each optimizer's Spearman correlation with GD, mean over the queries (within a class: `within`)."""
    rho = result.spearman_within if within else result.spearman
    gd = result.optimizers.index("gd")
    return {name: float(rho[:, gd, a].mean()) for a, name in enumerate(result.optimizers)}


def relative_sizes(result: Result) -> dict[str, float]:
    """Each optimizer's contributions (Frobenius norm over queries and training points) relative to GD's."""
    gd = np.linalg.norm(result.contribution[result.optimizers.index("gd")])
    return {name: float(np.linalg.norm(result.contribution[a]) / gd) for a, name in enumerate(result.optimizers)}


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers from this study, by glue name: the Spearman correlations with GD (over all
    points and within a class, and the smallest within-class one of any pair and query), the sizes of
    the contributions relative to GD, and the largest difference of the special cases."""
    rho, within = with_gd(result), with_gd(result, within=True)
    values = {}
    for name in ("sgd", "momentum", "adam"):
        values[f"stochastic-rho-{name}"] = f"{rho[name]:.2f}"
        values[f"stochastic-within-{name}"] = f"{within[name]:.2f}"
    values["stochastic-within-min"] = f"{result.spearman_within.min():.2f}"
    values.update({f"stochastic-size-{name}": f"{size:.2f}" for name, size in relative_sizes(result).items()})
    values["stochastic-recovery-max"] = f"{max(result.recovery_params.max(), result.recovery_contribution.max()):.0e}"
    return values


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Train and decompose the four optimizers and the special cases on the ball/sphere task of `seed`
    (data, theta_0 and batch orders; data drawn on the CPU, computed on `device`)."""
    x, y = task(config, seed, device)
    queries = torch.tensor(config.queries, dtype=x.dtype, device=x.device)
    decs: dict[str, Decomposition] = {}
    paths: dict[str, TrainingPath] = {}
    for optimizer in OPTIMIZERS:
        lr = learning_rate(config, optimizer, config.compare_lr)
        paths[optimizer] = train_path(config, x, y, optimizer, lr, config.compare_steps, init_seed=seed,
                                      batch_seed=seed)
        decs[optimizer] = domingos(paths[optimizer], queries, exact=True, per_sample=True, nodes=config.nodes)
    contribution = np.stack([decs[o].per_sample.cpu().numpy() for o in OPTIMIZERS])
    special = {
        "sgd, batch = n -> gd": (dict(optimizer="sgd", batch_size=config.n), "gd"),
        "momentum 0, batch = n -> gd": (dict(optimizer="momentum", momentum=0.0, batch_size=config.n), "gd"),
        "momentum 0, batch b -> sgd": (dict(optimizer="momentum", momentum=0.0), "sgd"),
    }
    params, contributions = [], []
    for options, reference in special.values():
        # at the base rate, the learning rate of the optimizer it reduces to
        path = train_path(config, x, y, lr=config.compare_lr, steps=config.compare_steps, init_seed=seed,
                          batch_seed=seed, **options)
        dec = domingos(path, queries, exact=True, per_sample=True, nodes=config.nodes)
        params.append((path.params - paths[reference].params).abs().max().item())
        contributions.append((dec.per_sample - decs[reference].per_sample).abs().max().item())
    return Result(
        config=config, optimizers=OPTIMIZERS, x=x.cpu().numpy(), y=y.cpu().numpy(), queries=queries.cpu().numpy(),
        contribution=contribution, path_kernel=np.stack([decs[o].path_kernel.cpu().numpy() for o in OPTIMIZERS]),
        prediction=np.stack([decs[o].prediction.cpu().numpy() for o in OPTIMIZERS]),
        initial=np.stack([decs[o].initial.cpu().numpy() for o in OPTIMIZERS]),
        compare_loss=np.asarray([paths[o].losses[-1].item() for o in OPTIMIZERS]),
        spearman=rank_correlations(contribution),
        spearman_within=np.mean([rank_correlations(contribution[:, :, y.cpu().numpy() == label])
                                 for label in (-1, 1)], 0),
        recovery_names=tuple(special),
        recovery_params=np.asarray(params), recovery_contribution=np.asarray(contributions),
    )
