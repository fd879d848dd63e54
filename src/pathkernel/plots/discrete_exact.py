"""Figures and tables of the chapter "Domingos' theorem, discrete and exact" (notebooks/discrete_exact.md),
drawn from its two studies, `experiments.discrete_exact.theorem` and `experiments.discrete_exact.vector_outputs`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pathkernel.experiments import discrete_exact
from pathkernel.plots._declare import figure
from pathkernel.plots._style import PALETTE, machine_epsilon, style, ticks_at


@figure("fig-discrete-residual-lr", discrete_exact.theorem)
def residual_lr(result: discrete_exact.theorem.Result) -> Figure:
    """Remainder of the discrete Domingos theorem against lr at fixed time, and of the exact form."""
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
    machine_epsilon(ax, label="float64 machine epsilon")
    ax.set_xlabel("learning rate lr (time lr $\\times$ steps fixed)")
    ax.set_ylabel("max$_x$ |residual|")
    ticks_at(ax.xaxis, lrs)
    ax.legend(fontsize="small", loc="center", framealpha=0.9)
    return fig


def residual_table(result: discrete_exact.theorem.Result) -> pd.io.formats.style.Styler:
    """Per learning rate: steps, final loss, largest remainder of Theorem 2 and of the exact form, largest |f|."""
    frame = pd.DataFrame({
        "lr": result.lrs,
        "steps": result.steps,
        "final loss": result.final_loss,
        "max |R|, Theorem 2": result.residual,
        "max |R|, exact": result.residual_exact,
        "max |f|": result.prediction_max,
    })
    return frame.style.hide(axis="index").format({"lr": "{:g}", "final loss": "{:.4f}", "max |R|, Theorem 2": "{:.2e}",
                                                  "max |R|, exact": "{:.1e}", "max |f|": "{:.2f}"})


@figure("fig-discrete-vector-outputs", discrete_exact.vector_outputs)
def vector_outputs(result: discrete_exact.vector_outputs.Result) -> Figure:
    """Theorem 3 on three rings (3 logits, cross-entropy): remainder per output against lr, exact form.

    The markers of the c outputs are dodged horizontally (by a factor 1.06 per output) so that
    equal values stay visible.
    """
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.6), layout="constrained",
                                      gridspec_kw={"width_ratios": [1, 1.35]})
    classes = result.residual.shape[1]
    colours = [PALETTE[a] for a in range(classes)]
    markers = ["o", "^", "D", "v", "P"]
    left.contourf(result.grid_x, result.grid_y, result.grid_class, levels=np.arange(classes + 1) - 0.5,
                  colors=colours, alpha=0.25)
    for a in range(classes):
        mask = result.y == a
        left.scatter(result.x[mask, 0], result.x[mask, 1], s=20, color=colours[a], marker=markers[a % 5],
                     edgecolors="0.2", linewidths=0.4, label=f"class {a}")
    left.set(aspect="equal", xlabel="$x_1$", ylabel="$x_2$")
    left.set_title(f"(a) data, argmax regions (lr = {result.lrs[-1]:g})\n"
                   f"training accuracy {result.train_accuracy[-1]:.0%}", loc="left", fontsize="medium")
    left.legend(fontsize="small", loc="upper right", framealpha=0.9)
    lrs = result.lrs
    grid = np.geomspace(lrs.min(), lrs.max(), 20)
    dodge = [lrs * 1.06 ** (a - (classes - 1) / 2) for a in range(classes)]
    for a in range(classes):
        right.loglog(dodge[a], result.residual[:, a], markers[a % 5], color=colours[a], alpha=0.85,
                     label=f"output {a}, Theorem 3: slope {result.slopes[a]:.2f}")
        right.loglog(grid, np.exp(result.intercepts[a]) * grid**result.slopes[a], "-", color=colours[a], alpha=0.6)
    for a in range(classes):
        right.loglog(dodge[a], np.maximum(result.residual_exact[:, a], 1e-17), markers[a % 5], color=colours[a],
                     mfc="white", label=f"output {a}, exact form")
    machine_epsilon(right, label="float64 machine epsilon")
    right.set_xlabel("learning rate lr (time lr $\\times$ steps fixed)")
    right.set_ylabel("max$_x$ |R$_a$| (output a)")
    ticks_at(right.xaxis, lrs)
    right.set_title("(b) remainder of each output\n(filled: Theorem 3, hollow: exact form)", loc="left",
                    fontsize="medium")
    right.legend(fontsize="small", loc="center right", framealpha=0.9)
    return fig


def vector_outputs_table(result: discrete_exact.vector_outputs.Result) -> pd.io.formats.style.Styler:
    """Per learning rate: steps, final loss, training accuracy, largest remainder of each output
    (Theorem 3) and of the exact form over all outputs."""
    remainders = {f"max |R_{a}|": result.residual[:, a] for a in range(result.residual.shape[1])}
    frame = pd.DataFrame({
        "lr": result.lrs,
        "steps": result.steps,
        "final loss": result.final_loss,
        "training accuracy": result.train_accuracy,
        **remainders,
        "max |R|, exact": result.residual_exact.max(1),
    })
    return frame.style.hide(axis="index").format({"lr": "{:g}", "final loss": "{:.4f}", "training accuracy": "{:.0%}",
                                                  **{name: "{:.2e}" for name in remainders}, "max |R|, exact": "{:.0e}"})
