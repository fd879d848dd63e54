"""Chapter "Stochastic Domingos theorems", study "expectation": SGD over many mini-batch orders.

SGD is repeated with `seeds` mini-batch orders from the same theta_0 (`_common`): the mean
prediction against the mean of the decompositions (first-order and exact) at `n_query` points,
the Monte Carlo error of the mean against the number of seeds, and, at a few `queries`, the
expected path kernel and contributions (the expected kernel machine) against full-batch GD.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.decomposition import domingos
from pathkernel.experiments.discrete_exact.theorem import query_points
from pathkernel.experiments.stochastic._common import QUERY_SOURCES, Network, fit_order, task, train_path
from pathkernel.functional import progress
from pathkernel.validation import integer


@dataclass(frozen=True, kw_only=True)
class Config(Network):
    """Sizes of the study (Guo, He and Morel give none for these checks: ours are here).

    seeds: mini-batch orders of SGD at `expectation_lr` for `expectation_steps` steps; n_query points
    uniform in the disk of query_radius; queries: the points of the expected contributions.
    """

    sources: ClassVar[dict[str, str]] = {
        **Network.sources, **QUERY_SOURCES,
        "seeds": "ours: mini-batch orders averaged; more shrink the Monte Carlo error of the mean like seeds^(-1/2)",
        "expectation_lr": "ours: the learning rate of every SGD run",
        "expectation_steps": "ours: the SGD steps of every seed",
    }

    seeds: int
    expectation_lr: float
    expectation_steps: int
    n_query: int
    query_radius: float = 1.5
    queries: tuple[tuple[float, float], ...] = ((0.0, 0.0), (0.6, 0.8), (-1.2, 0.5))

    def __post_init__(self) -> None:
        super().__post_init__()
        integer("n_query", self.n_query)
        integer("seeds", self.seeds, 8)
        integer("expectation_steps", self.expectation_steps)
        if not self.expectation_lr > 0:
            raise ValueError(f"expectation_lr={self.expectation_lr} must be > 0")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=64, width=32, batch_size=16, n_query=25, seeds=32, expectation_lr=0.2,
                   expectation_steps=30)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=200, width=100, batch_size=20, n_query=200, seeds=256, expectation_lr=0.2,
                   expectation_steps=100)


@dataclass
class Result:
    """S seeds, m = n_query points, q = len(queries), n training points.

    seed_prediction, seed_rhs, seed_rhs_exact (S, m): f(theta_T, x) and the right-hand sides of the
    first-order and exact decompositions per seed; gd_prediction (m,) of full-batch GD from the same
    theta_0. seed_counts (J,): numbers of seeds (powers of two up to seeds / 4); mc_error (J,) the
    root-mean-square error of the mean of that many seeds (`block_mean_error`), mc_standard_error (J,)
    the sigma / sqrt(S) law, mc_slope the fitted slope of log mc_error against log count;
    block_residual, block_residual_exact (J,) the root-mean-square of the block means of the remainders.
    At `queries`: expected_path_kernel, expected_contribution (q, n) means over seeds of the first-order
    path kernel and contributions, expected_initial (q,) f(theta_0, x), expected_machine (q,) the
    expected kernel machine initial + sum_i expected_contribution, expected_prediction (q,) the mean
    prediction, gd_contribution (q, n) the contributions of full-batch GD.
    """

    config: Config
    queries: np.ndarray
    seed_prediction: np.ndarray
    seed_rhs: np.ndarray
    seed_rhs_exact: np.ndarray
    gd_prediction: np.ndarray
    seed_counts: np.ndarray
    mc_error: np.ndarray
    mc_standard_error: np.ndarray
    mc_slope: float
    block_residual: np.ndarray
    block_residual_exact: np.ndarray
    expected_path_kernel: np.ndarray
    expected_contribution: np.ndarray
    expected_initial: np.ndarray
    expected_machine: np.ndarray
    expected_prediction: np.ndarray
    gd_contribution: np.ndarray


def block_mean_error(samples: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Root-mean-square error of the mean of `count` samples, from disjoint blocks.

    samples: (S, m), S independent draws of m quantities. For each count c the S draws are
    cut into S // c blocks of c; the error of a block mean is measured against the mean of
    all S draws and rescaled by 1 / sqrt(1 - c / S), which makes it unbiased for the error
    against the true mean (Var(block - grand) = sigma^2 / c - sigma^2 / S). Returns (J,).
    """
    S = samples.shape[0]
    grand = samples.mean(0)
    errors = []
    for count in counts:
        integer("count", int(count), 1, S // 2)
        blocks = samples[: S // count * count].reshape(S // count, count, -1).mean(1)
        errors.append(np.sqrt(np.mean((blocks - grand) ** 2) / (1 - count / S)))
    return np.asarray(errors)


def block_rms(samples: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Root-mean-square over blocks of `count` draws and over the m columns of the block means. (J,)"""
    S = samples.shape[0]
    return np.asarray([np.sqrt(np.mean(samples[: S // c * c].reshape(S // c, c, -1).mean(1) ** 2))
                       for c in counts])


def mean_gaps(result: Result) -> dict[str, float]:
    """max over the n_query points of |mean prediction over the seeds - reference|, for the mean of the
    exact decompositions ("exact"), of the first-order ones ("plain") and full-batch GD ("gd")."""
    mean = result.seed_prediction.mean(0)
    references = {"exact": result.seed_rhs_exact.mean(0), "plain": result.seed_rhs.mean(0), "gd": result.gd_prediction}
    return {name: float(np.abs(mean - reference).max()) for name, reference in references.items()}


def seed_spread(result: Result) -> float:
    """Standard deviation of the prediction over the seeds (ddof=1), averaged over the n_query points."""
    return float(result.seed_prediction.std(0, ddof=1).mean())


def expected_gd_correlation(result: Result) -> np.ndarray:
    """(q,) Pearson correlation, per query, of SGD's expected contributions with those of full-batch GD."""
    return np.asarray([np.corrcoef(e, g)[0, 1] for e, g in zip(result.expected_contribution, result.gd_contribution)])


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers from this study, by glue name: the seeds (of this run and of the paper
    preset), the Monte Carlo slope and the largest block of seeds it is fitted on, the gaps of the mean prediction (`mean_gaps`), the spread of the
    seeds and the standard error of their mean, the expected kernel machine's gap to the mean
    prediction, and the smallest correlation of the expected contributions with GD's."""
    gaps, spread = mean_gaps(result), seed_spread(result)
    return {
        "stochastic-seeds": f"{result.config.seeds}",
        "stochastic-paper-seeds": f"{Config.paper().seeds}",
        "stochastic-mc-slope": f"{result.mc_slope:.2f}",
        "stochastic-block-max": f"{result.seed_counts.max()}",
        "stochastic-mean-exact-gap": f"{gaps['exact']:.0e}",
        "stochastic-mean-plain-gap": f"{gaps['plain']:.1e}",
        "stochastic-sgd-gd-gap": f"{gaps['gd']:.3f}",
        "stochastic-seed-spread": f"{spread:.3f}",
        "stochastic-standard-error": f"{spread / np.sqrt(result.config.seeds):.3f}",
        "stochastic-machine-gap": f"{np.abs(result.expected_machine - result.expected_prediction).max():.1e}",
        "stochastic-expected-gd-corr": f"{expected_gd_correlation(result).min():.4f}",
    }


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """SGD with `config.seeds` batch orders (seed * seeds + s) from the theta_0 of `seed`, on the ball/sphere
    task of `seed`, decomposed at the query points (data drawn on the CPU, computed on `device`)."""
    x, y = task(config, seed, device)
    xq = query_points(config.n_query, config.query_radius, seed + 1).to(x.device)
    queries = torch.tensor(config.queries, dtype=x.dtype, device=x.device)
    lr, steps = config.expectation_lr, config.expectation_steps
    prediction, rhs, rhs_exact, kernels, contributions, local_prediction = [], [], [], [], [], []
    for s in progress(range(config.seeds), total=config.seeds, desc="SGD seeds", enabled=None):
        path = train_path(config, x, y, "sgd", lr, steps, init_seed=seed, batch_seed=seed * config.seeds + s)
        plain = domingos(path, xq)
        prediction.append(plain.prediction.cpu().numpy())
        rhs.append(plain.rhs.cpu().numpy())
        rhs_exact.append(domingos(path, xq, exact=True, nodes=config.nodes).rhs.cpu().numpy())
        local = domingos(path, queries, per_sample=True)
        kernels.append(local.path_kernel.cpu().numpy())
        contributions.append(local.per_sample.cpu().numpy())
        local_prediction.append(local.prediction.cpu().numpy())
    initial = local.initial.cpu().numpy()
    prediction, rhs, rhs_exact = np.stack(prediction), np.stack(rhs), np.stack(rhs_exact)
    counts = 2 ** np.arange(int(np.log2(config.seeds // 4)) + 1)
    gd = train_path(config, x, y, "gd", lr, steps, init_seed=seed, batch_seed=seed)
    mc_error = block_mean_error(prediction, counts)
    return Result(
        config=config, queries=queries.cpu().numpy(),
        seed_prediction=prediction, seed_rhs=rhs, seed_rhs_exact=rhs_exact,
        gd_prediction=domingos(gd, xq).prediction.cpu().numpy(),
        seed_counts=counts, mc_error=mc_error, mc_slope=fit_order(counts, mc_error, counts.max())[0],
        mc_standard_error=np.sqrt(np.mean(prediction.var(0, ddof=1))) / np.sqrt(counts),
        block_residual=block_rms(prediction - rhs, counts), block_residual_exact=block_rms(prediction - rhs_exact, counts),
        expected_path_kernel=np.mean(kernels, 0), expected_contribution=np.mean(contributions, 0),
        expected_initial=initial, expected_machine=initial + np.mean(contributions, 0).sum(1),
        expected_prediction=np.mean(local_prediction, 0),
        gd_contribution=domingos(gd, queries, per_sample=True).per_sample.cpu().numpy(),
    )
