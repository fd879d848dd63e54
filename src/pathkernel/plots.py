"""Figure helpers: one style, no computation (they draw experiment results)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

PALETTE = sns.color_palette("colorblind")


def style() -> None:
    """The book's plotting style (seaborn whitegrid, colorblind palette)."""
    sns.set_theme(style="whitegrid", palette="colorblind", context="notebook")


def residual_vs_lr(result) -> Figure:
    """Log-log |residual| of Theorem 2 and of the exact form against the learning rate.

    `result` is a `pathkernel.experiments.discrete_theorem.Result`.
    """
    style()
    fig, ax = plt.subplots(figsize=(6.0, 4.2), layout="constrained")
    lrs = result.lrs
    ax.loglog(lrs, result.residual, "o", color=PALETTE[0], label="Theorem 2 (tangent kernel at $w_k$)")
    fitted = lrs <= result.config.fit_max_lr
    grid = np.geomspace(lrs[fitted].min(), lrs[fitted].max(), 20)
    ax.loglog(grid, np.exp(result.intercept) * grid**result.slope, "-", color=PALETTE[0], alpha=0.7,
              label=f"fit on lr $\\leq$ {result.config.fit_max_lr:g}: slope {result.slope:.2f}")
    ax.loglog(lrs, np.maximum(result.residual_exact, 1e-17), "s", color=PALETTE[2],
              label="exact (segment-averaged kernel)")
    ax.axhline(np.finfo(np.float64).eps, color="0.5", ls=":", lw=1, label="float64 machine epsilon")
    ax.set_xlabel("learning rate lr (time lr $\\times$ steps fixed)")
    ax.set_ylabel("max$_x$ |residual|")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(lrs, labels=[f"{lr:g}" for lr in lrs])
    ax.legend(fontsize="small", loc="center", framealpha=0.9)
    return fig
