"""Chapter "Planar topology in 1D": how often does training find the exact prefix parity?

Courtois, Morel & Arias (§6.1.3) train the structure of their Figure 8 four ways and report:
from a random initialization it never converged to the exact solution w*; from
w0 = w* + sigma * eps (eps ~ N(0, I)) it converged for small sigma; with the kernel of one
convolution enlarged it stopped converging; with convolutions inserted between the two of
each level it reached a low error that is not exact. This study runs the four trainings on
two structures, under one budget (same data, optimizer, lr and steps) and over `seeds` seeds:

* "s1": `PrefixParityNet`, S1's prefix encoder y_j = F^(p)(P_j(x)), F = D o XOR, as
  reconstructed from the prose of §6.1.2 (pathkernel/prefix_parity.py says what is inferred);
* "ours": `ParityNet`, our encoder-decoder (U-Net-like) of the same XOR blocks.

A run is *exact* when its pixel error (output thresholded at 1/2) is 0 on every
Omega_{n,k'} of `k_eval` (enumerated when small, else sampled: `parity_batch.evaluation_sets`);
the success rate of a setting is the fraction of exact runs, with a Wilson 95% interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.data.planar1d import omega, prefix_parity
from pathkernel.experiments import Presets, check_device
from pathkernel.determinism import fixed_threads
from pathkernel.experiments.parity_batch import evaluation_sets, perturbed, pixel_errors, train_together
from pathkernel.functional import progress
from pathkernel.parity_net import ParityNet
from pathkernel.prefix_parity import PrefixParityNet
from pathkernel.validation import integer

ARCHITECTURES = ("s1", "ours")
VARIANTS = ("random", "noise", "wide", "extra")
#: the normal quantile of a two-sided 95% interval
Z95 = 1.959963984540054


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval (low, high) of a binomial proportion successes / trials:
    (p + z^2/(2N) -/+ z sqrt(p(1-p)/N + z^2/(4N^2))) / (1 + z^2/N), p = successes / N."""
    trials = integer("trials", trials, 1)
    successes = integer("successes", successes, 0, trials)
    if not z > 0:
        raise ValueError(f"z={z} must be > 0")
    p, zz = successes / trials, z * z / trials
    centre, half = p + zz / 2, z * math.sqrt(p * (1 - p) / trials + zz / (4 * trials))
    low = 0.0 if successes == 0 else (centre - half) / (1 + zz)    # exact 0 and 1 at the ends (no rounding)
    high = 1.0 if successes == trials else (centre + half) / (1 + zz)
    return low, high


@dataclass(frozen=True)
class Config(Presets):
    """One budget for every training: `steps` full-batch steps of `optimizer` at constant `lr` on
    the mean squared error, n_train sequences of Omega_{n, k_train} per seed (the same for every
    structure and variant). sigma: noise of w* + sigma * eps ("noise" and "wide"); wide_kernel:
    size of the enlarged first convolution ("wide"); extra_convs, extra_width: the inserted
    (Conv1d(width, width, 3), ReLU) layers and the hidden width ("extra", random init).
    together: networks trained at once (vmapped); changes the memory, not the results."""

    scale: str
    n: int
    n_train: int
    steps: int
    seeds: int
    k_train: int = 4
    k_eval: tuple[int, ...] = (2, 4, 6, 8)
    eval_size: int = 4096
    lr: float = 0.01
    optimizer: str = "adam"
    sigma: float = 0.05
    wide_kernel: int = 4
    extra_convs: int = 1
    extra_width: int = 4
    together: int = 16

    sources: ClassVar[dict[str, str]] = {
        "n": "ours: S1 §6.1.1 trains on Omega_{n,k}, its n was lost in our copy; 128 keeps 7 levels",
        "n_train": "ours: S1 §6.1.1's training-set size was lost in our copy",
        "steps": "ours: S1 §6.1.3 gives no budget ('despite heavy hyper-parameter tuning')",
        "seeds": "ours: S1 reports no repetitions; enough seeds for a rate with an interval",
        "k_train": "ours: S1 §6.1.3's k was lost in our copy; an even k (closed curves)",
        "k_eval": "ours: S1 §6.1.3 evaluates on other k', their values were lost in our copy",
        "eval_size": "ours: sample size where Omega_{n,k'} is too large to enumerate",
        "lr": "ours: S1 §6.1.3 gives no learning rate",
        "optimizer": "ours: S1 §6.1.3 names no optimizer for this section",
        "sigma": "ours: S1 §6.1.3 says 'for any sigma' below a bound lost in our copy; the smallest quick sigma of parity_1d",
        "wide_kernel": "Courtois et al. §6.1.3: 'increasing the kernel size of one of the convolutions' (size lost)",
        "extra_convs": "Courtois et al. §6.1.3: 'other convolutions in-between the two' (count lost; ours: 2)",
        "extra_width": "ours: S1 gives no width for the inserted convolutions",
        "together": "ours: memory only (networks trained at once), not a setting of the experiment",
    }
    large_reason: ClassVar[str] = (
        "the paper preset (sequences of 128, 1,000 of them, 2,000 steps, 20 seeds) would take an estimated 190 hours "
        "on 2 CPU cores (the stored large run's wall time scaled by length, data, steps and seeds); "
        "the large preset trains sequences of 32, 64 of them, for 1,000 steps")

    def __post_init__(self) -> None:
        integer("n", self.n, 4)
        if self.n & (self.n - 1):
            raise ValueError(f"n={self.n} must be a power of two (the structures halve it at every level)")
        for name in ("n_train", "steps", "seeds", "eval_size", "extra_convs", "extra_width", "together"):
            integer(name, getattr(self, name))
        integer("wide_kernel", self.wide_kernel, 3)
        for k in (self.k_train, *self.k_eval):
            integer("k", k, 1, self.n)
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr} must be > 0")
        if not self.sigma > 0:
            raise ValueError(f"sigma={self.sigma} must be > 0")
        if self.optimizer not in ("adam", "gd"):
            raise ValueError(f"optimizer={self.optimizer!r}; expected 'adam' or 'gd'")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=16, n_train=16, steps=200, seeds=12, eval_size=1024)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=128, n_train=1000, steps=2000, seeds=20, k_eval=(2, 4, 6, 8, 16, 32),
                   extra_convs=2, extra_width=8, together=2)

    @classmethod
    def large(cls) -> "Config":
        """What 2 CPU cores train in about an hour (`large_reason`)."""
        return cls(scale="large", n=32, n_train=64, steps=1000, seeds=12, k_eval=(2, 4, 6, 8, 16),
                   extra_convs=2, extra_width=8, together=12)


@dataclass
class Result:
    """k_eval (K,); error (A, V, R, K): pixel error of every trained network on Omega_{n,k'}, for the
    structures `ARCHITECTURES` (A), the trainings `VARIANTS` (V) and the seeds (R); loss (A, V, R,
    steps): training losses; parameters (A, V): parameter counts; chance (K,): the error of the
    best constant output (min(mean y, 1 - mean y) on each evaluation set)."""

    config: Config
    k_eval: np.ndarray
    error: np.ndarray
    loss: np.ndarray
    parameters: np.ndarray
    chance: np.ndarray

    @property
    def exact(self) -> np.ndarray:
        """(A, V, R) bool: error 0 on every Omega_{n,k'}."""
        return (self.error == 0).all(axis=-1)

    @property
    def unseen(self) -> np.ndarray:
        """(K,) bool: the k' of `k_eval` other than the training set's k."""
        return self.k_eval != self.config.k_train

    def interval(self, architecture: str, variant: str) -> tuple[int, float, float]:
        """(exact runs, Wilson 95% low, high) of one structure and training."""
        if architecture not in ARCHITECTURES or variant not in VARIANTS:
            raise ValueError(f"({architecture!r}, {variant!r}); expected one of {ARCHITECTURES} x {VARIANTS}")
        runs = int(self.exact[ARCHITECTURES.index(architecture), VARIANTS.index(variant)].sum())
        return (runs, *wilson(runs, self.config.seeds))


def networks(architecture: str, variant: str, config: Config, seed: int) -> torch.nn.Module:
    """The float64 network of one run, initialized for its training (random seed or w* + sigma eps)."""
    net = PrefixParityNet if architecture == "s1" else ParityNet
    n, dtype = config.n, torch.float64
    if variant == "random":
        return net(n, exact=False, seed=seed, dtype=dtype)
    if variant == "extra":
        return net(n, exact=False, width=config.extra_width, extra_convs=config.extra_convs, seed=seed, dtype=dtype)
    kernel = config.wide_kernel if variant == "wide" else 2
    return perturbed(net(n, kernel_size=kernel, dtype=dtype), config.sigma, seed=seed)


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers: the budget, and per structure and training the exact runs ("r of R"),
    the Wilson 95% interval of the rate and the mean pixel error on the unseen k'; the mean final
    loss of the random and inserted-convolution trainings; the best constant output's error on
    the unseen k' and the inserted-convolution error as a percentage of it; whether the random and
    enlarged-kernel counts agree with S1's "never" (no exact run); the parameter counts."""
    config, mask = result.config, result.unseen
    values = {"seeds": f"{config.seeds}", "ntrain": f"{config.n_train}", "steps": f"{config.steps}",
              "sigma": f"{config.sigma:g}", "wide": f"{config.wide_kernel}", "extra": f"{config.extra_convs}",
              "width": f"{config.extra_width}", "chance": f"{result.chance[mask].mean():.2f}"}
    for a, architecture in enumerate(ARCHITECTURES):
        values[f"{architecture}-P"] = f"{result.parameters[a, 0]}"
        for v, variant in enumerate(VARIANTS):
            runs, low, high = result.interval(architecture, variant)
            key = f"{architecture}-{variant}"
            values[key] = f"{runs} of {config.seeds}"
            values[f"{key}-ci"] = f"{low:.2f}–{high:.2f}"
            values[f"{key}-error"] = f"{result.error[a, v][:, mask].mean():.2f}"
        for variant in ("random", "wide"):  # S1: "never converged", "stopped converging": one exact run contradicts
            exact = result.interval(architecture, variant)[0]
            values[f"{architecture}-{variant}-verdict"] = "contradicts S1" if exact else "agrees with S1"
        extra = result.error[a, VARIANTS.index("extra")][:, mask].mean() / result.chance[mask].mean()
        values[f"{architecture}-extra-ratio"] = f"{100 * extra:.0f}%"
        values[f"{architecture}-extra-loss"] = f"{result.loss[a, VARIANTS.index('extra'), :, -1].mean():.2g}"
        values[f"{architecture}-random-loss"] = f"{result.loss[a, VARIANTS.index('random'), :, -1].mean():.2g}"
    return {f"parityrates-{name}": value for name, value in values.items()}


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Every structure x training, seeds seed .. seed + seeds - 1; seed s draws the training set
    Omega_{n,k_train} (seed s) shared by all, the random initialization and the noise eps.
    Built on the CPU, trained and scored on `device` (on one CPU thread: `determinism.fixed_threads`)."""
    with fixed_threads():
        return _run(config, seed, check_device(device))


def _run(config: Config, seed: int, device: torch.device) -> Result:
    seeds = list(range(seed, seed + config.seeds))
    sets = [(x.to(device), y.to(device)) for x, y in evaluation_sets(config, seed)]
    x = torch.stack([omega(config.n, config.k_train, config.n_train, seed=s) for s in seeds])
    y = prefix_parity(x.reshape(-1, config.n)).reshape(x.shape)
    x, y = x.to(device), y.to(device)
    A, V, R, K, G = len(ARCHITECTURES), len(VARIANTS), config.seeds, len(config.k_eval), config.together
    error, loss = np.zeros((A, V, R, K)), np.zeros((A, V, R, config.steps))
    parameters = np.zeros((A, V), dtype=np.int64)
    settings = [(a, v) for a in range(A) for v in range(V)]
    for a, v in progress(settings, total=len(settings), desc="parity trainings", enabled=None):
        models = [networks(ARCHITECTURES[a], VARIANTS[v], config, s).to(device) for s in seeds]
        parameters[a, v] = sum(p.numel() for p in models[0].parameters())
        loss[a, v] = np.concatenate([train_together(models[i:i + G], x[i:i + G], y[i:i + G], config)
                                     for i in range(0, R, G)])
        error[a, v] = np.stack([pixel_errors(model, sets) for model in models])
    chance = np.array([min(t.mean().item(), 1 - t.mean().item()) for _, t in sets])
    return Result(config=config, k_eval=np.array(config.k_eval), error=error, loss=loss, parameters=parameters,
                  chance=chance)
