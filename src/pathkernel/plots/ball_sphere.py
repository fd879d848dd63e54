"""Figures and tables of the chapter "Ball versus sphere" (notebooks/ball_sphere.md), drawn from the
studies `experiments.ball_sphere.network` (Figs 1-3) and `experiments.ball_sphere.residual` (the sweep)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pathkernel.experiments import ball_sphere
from pathkernel.plots._declare import figure
from pathkernel.plots._planar import CLASS_COLOURS, class_points, neighbour_panel, sign_regions, square_axes
from pathkernel.plots._style import PALETTE, machine_epsilon, style, ticks_at


def _circles(ax, r2: float) -> None:
    t = np.linspace(0, 2 * np.pi, 200)
    for r in (np.sqrt(r2), 1.0):
        ax.plot(r * np.cos(t), r * np.sin(t), ls=":", color="0.35", lw=0.9)


@figure("fig-ballsphere-decision", ball_sphere.network)
def decision(result: ball_sphere.network.Result) -> Figure:
    """Ball vs sphere (paper Fig. 1): data, the trained network's sign regions, its boundary radius per direction."""
    style()
    fig, (ax, ax_r) = plt.subplots(1, 2, figsize=(10.0, 4.4), layout="constrained", width_ratios=(1, 1.25))
    sign_regions(ax, result.grid_x, result.grid_y, result.grid_network)
    class_points(ax, result.x, result.y)
    _circles(ax, result.config.r2)
    square_axes(ax, result.config.extent)
    ax.set_title(f"network after {result.config.steps} steps: training accuracy {result.accuracy:.0%}",
                 fontsize="small")
    ax.legend(fontsize="x-small", loc="lower right", framealpha=0.9)
    degrees = np.degrees(result.angles)
    ax_r.plot(degrees, result.radius, color="0.2", lw=1.4, label="decision boundary of the network")
    ax_r.axhline(1.0, color=CLASS_COLOURS[1], lw=2, label="sphere (class +1), radius 1")
    ax_r.axhline(np.sqrt(result.config.r2), color=CLASS_COLOURS[-1], lw=2,
                 label=f"edge of the ball (class -1), radius {np.sqrt(result.config.r2):.3f}")
    ax_r.axhline((1 + np.sqrt(result.config.r2)) / 2, color="0.5", ls="--", lw=1, label="midway")
    ax_r.set_xlabel("direction (degrees)")
    ax_r.set_ylabel("radius of the boundary")
    ax_r.set_xlim(0, 360)
    ax_r.set_xticks(range(0, 361, 90))
    ax_r.legend(fontsize="x-small", loc="lower right", framealpha=0.9)
    return fig


@figure("fig-ballsphere-neighbours", ball_sphere.network)
def neighbours(result: ball_sphere.network.Result) -> Figure:
    """Ball vs sphere (paper Fig. 2): k nearest training points under the normalized NTK and in Euclidean distance."""
    style()
    m = len(result.queries)
    fig, axes = plt.subplots(2, m, figsize=(2.7 * m, 5.9), layout="constrained", sharex=True, sharey=True)
    for j, t in enumerate(result.config.ts):
        for r, (near, who) in enumerate(((result.kernel_neighbours[j], "normalized NTK"),
                                         (result.euclidean_neighbours[j], "Euclidean"))):
            ax = axes[r, j]
            neighbour_panel(ax, result.x, result.y, result.queries[j], near, by_label=True)
            _circles(ax, result.config.r2)
            square_axes(ax, 1.5)
            title = f"t = {t:g}\n{who}" if r == 0 else f"{who}\nJaccard {result.jaccard[j]:.2f}"
            ax.set_title(title, fontsize="small")
    fig.suptitle(f"the {result.config.k} nearest training points of x = t u (star)", fontsize="medium")
    return fig


@figure("fig-ballsphere-svm", ball_sphere.network)
def svm(result: ball_sphere.network.Result) -> Figure:
    """Ball vs sphere (paper Fig. 3): linear SVM on the tangent features against the network."""
    style()
    fig, axes = plt.subplots(1, 3, figsize=(12.0, 4.3), layout="constrained", sharex=True, sharey=True)
    panels = ((result.grid_network, f"network: training accuracy {result.accuracy:.0%}"),
              (result.grid_svm, f"SVM on tangent features: training accuracy {result.svm_accuracy:.0%}"))
    for ax, (values, title) in zip(axes, panels):
        sign_regions(ax, result.grid_x, result.grid_y, values)
        class_points(ax, result.x, result.y, size=8)
        ax.set_title(title, fontsize="small")
    ax = axes[2]
    sign_regions(ax, result.grid_x, result.grid_y, result.grid_network, shade=False)
    sign_regions(ax, result.grid_x, result.grid_y, result.grid_svm, line_colour="crimson", shade=False)
    class_points(ax, result.x, result.y, size=6, alpha=0.5)
    ax.set_title(f"boundaries: network (black), SVM (red)\nsame sign on {result.agreement:.0%} of the box",
                 fontsize="small")
    for ax in axes:
        square_axes(ax, result.config.extent)
    return fig


@figure("fig-ballsphere-residual", ball_sphere.residual)
def residual(result: ball_sphere.residual.Result) -> Figure:
    """Remainder of Domingos' discrete formula and of the exact form against lr, width and steps."""
    style()
    c = result.config
    fig, axes = plt.subplots(1, 3, figsize=(12.0, 4.0), layout="constrained", sharey=True)
    sweeps = (("learning rate lr", c.sweep_lrs, result.residual_lr, result.residual_lr_exact, c.base_lr),
              ("width", c.sweep_widths, result.residual_width, result.residual_width_exact, c.base_width),
              ("number of steps T", c.sweep_steps, result.residual_steps, result.residual_steps_exact, c.base_steps))
    floor = 1e-17
    for ax, (name, values, plain, exact, base) in zip(axes, sweeps):
        values = np.asarray(values, dtype=float)
        ax.loglog(values, plain, "o-", color=PALETTE[0], label="Theorem 2 (tangent kernel at $w_k$)")
        ax.loglog(values, np.maximum(exact, floor), "s-", color=PALETTE[2], label="exact (segment-averaged kernel)")
        ax.axvline(base, color="0.6", ls="--", lw=1)
        machine_epsilon(ax, label="float64 machine epsilon")
        ax.set_xlabel(name)
        ticks_at(ax.xaxis, values)
        ax.tick_params(labelsize="x-small")
    axes[0].set_ylabel("max$_x$ |residual|")
    axes[0].legend(fontsize="x-small", loc="center left", framealpha=0.9)
    fig.suptitle(f"base: lr = {c.base_lr:g}, width {c.base_width}, T = {c.base_steps} (dashed); "
                 f"{c.sweep_n} training points, {c.n_query} queries", fontsize="small")
    return fig


def neighbours_table(result: ball_sphere.network.Result) -> pd.io.formats.style.Styler:
    """Per query t u: t, its norm and the Jaccard index of its kernel and Euclidean neighbour sets."""
    return pd.DataFrame({"t": result.config.ts, "||x||": np.linalg.norm(result.queries, axis=1),
                         "Jaccard(NTK, Euclidean)": result.jaccard}).style.hide(axis="index").format(precision=2)


def residual_table(result: ball_sphere.residual.Result) -> pd.io.formats.style.Styler:
    """The learning-rate sweep: largest remainder of Theorem 2 and of the exact form, final training loss."""
    return pd.DataFrame({"lr": result.config.sweep_lrs, "max |R|": result.residual_lr,
                         "max |R| exact": result.residual_lr_exact,
                         "final loss": result.sweep_loss_lr}).style.hide(axis="index").format("{:.2e}")
