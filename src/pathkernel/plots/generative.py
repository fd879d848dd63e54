"""Figures of the chapter "Diffusion models and GANs in path-kernel form" (notebooks/generative.md),
drawn from `experiments.generative.ddpm` and `experiments.generative.gan`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from pathkernel.experiments.generative import ddpm, gan
from pathkernel.plots._declare import figure
from pathkernel.plots._style import PALETTE, style

LEVEL_NAMES = ("small noise", "large noise")


def _query_map(ax: plt.Axes, result: ddpm.Result, j: int, level: int) -> None:
    """Training points coloured by their share of query j's correction; the query's x_t as a star."""
    share = result.share[j]
    order = np.argsort(share)
    points = ax.scatter(*result.train_x[order].T, c=share[order], cmap="viridis", s=18 + 400 * share[order],
                        edgecolor="k", linewidth=0.3, vmin=0)
    ax.scatter(*result.queries[j, :2], marker="*", s=220, color=PALETTE[3], edgecolor="k", linewidth=0.6,
               label=r"query $x_t$")
    ax.set_aspect("equal")
    ax.set_title(f"{LEVEL_NAMES[level]}, $t = {result.config.levels[level]:g}$", fontsize="medium")
    ax.legend(fontsize="x-small", loc="lower left")
    plt.colorbar(points, ax=ax, shrink=0.7, label=r"share $\|c_i\| / \sum_j \|c_j\|$")


@figure("fig-generative-ddpm-locality", ddpm)
def locality(result: ddpm.Result) -> Figure:
    """Which training points correct the denoiser at a query: their share of the exact decomposition at
    one small-noise and one large-noise query, and against their distance to the query for all queries."""
    style()
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.0), layout="constrained")
    for level in range(2):
        _query_map(axes[level], result, int(np.flatnonzero(result.level == level)[0]), level)
    ax = axes[2]
    for level in range(2):
        rows = result.level == level
        ax.scatter(result.distance[rows].ravel(), result.share[rows].ravel(), s=10, color=PALETTE[level], alpha=0.6,
                   label=f"network, {LEVEL_NAMES[level]}")
        ax.scatter(result.distance[rows].ravel(), result.posterior[rows].ravel(), s=8, marker="x", color=PALETTE[level],
                   alpha=0.35, label=f"ideal denoiser's weight, {LEVEL_NAMES[level]}")
    ax.axhline(1 / result.config.n, color="0.3", ls="--", lw=0.8, label="uniform share $1/n$")
    ax.set_yscale("log")
    ax.set_ylim(1e-4, 1.2)
    ax.set_xlabel(r"distance $\|x_t - \sqrt{\bar\alpha_t}\, x_i\|$")
    ax.set_ylabel("share of the correction")
    ax.legend(fontsize="x-small", loc="lower left")
    return fig


@figure("fig-generative-ddpm-stages", ddpm)
def stages(result: ddpm.Result) -> Figure:
    """Which stage of the noise schedule corrects the denoiser at a query: the share of the net correction
    made by the draws of each noise-level bin, for queries at a small and a large noise level."""
    style()
    fig, ax = plt.subplots(figsize=(6.0, 3.8), layout="constrained")
    c = result.config
    edges = np.linspace(c.t_min, 1, c.bins + 1)
    centers = (edges[1:] + edges[:-1]) / 2
    for level in range(2):
        rows = result.stage[result.level == level]
        ax.plot(centers, rows.mean(axis=0), marker="o", color=PALETTE[level],
                label=f"queries at $t = {c.levels[level]:g}$ ({LEVEL_NAMES[level]})")
        ax.fill_between(centers, rows.min(axis=0), rows.max(axis=0), color=PALETTE[level], alpha=0.15)
        ax.axvline(c.levels[level], color=PALETTE[level], ls=":", lw=1)
    ax.axhline(1 / c.bins, color="0.3", ls="--", lw=0.8, label="equal share per bin")
    ax.set_xlabel("noise level $t$ of the draws")
    ax.set_ylabel(r"share of the net correction $\|\sum_{\mathrm{bin}} c\|$")
    ax.legend(fontsize="small")
    return fig


@figure("fig-generative-gan-corrections", gan)
def corrections(result: gan.Result) -> Figure:
    """The generator's exact corrections: each latent query's sample moved from G(w_0, z) to G(w_T, z), and,
    per phase of training, the corrections of one query made by the draws, summed by where the draws'
    samples lay, over the discriminator's push at the end of the phase."""
    style()
    phases = result.config.phases
    fig, axes = plt.subplots(1, phases + 1, figsize=(3.3 * (phases + 1), 3.6), layout="constrained")
    ax = axes[0]
    ax.scatter(*result.real.T, s=6, color="0.6", label="real data")
    move = result.end - result.start
    ax.quiver(*result.start.T, *move.T, angles="xy", scale_units="xy", scale=1, color=PALETTE[0], width=0.006,
              label=r"$G(w_0, z) \to G(w_T, z)$")
    ax.scatter(*result.start[:1].T, marker="*", s=160, color=PALETTE[3], edgecolor="k", linewidth=0.5, zorder=3)
    ax.set_title("latent queries", fontsize="medium")
    ax.legend(fontsize="x-small", loc="lower left")
    e, g = result.extent, result.config.grid
    centers = -e + (np.arange(g) + 0.5) * 2 * e / g
    cx, cy = np.meshgrid(centers, centers)
    for p in range(phases):
        ax = axes[p + 1]
        ax.scatter(*result.real.T, s=4, color="0.75")
        push = result.push_grid[p]
        length = np.linalg.norm(push, axis=-1, keepdims=True).max()
        ax.quiver(cx, cy, *(push / max(length, 1e-300)).transpose(2, 0, 1), color="0.45", width=0.004,
                  angles="xy", scale_units="xy", scale=g / (2 * e) * 1.2)
        field = result.field[p]
        size = np.linalg.norm(field, axis=-1, keepdims=True).max()
        ax.quiver(cx, cy, *(field / max(size, 1e-300)).transpose(2, 0, 1), color=PALETTE[1], width=0.006,
                  angles="xy", scale_units="xy", scale=g / (2 * e) * 0.8)
        ax.set_title(f"phase {p + 1} of {phases}", fontsize="medium")
    for ax in axes:
        ax.set_aspect("equal")
        ax.set_xlim(-e, e)
        ax.set_ylim(-e, e)
    return fig
