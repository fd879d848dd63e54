"""Figures and tables of the chapter "Domingos' theorem (gradient flow)" (notebooks/gradient_flow.md), drawn from `experiments.gradient_flow`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pathkernel.experiments import gradient_flow
from pathkernel.plots._declare import figure
from pathkernel.plots._style import PALETTE, style, ticks_at


@figure("fig-gradientflow-convergence", gradient_flow)
def convergence(result: gradient_flow.Result) -> Figure:
    """Gradient descent against the gradient flow (scipy solve_ivp) at fixed time: O(lr) distance, Theorem 1 on the flow."""
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.2), layout="constrained")
    for k, lr in enumerate(result.lrs):
        left.semilogy(result.times[1:], result.gap_over_time[k, 1:], color=PALETTE[k % len(PALETTE)],
                      label=f"lr = {lr:g}")
    left.set_xlabel("time $t = k \\times$ lr")
    left.set_ylabel("max$_x$ |f(w$_k$, x) $-$ f(w(t), x)|")
    left.set_title("(a) gradient descent against the flow", loc="left", fontsize="medium")
    left.legend(fontsize="small", loc="lower right")
    lrs = result.lrs
    right.loglog(lrs, result.gap, "o", color=PALETTE[0], label="gradient descent vs flow at time $t$")
    grid = np.geomspace(lrs.min(), lrs.max(), 20)
    right.loglog(grid, np.exp(result.intercept) * grid**result.slope, "-", color=PALETTE[0], alpha=0.7,
                 label=f"fit: slope {result.slope:.2f}")
    right.axhline(result.flow_residual, color=PALETTE[2], ls="--",
                  label="Theorem 1 on the flow:\n|f(w(t), x) $-$ f(w(0), x) $-$ kernel part|")
    right.set_xlabel(f"learning rate lr (time t = {result.config.time:g} fixed)")
    right.set_ylabel("max$_x$ |difference|")
    ticks_at(right.xaxis, lrs)
    right.set_title("(b) at the final time $t$", loc="left", fontsize="medium")
    right.legend(fontsize="small", loc="center right", framealpha=0.9)
    return fig


def table(result: gradient_flow.Result) -> pd.io.formats.style.Styler:
    """Per learning rate: steps, final loss, training accuracy and largest distance to the flow at time t."""
    frame = pd.DataFrame({
        "lr": result.lrs,
        "steps": result.steps,
        "final loss": result.final_loss,
        "training accuracy": result.train_accuracy,
        "max |f_GD - f_flow|": result.gap,
    })
    return frame.style.hide(axis="index").format({"lr": "{:g}", "final loss": "{:.4f}", "training accuracy": "{:.0%}",
                                                  "max |f_GD - f_flow|": "{:.2e}"})


@figure("fig-gradientflow-contributions", gradient_flow)
def contributions(result: gradient_flow.Result) -> Figure:
    """Path kernel, weights a_i and per-training-point contributions to three predictions (ball/sphere).

    One column per query point (the star). Rows 1-3 draw the training points in the plane
    (circles: ball, label -1; squares: sphere, label +1) coloured by K^path(x, x_i), a_i(x) and
    the contribution -a_i(x) K^path(x, x_i), each panel on its own colour scale (diverging around
    0 for a_i and the contributions); row 4 shows the contributions as bars, ball points then
    sphere points, each class in angular order. `result` is a
    `pathkernel.experiments.gradient_flow.Result`.
    """
    style()
    rows = [("path kernel $K^{path}(x, x_i)$", result.path_kernel, "mako", False),
            ("weight $a_i(x)$", result.weights, "vlag", True),
            ("contribution $-a_i K^{path}$", result.per_sample, "vlag", True)]
    m = result.queries.shape[0]
    fig, axes = plt.subplots(4, m, figsize=(3.9 * m, 13.0), layout="constrained", squeeze=False,
                             gridspec_kw={"height_ratios": [1, 1, 1, 0.8]})
    sphere = result.y > 0
    order = np.lexsort((np.arctan2(result.x[:, 1], result.x[:, 0]), sphere))
    for j in range(m):
        for r, (label, values, cmap, centred) in enumerate(rows):
            ax = axes[r, j]
            top = np.abs(values[j]).max()
            limits = dict(vmin=-top, vmax=top) if centred else dict(vmin=values[j].min(), vmax=top)
            for mask, marker in ((~sphere, "o"), (sphere, "s")):
                points = ax.scatter(result.x[mask, 0], result.x[mask, 1], c=values[j, mask], cmap=cmap, s=26,
                                    marker=marker, edgecolors="0.3", linewidths=0.4, **limits)
            ax.plot(*result.queries[j], "*", color="gold", markersize=16, markeredgecolor="black")
            ax.set(aspect="equal", xlim=(-1.6, 1.6), ylim=(-1.6, 1.6))
            ax.tick_params(labelsize="x-small")
            fig.colorbar(points, ax=ax, shrink=0.8).ax.tick_params(labelsize="x-small")
            if j == 0:
                ax.set_ylabel(label)
        change = result.prediction[j] - result.initial[j]
        axes[0, j].set_title(f"query x = ({result.queries[j, 0]:g}, {result.queries[j, 1]:g})\n"
                             f"f(w$_T$, x) $-$ f(w$_0$, x) = {change:+.3f}", fontsize="medium")
        bars = axes[3, j]
        colours = np.where(sphere[order], 1, 0)
        bars.bar(np.arange(len(order)), result.per_sample[j, order], width=1.0,
                 color=[PALETTE[c] for c in colours])
        ball_sum, sphere_sum = result.per_sample[j, ~sphere].sum(), result.per_sample[j, sphere].sum()
        bars.text(0.02, 0.97, f"ball: {ball_sum:+.3f}\nsphere: {sphere_sum:+.3f}\nsum: {ball_sum + sphere_sum:+.3f}",
                  transform=bars.transAxes, va="top", fontsize="x-small",
                  bbox={"facecolor": "white", "edgecolor": "0.8", "alpha": 0.9})
        bars.axvline((~sphere).sum() - 0.5, color="0.4", lw=0.8, ls=":")
        bars.set_xlabel("training point (ball | sphere)", fontsize="small")
        bars.set_xticks([])
        bars.tick_params(labelsize="x-small")
        if j == 0:
            bars.set_ylabel("contribution")
    return fig


def contributions_table(result: gradient_flow.Result) -> pd.DataFrame:
    """Per query point: the change of the prediction, the sum of the contributions c_i (all, over the
    ball, over the sphere), the sum of their absolute values, and the same change and sum on the flow."""
    ball = result.y < 0
    return pd.DataFrame({
        "query": [f"({a:g}, {b:g})" for a, b in result.queries],
        "f(w_T, x) - f(w_0, x)": result.prediction - result.initial,
        "sum_i c_i": result.per_sample.sum(1),
        "sum over ball": result.per_sample[:, ball].sum(1),
        "sum over sphere": result.per_sample[:, ~ball].sum(1),
        "sum_i |c_i|": np.abs(result.per_sample).sum(1),
        "flow: f(w(t), x) - f(w_0, x)": result.prediction_flow - result.initial,
        "flow: sum_i c_i": result.per_sample_flow.sum(1),
    }).round(4)
