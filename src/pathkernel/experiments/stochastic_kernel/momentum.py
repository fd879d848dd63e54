"""The momentum theorem of the chapter "SGD as a diffusion", checked along the underdamped SDE.

    dW = V dt,  dV = -gamma V dt - grad L(W) dt + sqrt(lr) Sigma_B(W)^{1/2} dB_t,  V_0 = 0
(`pathkernel.sgd_diffusion.underdamped_step`) on the GELU MLP and sine of `ito_term`. With the filtered
gradients D and filtered noise N (V = -D + N on every path), the change of the output splits as
    f(W_T, x) - f(W_0, x) = -int <grad f(W_s, x), D_s> ds + int <grad f(W_s, x), N_s> ds   (+ O(dt)),
the first term being the memory-weighted kernel term int int e^{-gamma (s - r)} sum_i l'_i K_{s,r}(x, x_i).
The theorem replaces the expectation of the second (noise) term by the memory term
int_0^T int_0^s e^{-gamma (s - r)} E[V_r^T grad^2 f(W_r, x) N_r] dr ds, accumulated per path (`memory`);
both are measured, with standard errors, for every lr (the noise level). The noise term is estimated
with a control variate: int <phi(s), N_s> ds with phi(s) = grad f(w(s), x) along the noise-free path has
expectation exactly 0 (N has mean 0 and phi is not random), so it is subtracted path by path; what is
left has the same mean and a much smaller variance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch.func import grad, vmap

from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.stochastic_kernel._common import task
from pathkernel.sgd_diffusion import mixed_curvature, underdamped_step
from pathkernel.validation import finite_number, integer

TERMS = ("change", "kernel", "noise", "memory")


@dataclass(frozen=True)
class Config(Presets):
    """The GELU MLP (width, depth) on n points of a sine; the underdamped SDE with friction gamma and
    batches of batch_size, for every lr in `lrs`, `walkers` Euler-Maruyama paths of step dt to `time`;
    the terms at `queries`."""

    scale: str
    walkers: int
    lrs: tuple[float, ...] = (0.1, 0.4)
    gamma: float = 2.0
    batch_size: int = 1
    n: int = 8
    time: float = 2.0
    dt: float = 0.05
    width: int = 16
    depth: int = 2
    queries: tuple[float, ...] = (-0.5, 0.0, 0.5)

    sources: ClassVar[dict[str, str]] = {
        "walkers": "ours: enough paths for the memory term's standard error to be small beside it",
        "lrs": "ours: two noise levels a factor four apart",
        "gamma": "ours: Guo et al.'s momentum-to-friction map (Theorem 3.5) is lost in our copy; any gamma > 0 fits",
        "batch_size": "ours: one example per batch, the largest noise",
        "n": "ours: the data of the Ito-term study",
        "time": "ours: a few relaxation times 1/gamma",
        "dt": "ours: the Euler-Maruyama step, small beside 1/gamma",
        "width": "ours: the network of the Ito-term study",
        "depth": "ours: one hidden layer",
        "queries": "ours: the queries of the Ito-term study",
    }

    def __post_init__(self) -> None:
        integer("walkers", self.walkers, 2)
        integer("batch_size", self.batch_size, 1, self.n - 1)
        finite_number("gamma", self.gamma, 0, open_low=True)
        finite_number("dt", self.dt, 0, self.time, open_low=True)
        if not self.lrs or any(lr <= 0 for lr in self.lrs):
            raise ValueError(f"lrs={self.lrs!r} must be positive")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", walkers=256)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", walkers=4000, lrs=(0.05, 0.1, 0.2, 0.4), n=16, dt=0.01, width=64)


@dataclass
class Result:
    """Ensemble means and standard errors, (len(lrs), len(queries)) each, of the change f(x, W_T) -
    f(x, W_0), the memory-weighted kernel term int <grad f, D> ds, the noise term int <grad f, N> ds and
    the theorem's memory term: `mean[term]`, `se[term]` for term in TERMS."""

    config: Config
    mean: dict[str, np.ndarray]
    se: dict[str, np.ndarray]


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    device = check_device(device)
    f, w0, x, y = task("mlp", config.n, 1, config.width, config.depth, seed, device)
    queries = torch.tensor(config.queries, dtype=torch.float64, device=device)[:, None]
    features = vmap(vmap(grad(lambda w, q: f(w, q[None]).reshape(())), in_dims=(None, 0)), in_dims=(0, None))
    generator = torch.Generator().manual_seed(seed)
    decay = 1 - config.gamma * config.dt
    mean = {term: np.zeros((len(config.lrs), len(config.queries))) for term in TERMS}
    se = {term: np.zeros_like(mean[term]) for term in TERMS}
    steps = round(config.time / config.dt)
    w, v, noise_free = w0[None], torch.zeros_like(w0[None]), []
    for _ in range(steps):  # the noise-free path (lr = 0): its features are the control variate's
        noise_free.append(features(w, queries)[0])
        w, v, _, _ = underdamped_step(f, w, v, x, y, lr=0.0, batch_size=config.batch_size, gamma=config.gamma,
                                      dt=config.dt, generator=generator)
    for a, lr in enumerate(config.lrs):
        w = w0[None].repeat(config.walkers, 1)
        v, d, noise = torch.zeros_like(w), torch.zeros_like(w), torch.zeros_like(w)
        acc = {term: torch.zeros(config.walkers, len(config.queries), dtype=w.dtype, device=device) for term in TERMS}
        filtered = torch.zeros_like(acc["memory"])  # int_0^s e^{-gamma (s - r)} V_r^T grad^2 f N_r dr, per path
        for k in range(steps):
            phi = features(w, queries)  # (walkers, q, P)
            acc["kernel"] += config.dt * (phi @ d[:, :, None])[..., 0]
            acc["noise"] += config.dt * ((phi - noise_free[k][None]) @ noise[:, :, None])[..., 0]
            acc["memory"] += config.dt * filtered
            filtered = decay * (filtered + config.dt * mixed_curvature(f, w, queries, v, noise))
            w, v, grad_l, increment = underdamped_step(f, w, v, x, y, lr=lr, batch_size=config.batch_size,
                                                       gamma=config.gamma, dt=config.dt, generator=generator)
            d, noise = decay * d + config.dt * grad_l, decay * noise + increment
        acc["change"] = vmap(f, in_dims=(0, None))(w, queries) - f(w0, queries)
        for term in TERMS:
            mean[term][a] = acc[term].mean(0).cpu().numpy()
            se[term][a] = (acc[term].std(0) / config.walkers ** 0.5).cpu().numpy()
    return Result(config=config, mean=mean, se=se)


def numbers(result: Result) -> dict[str, str | int]:
    """The chapter's numbers: sizes; at the largest lr, per query, the noise term and the memory term with
    standard errors; the largest distance between them in combined standard errors over lrs and queries;
    the memory term relative to the kernel term at the largest lr (largest over queries)."""
    c, m, s = result.config, result.mean, result.se
    z = np.abs(m["noise"] - m["memory"]) / np.hypot(s["noise"], s["memory"])
    top = int(np.argmax(c.lrs))
    return {
        "sk-mom-scale": c.scale, "sk-mom-walkers": c.walkers, "sk-mom-gamma": f"{c.gamma:g}", "sk-mom-b": c.batch_size,
        "sk-mom-time": f"{c.time:g}", "sk-mom-dt": f"{c.dt:g}", "sk-mom-lr-max": f"{max(c.lrs):g}",
        "sk-mom-noise": ", ".join(f"{a:.4f} ± {b:.4f}" for a, b in zip(m["noise"][top], s["noise"][top])),
        "sk-mom-memory": ", ".join(f"{a:.4f} ± {b:.4f}" for a, b in zip(m["memory"][top], s["memory"][top])),
        "sk-mom-z": f"{z.max():.1f}",
        "sk-mom-queries": ", ".join(f"{q:g}" for q in c.queries),
        "sk-mom-ratio": f"{np.max(np.abs(m['memory'][top]) / np.abs(m['kernel'][top])):.2g}",
    }
