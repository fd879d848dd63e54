"""Figures and the table of the chapter "Neural networks and kernel machines" (notebooks/kernel_machines.md), drawn from `experiments.kernel_machines`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from pathkernel.experiments import kernel_machines
from pathkernel.plots._declare import figure
from pathkernel.plots._style import PALETTE, style


@figure("fig-kernelmachines-features", kernel_machines)
def features(result: kernel_machines.Result) -> Figure:
    """Random Fourier features of the RBF kernel: Gram entries and RMS error against the number of features."""
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.2), layout="constrained")
    for k, count in enumerate(result.rff_shown):
        left.plot(result.rff_kernel, result.rff_gram[k], ".", ms=2, alpha=0.5, color=PALETTE[k],
                  label=f"D = {count:,}", rasterized=True)
    left.plot([0, 1], [0, 1], "-", color="0.3", lw=1)
    left.set_xlabel("RBF kernel $K(x, x')$")
    left.set_ylabel(r"$\langle z(x), z(x') \rangle$ (random Fourier features)")
    left.legend(fontsize="small", loc="upper left", markerscale=5)
    counts = np.asarray(result.config.feature_counts)
    mean = result.rff_error.mean(1)
    right.loglog(counts, result.rff_error, ".", color=PALETTE[0], alpha=0.3)
    right.loglog(counts, mean, "o", color=PALETTE[0], label=f"mean of {result.rff_error.shape[1]} draws")
    fit = np.exp(result.rff_intercept) * counts**result.rff_slope
    right.loglog(counts, fit, "-", color=PALETTE[1], label=f"fit: slope {result.rff_slope:.2f}")
    right.set_xlabel("number of features D")
    right.set_ylabel("RMS error of the Gram matrix")
    right.xaxis.set_minor_formatter(NullFormatter())
    right.legend(fontsize="small", loc="upper right")
    return fig


@figure("fig-kernelmachines-svm", kernel_machines)
def svm(result: kernel_machines.Result) -> Figure:
    """RBF SVM on the ball/sphere task: decision function rebuilt from dual coefficients, support vectors."""
    style()
    fig, ax = plt.subplots(figsize=(6.4, 5.4), layout="constrained")
    gx, gy = result.grid_x[..., 0], result.grid_x[..., 1]
    bound = np.ceil(np.abs(result.decision).max())
    mesh = ax.contourf(gx, gy, result.decision, levels=np.linspace(-bound, bound, 21), cmap="RdBu_r", alpha=0.75)
    ax.contour(gx, gy, result.decision, levels=[-1, 0, 1], colors="k", linestyles=["--", "-", "--"], linewidths=1)
    for label, color, marker, name in [(-1, PALETTE[0], "o", "ball ($y = -1$)"), (1, PALETTE[3], "^", "sphere ($y = +1$)")]:
        mine = result.y == label
        ax.scatter(*result.x[mine].T, s=22, color=color, marker=marker, edgecolor="k", linewidth=0.5, label=name, zorder=3)
    ax.scatter(*result.x[result.support].T, s=110, facecolor="none", edgecolor="k", linewidth=1.1,
               label=f"support vectors ({len(result.support)})", zorder=4)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.grid(False)
    fig.colorbar(mesh, ax=ax, label=r"decision function $\sum_i a_i K(x, x_i) + b$", ticks=np.arange(-bound, bound + 1))
    fig.legend(loc="outside lower center", ncol=3, fontsize="small", frameon=False)
    return fig


def table(result: kernel_machines.Result) -> pd.io.formats.style.Styler:
    """Explicit polynomial features: per degree, their number and their Gram matrix's largest error."""
    return pd.DataFrame({"degree p": result.config.degrees, "features": result.poly_dims,
                         "max |Phi Phi^T - K| / max |K|": result.poly_error}).style.hide(axis="index").format(precision=1)
