"""Figures of the chapter "Linear regression, the exact case" (notebooks/linear_regression.md), drawn from `experiments.linear_regression`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pathkernel.experiments import linear_regression
from pathkernel.plots._declare import figure
from pathkernel.plots._style import PALETTE, machine_epsilon, style, ticks_at


@figure("fig-linear-residual", linear_regression)
def residual(result: linear_regression.Result) -> Figure:
    """Remainder of Theorem 2 against lr: round-off for linear regression, O(lr) for a GELU MLP."""
    style()
    fig, ax = plt.subplots(figsize=(6.0, 4.2), layout="constrained")
    lrs = result.lrs
    ax.loglog(lrs, result.residual_mlp, "o-", color=PALETTE[0],
              label=f"GELU MLP, depth {result.config.depth} (slope {result.mlp_slope:.2f} on lr $\\leq$ {result.config.fit_max_lr:g})")
    ax.loglog(lrs, np.maximum(result.residual_linear, 1e-17), "s-", color=PALETTE[2], label="linear model")
    machine_epsilon(ax, label="float64 machine epsilon")
    ax.set_xlabel("learning rate lr (time lr $\\times$ steps fixed)")
    ax.set_ylabel("max$_x$ |remainder $R$|")
    ticks_at(ax.xaxis, lrs)
    ax.set_ylim(1e-17, max(10.0, 5 * result.residual_mlp.max()))
    ax.legend(fontsize="small", loc="center right", framealpha=0.9)
    return fig


@figure("fig-linear-kernels", linear_regression)
def kernels(result: linear_regression.Result) -> Figure:
    """Linear regression: NTK = linear kernel, normalized NTK = cosine, path kernel, kernel machine."""
    style()
    fig, axes = plt.subplots(2, 2, figsize=(8.6, 7.6), layout="constrained")
    panels = [
        (result.linear_kernel, result.ntk, r"$\langle x, x' \rangle + 1$", "tangent kernel $K(x, x')$"),
        (result.cosine, result.ntk_normalized, "cosine similarity of $(x, 1)$, $(x', 1)$ (scikit-learn)",
         r"normalized tangent kernel $\hat K(x, x')$"),
        (result.path_kernel_closed, result.path_kernel, r"$(\sum_k \eta_k)\,(\langle x, x' \rangle + 1)$",
         r"path kernel $K^{\mathrm{path}}(x, x')$"),
        (result.kernel_machine, result.prediction, r"kernel machine $f(w_0, x) - \sum_i a_i K^{\mathrm{path}}(x, x_i)$",
         "trained model $f(w_T, x)$"),
    ]
    for ax, (closed, measured, xlabel, ylabel) in zip(axes.flat, panels):
        closed, measured = closed.ravel(), measured.ravel()
        ax.plot(closed, measured, ".", ms=3, alpha=0.5, color=PALETTE[0], rasterized=True)
        lims = [min(closed.min(), measured.min()), max(closed.max(), measured.max())]
        ax.plot(lims, lims, "-", color="0.3", lw=0.8)
        ax.set_xlabel(xlabel, fontsize="small")
        ax.set_ylabel(ylabel, fontsize="small")
        relative = np.abs(measured - closed).max() / np.abs(closed).max()
        ax.text(0.04, 0.95, f"max |difference| / max |value| = {relative:.1e}", transform=ax.transAxes,
                va="top", fontsize="small", bbox={"facecolor": "white", "edgecolor": "0.8", "alpha": 0.9})
    return fig


def table(result: linear_regression.Result) -> pd.io.formats.style.Styler:
    """Per learning rate: steps, largest remainder and final training loss of both models."""
    frame = pd.DataFrame({
        "lr": result.lrs, "steps": result.steps,
        "max |R|, linear": result.residual_linear, "max |R|, MLP": result.residual_mlp,
        "final loss, linear": result.loss_linear, "final loss, MLP": result.loss_mlp,
    })
    return frame.style.hide(axis="index").format({"lr": "{:g}", "max |R|, linear": "{:.1e}", "max |R|, MLP": "{:.2e}",
                                                  "final loss, linear": "{:.5f}", "final loss, MLP": "{:.5f}"})
