"""A tiny GAN whose generator is decomposed exactly over its latent draws (chapter "Diffusion models and
GANs").

Generator G(w, z): R^2 -> R^2 and discriminator D: R^2 -> R (logit), GELU MLPs, trained by an
ordinary loop with two Adam optimizers on n points of the 2D mixture: per step, D takes a step on
the logistic loss (real points label 1, G's samples label 0), then G takes a step on the
non-saturating loss L_G(w) = (1/b) sum_j softplus(-D(G(w, z_j))) over a fresh latent batch
z_1..z_b ~ N(0, I). The generator's training examples are its latents: real data act on it only
through D. Per draw, dL_G / dG(z_j) = -v_j / b with the discriminator's push
v_j = sigmoid(-D(x_j)) grad_x D(x_j) at the sample x_j = G(w_k, z_j); so L_G has the gradient of
the mean of 1/2 ||G(w, z_j) - (x_j + v_j)||^2 at w_k, and `pk.Recorder.step(indices, inputs=z,
targets=x + v)` records the step as a regression of each sample onto its pushed copy
(the recorder checks the gradients agree). `pk.domingos(rec.draw_path, z_q, exact=True,
per_sample=True)` splits G(w_T, z_q) - G(w_0, z_q) over the draws: draw (k, j) contributes
c_{k,j}(z_q) = Kbar_k(z_q, z_{k,j}) v_{k,j} (Adam: its preconditioned cross-time kernel), a vector in
the data plane, the discriminator's push at x_{k,j} transported by the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from pathkernel.decomposition import domingos
from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.generative.data import mixture
from pathkernel.models import MLP
from pathkernel.recording import Recorder


@dataclass(frozen=True)
class Config(Presets):
    """n real points of the mixture (modes, spread); generator and discriminator GELU MLPs (width,
    depth), Adam (lr, betas (beta1, 0.999)) for `steps` steps, latent batches of b; `queries` latent
    queries; `phases` windows of training; `grid` cells per side of the correction field."""

    scale: str
    n: int
    width: int
    steps: int
    b: int
    queries: int
    modes: int = 4
    spread: float = 0.15
    depth: int = 3
    lr: float = 0.005
    beta1: float = 0.5
    phases: int = 4
    grid: int = 12

    sources: ClassVar[dict[str, str]] = {
        "n": "ours: Guo et al.'s copy keeps no experiment; the same mixture as the DDPM",
        "width": "ours: small networks on both sides",
        "steps": "ours: steps for the samples to reach the modes; per-draw terms (m x steps b x 4 floats) near 1 GB",
        "b": "ours: a small latent batch per step",
        "queries": "ours: latent queries whose outputs are decomposed",
        "modes": "ours: the DDPM's mixture",
        "spread": "ours: the DDPM's mixture",
        "depth": "ours: the book's three-layer MLP",
        "lr": "ours: a usual Adam rate for small GANs",
        "beta1": "ours: the usual GAN choice of Adam's first moment",
        "phases": "ours: quarters of training",
        "grid": "ours: resolution of the correction field",
    }

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=64, width=32, steps=200, b=32, queries=6)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=256, width=128, steps=3000, b=64, queries=16)


@dataclass
class Result:
    """real (n, 2); latents (m, 2) queries; start, end (m, 2) = G(w_0, z_q), G(w_T, z_q); additivity,
    residual: max |sum c - change| and max |dec.residual| over the N = steps b per-draw contributions
    c_{k,j}(z_q) (computed, not kept: m N 2 numbers); alignment (m,): the
    ||c||-weighted mean cosine between c_{k,j}(z_q) and v_{k,j}; phase_cosine (m, phases): cosine between
    a phase's summed correction of z_q and the summed push at the query's own samples G(w_k, z_q)
    over that phase; field (phases, grid, grid, 2): the contributions to query 0 of each phase's draws
    summed by the cell of their sample x_{k,j} (rows: y, columns: x, over [-extent, extent]^2, samples
    outside counted in the border cells); push_grid (phases, grid, grid, 2): D's push v at the cell
    centres at the end of each phase; losses_g, losses_d (T,)."""

    config: Config
    real: np.ndarray
    latents: np.ndarray
    start: np.ndarray
    end: np.ndarray
    additivity: float
    residual: float
    alignment: np.ndarray
    phase_cosine: np.ndarray
    field: np.ndarray
    push_grid: np.ndarray
    extent: float
    losses_g: np.ndarray
    losses_d: np.ndarray


def discriminator_push(discriminator: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(b, 2): v = sigmoid(-D(x)) grad_x D(x) = -b dL_G/dx for L_G = mean softplus(-D(x))."""
    x = x.detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(F.softplus(-discriminator(x)).sum(), x)
    return -gradient


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    device = check_device(device)
    if config.steps < config.phases:
        raise ValueError(f"steps={config.steps} must be at least phases={config.phases} (every phase needs a step)")
    generator = torch.Generator().manual_seed(seed)
    real = mixture(config.n, config.modes, config.spread, generator).to(device)
    latents = torch.randn(config.queries, 2, generator=generator, dtype=torch.float64).to(device)
    g = MLP(2, config.width, config.depth, out_dim=2, activation="gelu", seed=seed, dtype=torch.float64).to(device)
    d = MLP(2, config.width, config.depth, out_dim=1, activation="gelu", seed=seed + 1, dtype=torch.float64).to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=config.lr, betas=(config.beta1, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=config.lr, betas=(config.beta1, 0.999))
    b = config.b
    rec = Recorder(g, opt_g, torch.zeros(b, 2, dtype=torch.float64, device=device),
                   torch.zeros(b, 2, dtype=torch.float64, device=device), loss="mse", storage="memory")
    extent = float(real.abs().max()) * 1.3
    ticks = torch.linspace(-extent, extent, config.grid + 1, dtype=torch.float64, device=device)
    centers = (ticks[1:] + ticks[:-1]) / 2
    cells = torch.stack(torch.meshgrid(centers, centers, indexing="xy"), dim=-1).reshape(-1, 2)
    samples, pushes, own_push, losses_d, push_grid = [], [], [], [], []
    for k in range(config.steps):
        z = torch.randn(2 * b, 2, generator=generator, dtype=torch.float64).to(device)
        fake = g(z[:b]).detach()
        opt_d.zero_grad()
        loss_d = F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()
        loss_d.backward()
        opt_d.step()
        x = g(z[b:])
        v = discriminator_push(d, x)
        own_push.append(discriminator_push(d, g(latents)))
        opt_g.zero_grad()
        F.softplus(-d(x)).mean().backward()
        opt_g.step()
        rec.step(torch.arange(b), inputs=z[b:], targets=(x + v).detach())
        samples.append(x.detach())
        pushes.append(v)
        losses_d.append(float(loss_d.detach()))
        if (k + 1) * config.phases // config.steps != k * config.phases // config.steps:  # a phase's last step
            push_grid.append(discriminator_push(d, cells).reshape(config.grid, config.grid, 2))
    path = rec.draw_path
    dec = domingos(path, latents, exact=True, per_sample=True, progress_bar=False)
    c, change = dec.per_sample, dec.prediction - dec.initial  # (m, N, 2), (m, 2)
    samples, pushes = torch.cat(samples), torch.cat(pushes)
    step = torch.arange(config.steps, device=device).repeat_interleave(b)
    norm = c.norm(dim=-1)
    cosine = (c * pushes[None]).sum(-1) / (norm * pushes.norm(dim=-1)[None]).clamp_min(1e-300)
    phase = step * config.phases // config.steps
    by_phase = c.new_zeros(c.shape[0], config.phases, 2).index_add_(1, phase, c)
    own = torch.stack(own_push, dim=1)  # (m, T, 2)
    own_phase = own.new_zeros(own.shape[0], config.phases, 2).index_add_(
        1, torch.arange(config.steps, device=device) * config.phases // config.steps, own)
    cell = ((samples + extent) / (2 * extent) * config.grid).long().clamp(0, config.grid - 1)
    flat = phase * config.grid ** 2 + cell[:, 1] * config.grid + cell[:, 0]
    field = c.new_zeros(config.phases * config.grid ** 2, 2).index_add_(0, flat, c[0])
    cpu = lambda t: t.detach().cpu().numpy()  # noqa: E731
    return Result(
        config=config, real=cpu(real), latents=cpu(latents), start=cpu(dec.initial), end=cpu(dec.prediction),
        additivity=float((c.sum(dim=1) - change).abs().max()), residual=float(dec.residual.abs().max()),
        alignment=cpu((cosine * norm).sum(1) / norm.sum(1)),
        phase_cosine=cpu(torch.nn.functional.cosine_similarity(by_phase, own_phase, dim=-1)),
        field=cpu(field.reshape(config.phases, config.grid, config.grid, 2)), push_grid=cpu(torch.stack(push_grid)),
        extent=extent,
        losses_g=np.asarray(rec.losses), losses_d=np.asarray(losses_d),
    )


def numbers(result: Result) -> dict[str, str | int]:
    """The chapter's GAN numbers: sizes, exactness, the alignment of the draws' corrections with the
    discriminator's push, and per phase the cosine of the net correction with the push at the query."""
    c = result.config
    out: dict[str, str | int] = {
        "generative-gan-scale": c.scale, "generative-gan-n": c.n, "generative-gan-width": c.width,
        "generative-gan-steps": c.steps, "generative-gan-b": c.b, "generative-gan-lr": f"{c.lr:g}",
        "generative-gan-queries": c.queries, "generative-gan-draws": c.steps * c.b,
        "generative-gan-additivity": f"{result.additivity:.1e}", "generative-gan-residual": f"{result.residual:.1e}",
        "generative-gan-change": f"{np.abs(result.end - result.start).max():.2f}",
        "generative-gan-alignment": f"{result.alignment.mean():.2f}",
        "generative-gan-alignment-min": f"{result.alignment.min():.2f}",
        "generative-gan-phases": c.phases,
    }
    for p in range(c.phases):
        out[f"generative-gan-phase{p + 1}-cosine"] = f"{result.phase_cosine[:, p].mean():.2f}"
    return out
