"""A tiny DDPM decomposed exactly over its training points (chapter "Diffusion models and GANs").

A denoiser eps_hat(w, (x_t, t)), a GELU MLP from R^3 to R^2, is trained by an ordinary Adam loop
on n points x_i of a 2D mixture: at every step every example i draws a noise level
t ~ U[t_min, 1] and a noise eps ~ N(0, I), x_t = sqrt(abar(t)) x_i + sqrt(1 - abar(t)) eps
(`data.alpha_bar`), and the loss is the batch mean of 1/2 ||eps_hat(w, (x_t, t)) - eps||^2.
`pk.Recorder.step(indices, inputs=, targets=)` records those draws, and
`pk.domingos(rec.path, q, exact=True, per_sample=True)` splits eps_hat(w_T, q) - eps_hat(w_0, q)
at queries q = (x_t, t) over the n examples (each the sum over its draws); `rec.draw_path` splits
it over the draws themselves, whose noise levels say which stage of the noise schedule corrected
the query (Guo, He & Morel: "diffusion induces stage-wise, noise-localized corrections").

Queries: for each level in `levels`, `queries` fresh points of the mixture noised to that level.
Locality: the share of an example's contribution ||c_i(q)|| / sum_j ||c_j(q)|| against its
distance d_i(q) = ||x_t - sqrt(abar(t)) x_i|| to the query (the distance the noise model weighs:
the ideal denoiser of the training set weighs example i by softmax_i(-d_i^2 / (2 (1 - abar(t))))).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.decomposition import domingos
from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.generative.data import alpha_bar, mixture
from pathkernel.models import MLP
from pathkernel.recording import Recorder


@dataclass(frozen=True)
class Config(Presets):
    """n training points of a mixture of `modes` Gaussians (std `spread`) on the unit circle; the GELU
    MLP denoiser (width, depth) trained by Adam (lr) for `steps` full-batch steps, one draw (t, eps)
    per example per step, t ~ U[t_min, 1]; `queries` queries at each noise level of `levels`;
    `near`: how many nearest examples the locality share counts; `bins` noise-level bins of the
    draws; `window`: the bins centred within this distance of the query's level are its stage."""

    scale: str
    n: int
    width: int
    steps: int
    queries: int
    levels: tuple[float, ...] = (0.1, 0.7)
    modes: int = 4
    spread: float = 0.15
    depth: int = 3
    lr: float = 0.005
    t_min: float = 0.02
    near: int = 4
    bins: int = 10
    window: float = 0.15

    sources: ClassVar[dict[str, str]] = {
        "n": "ours: Guo et al.'s copy keeps no experiment; few points so that each one's share is visible",
        "width": "ours: a small denoiser that still fits the mixture's score",
        "steps": "ours: Adam steps for the loss to level off; per-draw terms (m x steps n x 4 floats) near 1 GB",
        "queries": "ours: queries per noise level, to average the locality over",
        "levels": "ours: a small and a large noise level of the cosine schedule",
        "modes": "ours: a few well separated modes",
        "spread": "ours: modes narrower than their distance",
        "depth": "ours: the book's three-layer MLP",
        "lr": "ours: a usual Adam rate for a small MLP",
        "t_min": "ours: keeps the smallest noise level away from 0",
        "near": "ours: the size of one mode's neighbourhood among n points",
        "bins": "ours: resolution of the noise-level profile",
        "window": "ours: half-width of a 'stage' of the schedule",
    }

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=32, width=32, steps=200, queries=6)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=128, width=128, steps=1500, queries=16)


@dataclass
class Result:
    """train_x (n, 2); queries (m, 3) rows (x_t, t), m = len(levels) * queries, level (m,) the index of
    the query's level; contributions (m, n, 2) per example, change (m, 2) = eps_hat(w_T) - eps_hat(w_0);
    additivity, residual: max |sum_i c_i - change| and max |dec.residual|; draws_gap: max gap between
    the per-example terms and the per-draw ones summed by example; distance (m, n); share (m, n) =
    ||c_i|| / sum_j ||c_j||, stage_share (m, n) the same for the contributions of the draws within
    `window` of the query's level; posterior (m, n) the ideal denoiser's weights; stage (m, bins) the share
    ||sum of the bin's terms|| / sum over bins of the same (terms cancel within a bin, not across bins),
    stage_window (m,) the part of `stage` in the bins whose centre lies within `window` of the query's
    level, stage_uniform (m,) the fraction of the draws in those bins; losses (T,)."""

    config: Config
    train_x: np.ndarray
    queries: np.ndarray
    level: np.ndarray
    contributions: np.ndarray
    change: np.ndarray
    additivity: float
    residual: float
    draws_gap: float
    distance: np.ndarray
    share: np.ndarray
    posterior: np.ndarray
    stage_share: np.ndarray
    stage: np.ndarray
    stage_uniform: np.ndarray
    stage_window: np.ndarray
    losses: np.ndarray


def noised(x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """(b, 3) denoiser inputs (x_t, t) for clean points x0 (b, 2), levels t (b, 1) and noise eps (b, 2)."""
    ab = alpha_bar(t)
    return torch.cat([ab.sqrt() * x0 + (1 - ab).sqrt() * eps, t], dim=1)


def train(config: Config, x0: torch.Tensor, model: MLP, generator: torch.Generator) -> Recorder:
    """The user's loop of the module docstring, recorded with its draws; returns the recorder."""
    device, n = x0.device, x0.shape[0]
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    clean = torch.cat([x0, torch.zeros(n, 1, dtype=x0.dtype, device=device)], dim=1)  # the examples, at t = 0
    rec = Recorder(model, optimizer, clean, torch.zeros(n, 2, dtype=x0.dtype, device=device), loss="mse",
                   storage="memory")
    everyone = torch.arange(n)
    for _ in range(config.steps):
        t = config.t_min + (1 - config.t_min) * torch.rand(n, 1, generator=generator, dtype=x0.dtype)
        eps = torch.randn(n, 2, generator=generator, dtype=x0.dtype)
        t, eps = t.to(device), eps.to(device)
        inputs = noised(x0, t, eps)
        optimizer.zero_grad()
        loss = 0.5 * ((model(inputs) - eps) ** 2).sum(dim=1).mean()
        loss.backward()
        optimizer.step()
        rec.step(everyone, inputs=inputs, targets=eps)
    return rec


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    device = check_device(device)
    generator = torch.Generator().manual_seed(seed)
    x0 = mixture(config.n, config.modes, config.spread, generator)
    levels = torch.tensor(config.levels, dtype=torch.float64).repeat_interleave(config.queries)[:, None]
    clean_q = mixture(levels.shape[0], config.modes, config.spread, generator)
    queries = noised(clean_q, levels, torch.randn(levels.shape[0], 2, generator=generator, dtype=torch.float64))
    x0, queries = x0.to(device), queries.to(device)
    model = MLP(3, config.width, config.depth, out_dim=2, activation="gelu", seed=seed, dtype=torch.float64).to(device)
    rec = train(config, x0, model, generator)
    dec = domingos(rec.path, queries, exact=True, per_sample=True, progress_bar=False)
    draw_path = rec.draw_path
    per_draw = domingos(draw_path, queries, exact=True, per_sample=True, progress_bar=False).per_sample
    owners = rec.path.hyper["owners"].to(device)
    summed = torch.zeros_like(dec.per_sample).index_add_(1, owners, per_draw)
    change = dec.prediction - dec.initial
    ab = alpha_bar(levels.to(device))  # (m, 1)
    distance = (queries[:, None, :2] - ab.sqrt()[:, :, None] * x0[None]).norm(dim=-1)  # (m, n)
    magnitude = dec.per_sample.norm(dim=-1)
    posterior = torch.softmax(-distance ** 2 / (2 * (1 - ab)), dim=1)
    draw_t = draw_path.x[:, 2]
    edges = torch.linspace(config.t_min, 1, config.bins + 1, dtype=torch.float64, device=device)
    which = torch.bucketize(draw_t.contiguous(), edges[1:-1])
    by_bin = per_draw.new_zeros(per_draw.shape[0], config.bins, 2).index_add_(1, which, per_draw).norm(dim=-1)
    inside = (draw_t[None, :] - levels.to(device)).abs() < config.window  # (m, N)
    in_stage = torch.zeros_like(dec.per_sample).index_add_(1, owners, per_draw * inside[..., None])  # (m, n, 2)
    stage_magnitude = in_stage.norm(dim=-1)
    stage = by_bin / by_bin.sum(dim=1, keepdim=True)
    centers = (edges[1:] + edges[:-1]) / 2
    stage_bins = (centers[None, :] - levels.to(device)).abs() < config.window  # (m, bins): the query's stage
    counts = torch.bincount(which, minlength=config.bins).to(stage.dtype) / which.numel()
    cpu = lambda t: t.detach().cpu().numpy()  # noqa: E731
    return Result(
        config=config, train_x=cpu(x0), queries=cpu(queries),
        level=np.repeat(np.arange(len(config.levels)), config.queries),
        contributions=cpu(dec.per_sample), change=cpu(change),
        additivity=float((dec.per_sample.sum(dim=1) - change).abs().max()),
        residual=float(dec.residual.abs().max()), draws_gap=float((summed - dec.per_sample).abs().max()),
        distance=cpu(distance), share=cpu(magnitude / magnitude.sum(dim=1, keepdim=True)), posterior=cpu(posterior),
        stage_share=cpu(stage_magnitude / stage_magnitude.sum(dim=1, keepdim=True)),
        stage=cpu(stage), stage_uniform=cpu((counts[None, :] * stage_bins).sum(dim=1)),
        stage_window=cpu((stage * stage_bins).sum(dim=1)), losses=np.asarray(rec.losses),
    )


def nearest_share(share: np.ndarray, distance: np.ndarray, k: int) -> np.ndarray:
    """(m,): the part of each row of `share` (m, n) held by its k smallest `distance` entries."""
    order = np.argsort(distance, axis=1)[:, :k]
    return np.take_along_axis(share, order, axis=1).sum(axis=1)


def numbers(result: Result) -> dict[str, str | int]:
    """The chapter's DDPM numbers: sizes, exactness (additivity, residual, per-draw gap), per level the
    share of the contributions held by the `near` nearest examples (and the ideal denoiser's), the
    contribution-weighted mean distance, and the stage share against the uniform one."""
    c = result.config
    out: dict[str, str | int] = {
        "generative-ddpm-scale": c.scale, "generative-ddpm-n": c.n, "generative-ddpm-width": c.width,
        "generative-ddpm-steps": c.steps, "generative-ddpm-lr": f"{c.lr:g}", "generative-ddpm-queries": c.queries,
        "generative-ddpm-draws": c.steps * c.n, "generative-ddpm-near": c.near,
        "generative-ddpm-uniform": f"{c.near / c.n:.2f}", "generative-ddpm-window": f"{c.window:g}",
        "generative-ddpm-additivity": f"{result.additivity:.1e}", "generative-ddpm-residual": f"{result.residual:.1e}",
        "generative-ddpm-draws-gap": f"{result.draws_gap:.1e}",
        "generative-ddpm-change": f"{np.abs(result.change).max():.2f}",
        "generative-ddpm-loss-start": f"{result.losses[: max(1, c.steps // 10)].mean():.3f}",
        "generative-ddpm-loss-end": f"{result.losses[-max(1, c.steps // 10):].mean():.3f}",
    }
    for j, (name, level) in enumerate(zip(("small", "large"), c.levels)):
        rows = result.level == j
        near = nearest_share(result.share[rows], result.distance[rows], c.near)
        ideal = nearest_share(result.posterior[rows], result.distance[rows], c.near)
        in_stage = nearest_share(result.stage_share[rows], result.distance[rows], c.near)
        out.update({
            f"generative-ddpm-{name}-level": f"{level:g}",
            f"generative-ddpm-{name}-near": f"{near.mean():.2f}",
            f"generative-ddpm-{name}-ideal": f"{ideal.mean():.2f}",
            f"generative-ddpm-{name}-near-stage": f"{in_stage.mean():.2f}",
            f"generative-ddpm-{name}-mean-distance":
                f"{(result.share[rows] * result.distance[rows]).sum(1).mean():.2f}",
            f"generative-ddpm-{name}-stage": f"{result.stage_window[rows].mean():.2f}",
            f"generative-ddpm-{name}-stage-uniform": f"{result.stage_uniform[rows].mean():.2f}",
        })
    return out
