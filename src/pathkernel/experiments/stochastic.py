"""Chapter "Stochastic Domingos theorems": SGD, heavy-ball momentum and Adam as kernel machines.

The ball/sphere data set and a GELU MLP, trained from one theta_0 by four optimizers:
full-batch gradient descent ("gd") and, on mini-batches of `batch_size` drawn by epoch
permutations, "sgd", "momentum" (torch's heavy ball) and "adam". Each optimizer's learning
rate is a fixed multiple of a base rate (1, 1 - momentum, `adam_scale`), so one base rate
gives comparable paths. Three studies, all through `pk.domingos`:

* residual: at a fixed time (base lr x steps), the largest |remainder| over query points
  of the first-order theorem and of the exact (segment-averaged) form, per optimizer and
  base lr, with the fitted order of the remainder in lr;
* expectation: SGD repeated with `seeds` mini-batch orders from the same theta_0; the mean
  prediction against the mean of the decompositions, the Monte Carlo error of the mean
  against the number of seeds, and the expected path kernel and contributions;
* comparison: per-sample contributions of the four optimizers at the same query points,
  their Spearman rank correlations, and the special cases that recover gradient descent
  (batch = n, momentum = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import rankdata

from pathkernel.data import ball_sphere
from pathkernel.decomposition import Decomposition, domingos
from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.discrete_theorem import query_points
from pathkernel.functional import progress
from pathkernel.models import MLP
from pathkernel.training import TrainingPath, train
from pathkernel.validation import integer

OPTIMIZERS = ("gd", "sgd", "momentum", "adam")


@dataclass(frozen=True)
class Config(Presets):
    """Sizes of the experiment (Guo, He and Morel give none for these checks: ours are here).

    base_lrs: base learning rates of the residual study, each run for round(time / base_lr) steps.
    fit_max_lr: the order of the remainder is fitted on base_lrs <= fit_max_lr.
    seeds: mini-batch orders of the expectation study (SGD at `expectation_lr`, `expectation_steps`).
    compare_lr, compare_steps: base lr and steps of the per-sample comparison.
    queries: query points of the expectation and comparison figures.
    momentum_scale, adam_scale: learning rate of "momentum" and "adam" = scale x base lr
        (1 - momentum keeps heavy ball's effective step lr / (1 - momentum) equal to the base).
    """

    scale: str
    n: int
    width: int
    batch_size: int
    time: float
    base_lrs: tuple[float, ...]
    n_query: int
    seeds: int
    expectation_lr: float
    expectation_steps: int
    compare_lr: float
    compare_steps: int
    depth: int = 3
    activation: str = "gelu"
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    adam_scale: float = 0.01
    fit_max_lr: float = 0.025
    query_radius: float = 1.5
    queries: tuple[tuple[float, float], ...] = ((0.0, 0.0), (0.6, 0.8), (-1.2, 0.5))
    nodes: int = 3

    def __post_init__(self) -> None:
        integer("n", self.n, 2)
        integer("batch_size", self.batch_size, 1, self.n - 1)
        integer("n_query", self.n_query)
        if not all(lr > 0 for lr in (*self.base_lrs, self.expectation_lr, self.compare_lr)):
            raise ValueError(f"learning rates base_lrs={self.base_lrs}, expectation_lr={self.expectation_lr}, "
                             f"compare_lr={self.compare_lr} must all be > 0")
        integer("seeds", self.seeds, 8)
        integer("expectation_steps", self.expectation_steps)
        integer("compare_steps", self.compare_steps)
        if sum(lr <= self.fit_max_lr for lr in self.base_lrs) < 2:
            raise ValueError(f"base_lrs={self.base_lrs} need two values <= fit_max_lr={self.fit_max_lr} to fit a slope")
        if not 0 < self.momentum < 1:
            raise ValueError(f"momentum={self.momentum} must lie in (0, 1)")
        if self.time <= 0 or self.adam_scale <= 0:
            raise ValueError(f"time={self.time} and adam_scale={self.adam_scale} must be > 0")

    @property
    def momentum_scale(self) -> float:
        return 1 - self.momentum

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=64, width=32, batch_size=16, time=2.0,
                   base_lrs=(0.1, 0.05, 0.025, 0.0125, 0.00625), n_query=25, seeds=32, expectation_lr=0.2,
                   expectation_steps=30, compare_lr=0.3, compare_steps=60)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=200, width=100, batch_size=20, time=2.0,
                   base_lrs=(0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125, 0.0015625), n_query=200, seeds=256,
                   expectation_lr=0.2, expectation_steps=100, compare_lr=0.5, compare_steps=400,
                   fit_max_lr=0.00625)


@dataclass
class Result:
    """Arrays of the three studies (optimizer axis in the order of `optimizers`).

    Residual study, (4, L) over optimizers x base_lrs: residual, residual_exact (max over
    query points of |remainder|), prediction_max (max |f(theta_T, x)|), final_loss; slopes (4,)
    of log residual against log lr on base_lrs <= fit_max_lr, intercepts (4,); local_slopes (4,)
    the same between the two smallest base_lrs.

    Expectation study (S seeds, m queries, n training points): seed_prediction, seed_rhs,
    seed_rhs_exact (S, m) on the `n_query` points; gd_prediction (m,) of full-batch GD from
    the same theta_0; seed_counts (J,), mc_error (J,) root-mean-square error of the mean of
    that many seeds (from disjoint blocks, counts up to seeds / 4), mc_standard_error (J,) the sigma / sqrt(S) law,
    mc_slope the fitted slope of log mc_error against log count,
    block_residual, block_residual_exact (J,) the root-mean-square of the block means of the
    remainders; at `queries`: expected_path_kernel, expected_contribution (q, n) means over seeds
    of the first-order path kernel and contributions, expected_initial (q,) f(theta_0, x),
    expected_machine (q,) the expected kernel machine initial + sum_i expected_contribution,
    expected_prediction (q,) the mean prediction, gd_contribution (q, n) those of full-batch GD.

    Comparison study: contribution, path_kernel (4, q, n), prediction, initial (4, q),
    compare_loss (4,); spearman (q, 4, 4) rank correlations of the contributions per query;
    spearman_within (q, 4, 4) the same within each class (ball, sphere), averaged over the two;
    recovery_names, recovery_params, recovery_contribution: the special cases and their
    max |difference| of parameters and of contributions from the optimizer they reduce to.
    """

    config: Config
    optimizers: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    queries: np.ndarray
    lrs: np.ndarray
    steps: np.ndarray
    residual: np.ndarray
    residual_exact: np.ndarray
    prediction_max: np.ndarray
    final_loss: np.ndarray
    slopes: np.ndarray
    intercepts: np.ndarray
    local_slopes: np.ndarray
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


def learning_rate(config: Config, optimizer: str, base_lr: float) -> float:
    """The optimizer's learning rate for a base rate: base x (1, 1, 1 - momentum, adam_scale)."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r}; expected one of {OPTIMIZERS}")
    scale = {"momentum": config.momentum_scale, "adam": config.adam_scale}.get(optimizer, 1.0)
    return scale * base_lr


def train_path(
    config: Config,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: str,
    lr: float,
    steps: int,
    *,
    init_seed: int,
    batch_seed: int,
    momentum: float | None = None,
    batch_size: int | None = None,
) -> TrainingPath:
    """Train a fresh MLP (initialized by `init_seed` on the CPU, trained on x's device) with
    `optimizer` at learning rate `lr`.

    "gd" is full batch; the others use `batch_size` (default config.batch_size) with the
    mini-batch order of `batch_seed`; `momentum` overrides config.momentum.
    """
    model = MLP(x.shape[1], config.width, config.depth, activation=config.activation, seed=init_seed,
                dtype=x.dtype).to(x.device)
    kwargs: dict[str, object] = {}
    if optimizer != "gd":
        kwargs["batch_size"] = config.batch_size if batch_size is None else batch_size
    if optimizer == "momentum":
        kwargs["momentum"] = config.momentum if momentum is None else momentum
    if optimizer == "adam":
        kwargs.update(betas=config.betas, eps=config.eps)
    return train(model, x, y, lr=lr, steps=steps, optimizer=optimizer, seed=batch_seed, **kwargs)


def fit_order(lrs: np.ndarray, residual: np.ndarray, max_lr: float) -> tuple[float, float]:
    """Least-squares slope and intercept of log residual = slope log lr + intercept on lrs <= max_lr."""
    fitted = lrs <= max_lr
    slope, intercept = np.polyfit(np.log(lrs[fitted]), np.log(residual[fitted]), 1)
    return float(slope), float(intercept)


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


def rank_correlations(contribution: np.ndarray) -> np.ndarray:
    """Spearman rank correlations between optimizers, per query: the Pearson correlation
    of the ranks (ties get their average rank).

    contribution: (k, q, n) per-sample contributions of k optimizers at q queries.
    Returns (q, k, k).
    """
    return np.stack([np.corrcoef(rankdata(contribution[:, j], axis=1)) for j in range(contribution.shape[1])])


def _residual_study(config: Config, x: torch.Tensor, y: torch.Tensor, xq: torch.Tensor, seed: int) -> dict:
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
    return dict(lrs=lrs, steps=steps, residual=plain, residual_exact=exact, prediction_max=scale, final_loss=loss,
                slopes=np.asarray([s for s, _ in fits]), intercepts=np.asarray([i for _, i in fits]),
                local_slopes=np.asarray(local))


def _expectation_study(config: Config, x: torch.Tensor, y: torch.Tensor, xq: torch.Tensor,
                       queries: torch.Tensor, seed: int) -> dict:
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
    return dict(
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


def _comparison_study(config: Config, x: torch.Tensor, y: torch.Tensor, queries: torch.Tensor, seed: int) -> dict:
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
    return dict(
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


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """The three studies on the ball/sphere task of `seed` (data, theta_0 and batch orders).

    Data drawn on the CPU, then the data and every network computed on `device`."""
    device = check_device(device)
    x, y = (t.to(device) for t in ball_sphere(config.n, seed=seed))
    xq = query_points(config.n_query, config.query_radius, seed + 1).to(device)
    queries = torch.tensor(config.queries, dtype=x.dtype, device=device)
    return Result(
        config=config, optimizers=OPTIMIZERS, x=x.cpu().numpy(), y=y.cpu().numpy(), queries=queries.cpu().numpy(),
        **_residual_study(config, x, y, xq, seed),
        **_expectation_study(config, x, y, xq, queries, seed),
        **_comparison_study(config, x, y, queries, seed),
    )
