"""Figures and the table of the chapter "The linearly separable case" (notebooks/separable.md), drawn from `experiments.separable`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pathkernel.experiments import separable, separable_profile
from pathkernel.plots._declare import figure
from pathkernel.plots._planar import class_points, neighbour_panel, sign_regions, square_axes
from pathkernel.plots._style import PALETTE, style


def _boundary_line(ax, u: np.ndarray) -> None:
    v = np.array([-u[1], u[0]])
    ends = np.outer([-2, 2], v)
    ax.plot(ends[:, 0], ends[:, 1], color="0.35", ls=":", lw=1)


@figure("fig-separable-decision", separable)
def decision(result: separable.Result) -> Figure:
    """Half-plane task (paper Fig. 4): data and the trained network's sign regions."""
    style()
    fig, ax = plt.subplots(figsize=(5.0, 4.6), layout="constrained")
    sign_regions(ax, result.grid_x, result.grid_y, result.grid_network)
    class_points(ax, result.x, result.y)
    _boundary_line(ax, result.direction)
    ax.annotate("", xy=0.5 * result.direction, xytext=(0, 0),
                arrowprops={"arrowstyle": "->", "color": "crimson", "lw": 1.5})
    ax.text(*(0.55 * result.direction), "u", color="crimson", fontsize="small")
    square_axes(ax, 1.0)
    ax.set_title(f"network after {result.config.steps} steps: training accuracy {result.accuracy:.0%}",
                 fontsize="small")
    ax.legend(fontsize="x-small", loc="lower right", framealpha=0.9)
    return fig


@figure("fig-separable-neighbours", separable)
def neighbours(result: separable.Result) -> Figure:
    """Half-plane task (paper Fig. 5): normalized-NTK against Euclidean neighbourhoods, their anisotropy."""
    style()
    q = len(result.queries)
    fig, axes = plt.subplots(2, q, figsize=(2.7 * q, 5.9), layout="constrained", sharex=True, sharey=True)
    rows = ((result.kernel_neighbours[-1], result.query_anisotropy[-1], "normalized NTK"),
            (result.euclidean_neighbours, result.euclidean_query_anisotropy, "Euclidean"))
    for r, (near, spread, who) in enumerate(rows):
        for j in range(q):
            ax = axes[r, j]
            neighbour_panel(ax, result.x, result.y, result.queries[j], near[j], by_label=True)
            _boundary_line(ax, result.direction)
            square_axes(ax, 1.0)
            extra = f"\nJaccard {result.jaccard[j]:.2f}" if r == 1 else ""
            ax.set_title(f"{who}: anisotropy {spread[j]:.1f}{extra}", fontsize="small")
    fig.suptitle(f"the {result.config.k} nearest training points of each query (star)", fontsize="medium")
    return fig


@figure("fig-separable-anisotropy", separable)
def anisotropy(result: separable.Result) -> Figure:
    """Anisotropy of kernel neighbourhoods on a probe grid: stretched along the boundary after training."""
    from matplotlib.colors import LogNorm

    style()
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 4.2), layout="constrained", width_ratios=(1, 1, 1.3))
    top = max(2.0, float(result.probe_anisotropy[-1].max()))
    norm = LogNorm(vmin=1 / top, vmax=top)  # white at 1: isotropic
    p = result.config.probe
    extent = result.config.probe_extent
    for ax, values, title in ((axes[0], result.euclidean_anisotropy, "Euclidean"),
                              (axes[1], result.probe_anisotropy[-1],
                               f"normalized NTK at step {result.snapshot_steps[-1]}")):
        image = ax.imshow(values.reshape(p, p), origin="lower", extent=(-extent, extent, -extent, extent),
                          cmap="RdBu_r", norm=norm, interpolation="nearest")
        _boundary_line(ax, result.direction)
        square_axes(ax, extent)
        ax.grid(False)
        ax.set_title(title, fontsize="small")
    bar = fig.colorbar(image, ax=axes[:2], shrink=0.85, label=f"anisotropy of the {result.config.k} neighbours")
    ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8) if norm.vmin <= t <= norm.vmax]
    bar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
    ax = axes[2]
    ax.scatter(result.probe_offset, result.euclidean_anisotropy, s=10, color="0.5", label="Euclidean")
    for s, (step, name) in enumerate(zip(result.snapshot_steps, ("initialization", "mid-training", "end"))):
        ax.scatter(result.probe_offset, result.probe_anisotropy[s], s=10, color=PALETTE[(2, 4, 3)[s]],
                   label=f"NTK, {name} (step {step})")
    ax.set_yscale("log")
    ax.axhline(1.0, color="0.3", lw=0.8)
    ax.axvspan(-result.config.band, result.config.band, color="0.9", zorder=0)
    ax.set_xlabel("signed distance $\\langle u, q \\rangle$ to the boundary")
    ax.set_ylabel("anisotropy")
    ax.legend(fontsize="x-small", framealpha=0.9)
    return fig


@figure("fig-separable-snapshots", separable)
def snapshots(result: separable.Result) -> Figure:
    """Kernel neighbourhoods at initialization, mid-training and the end, label homogeneity along training."""
    style()
    q = len(result.queries)
    fig = plt.figure(figsize=(2.7 * q + 3.6, 8.2), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=(2.7 * q, 3.6))
    axes = left.subplots(3, q, sharex=True, sharey=True)
    names = ("initialization", "mid-training", "end")
    for s, (step, name) in enumerate(zip(result.snapshot_steps, names)):
        for j in range(q):
            ax = axes[s, j]
            near = result.kernel_neighbours[s, j]
            neighbour_panel(ax, result.x, result.y, result.queries[j], near, by_label=True)
            _boundary_line(ax, result.direction)
            square_axes(ax, 1.0)
            ax.set_title(f"anisotropy {result.query_anisotropy[s, j]:.1f}", fontsize="x-small")
        axes[s, 0].set_ylabel(f"{name} (step {step})\nhomogeneity {result.probe_homogeneity[s].mean():.2f}",
                              fontsize="small")
    top, bottom = right.subplots(2, 1, sharex=True)
    steps = result.checkpoint_steps
    top.plot(steps, result.homogeneity_curve, "o-", color=PALETTE[0], label="NTK, all probes")
    top.plot(steps, result.band_homogeneity_curve, "s-", color=PALETTE[3],
             label=f"NTK, probes with $|\\langle u, q\\rangle| < {result.config.band:g}$")
    top.axhline(result.euclidean_homogeneity.mean(), color=PALETTE[0], ls="--", lw=1, label="Euclidean, all")
    top.axhline(result.euclidean_band_homogeneity, color=PALETTE[3], ls="--", lw=1, label="Euclidean, near")
    top.plot(steps, result.accuracy_curve, "^-", color="0.4", label="training accuracy")
    top.set_ylabel("label homogeneity, accuracy")
    top.legend(fontsize="x-small", framealpha=0.9)
    bottom.plot(steps, result.anisotropy_curve, "o-", color=PALETTE[2], label="NTK (geometric mean)")
    bottom.set_ylabel("anisotropy")
    bottom.axhline(1.0, color="0.3", lw=0.8)
    bottom.set_xlabel("step")
    bottom.legend(fontsize="x-small", framealpha=0.9)
    for ax in (top, bottom):
        for step in result.snapshot_steps:
            ax.axvline(step, color="0.7", ls=":", lw=1)
        ax.tick_params(labelsize="x-small")
    return fig


@figure("fig-separable-profile", separable_profile)
def profile(result: separable_profile.Result) -> Figure:
    """Anisotropy profile across and along the boundary, mean over seeds with a 95% band."""
    style()
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.9), layout="constrained", sharey=True)
    c = result.config
    names = ("NTK, end", "NTK, initialization", "Euclidean")
    for ax, profiles, label in ((axes[0], result.across, "signed distance $\\langle u, q \\rangle$ to the boundary"),
                                (axes[1], result.along, f"position $\\langle v, q \\rangle$ along it ($|\\langle u, q "
                                                        f"\\rangle| < {c.band:g}$)")):
        for seed_profile in profiles[0]:
            ax.plot(result.centres, np.exp(seed_profile), color=PALETTE[3], lw=0.6, alpha=0.35)
        for i, (name, colour, dash) in enumerate(zip(names, (PALETTE[3], PALETTE[2], "0.4"), ("-", "--", ":"))):
            mean, low, high = separable_profile.seed_summary(profiles[i])
            ax.fill_between(result.centres, np.exp(low), np.exp(high), color=colour, alpha=0.25, lw=0)
            ax.plot(result.centres, np.exp(mean), dash, marker="o", ms=3, color=colour, label=name)
        ax.axhline(1.0, color="0.3", lw=0.8)
        ax.set_xlabel(label)
    axes[0].axvspan(-c.band, c.band, color="0.92", zorder=0)
    axes[0].set_yscale("log")
    top = max(2.0, float(np.exp(result.across[0].max())))
    ticks = [t for t in (0.8, 1, 1.5, 2, 3, 4, 6, 8, 12) if t <= top * 1.05]
    axes[0].set_yticks(ticks, labels=[f"{t:g}" for t in ticks])
    axes[0].minorticks_off()
    axes[0].set_ylabel(f"anisotropy of {c.k} neighbours")
    axes[0].legend(fontsize="x-small", framealpha=0.9, title_fontsize="x-small",
                   title=f"{len(result.seeds)} seeds, {separable_profile.LEVEL:.0%} band")
    axes[0].set_title("across the boundary (thin: each seed, NTK at the end)", fontsize="small")
    axes[1].set_title("along the boundary, near it", fontsize="small")
    return fig


def anisotropy_table(result: separable.Result) -> pd.io.formats.style.Styler:
    """Geometric-mean anisotropy of the Euclidean and kernel neighbourhoods (initialization,
    mid-training, end) over all probes, those near the boundary and the others."""
    near = separable.near_boundary(result)
    sets = [result.euclidean_anisotropy, *result.probe_anisotropy]
    band = result.config.band
    return pd.DataFrame({
        "neighbours": ["Euclidean", "NTK, initialization", "NTK, mid-training", "NTK, end"],
        "all probes": [separable.geometric_mean(a) for a in sets],
        f"|u·q| < {band:g}": [separable.geometric_mean(a[near]) for a in sets],
        f"|u·q| ≥ {band:g}": [separable.geometric_mean(a[~near]) for a in sets],
    }).style.hide(axis="index").format(precision=2).set_caption("geometric mean of the anisotropy")
