"""Figures of the chapter "The kernel regime: lazy training, output scaling and the infinite-width NTK"
(notebooks/kernel_regime.md), drawn from the studies of `experiments.kernel_regime`: `lazy_training`,
`output_scale` and `ntk_limit` (imported as `limit_study`: `ntk_limit` here names the figure
fig-kernelregime-ntk-limit)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from pathkernel.experiments.kernel_regime import lazy_training, output_scale
from pathkernel.experiments.kernel_regime import ntk_limit as limit_study
from pathkernel.plots._declare import figure
from pathkernel.plots._style import PALETTE, style, ticks_at


def _kernelregime_fit(ax, xs, slope: float, intercept: float, colour, label: str) -> None:
    grid = np.geomspace(np.min(xs), np.max(xs), 20)
    ax.loglog(grid, np.exp(intercept) * grid**slope, "-", color=colour, alpha=0.6, lw=1.2, label=label)


@figure("fig-kernelregime-functions", lazy_training)
def functions(result: lazy_training.Result) -> Figure:
    """Random 2-hidden-layer ReLU networks of a 1D input, and trained ones beside their linearization.

    Top row: `n_functions` initializations per width. Bottom row: each seed's trained network
    (solid) and trained linearization (dashed) on the training points. `result` is a
    `pathkernel.experiments.lazy_training.Result`.
    """
    style()
    widths = result.config.function_widths
    fig, axes = plt.subplots(2, len(widths), figsize=(3.7 * len(widths), 6.0), layout="constrained",
                             sharex=True, sharey="row", squeeze=False)
    for j, width in enumerate(widths):
        top, bottom = axes[0, j], axes[1, j]
        top.plot(result.grid, result.functions[j].T, color=PALETTE[0], lw=0.7, alpha=0.45)
        top.set_title(f"width {width}: {result.functions.shape[1]} initializations", fontsize="medium")
        for s in range(result.trained.shape[1]):
            bottom.plot(result.grid, result.trained[j, s], color=PALETTE[s % len(PALETTE)], lw=1.4,
                        label="network" if s == 0 else None)
            bottom.plot(result.grid, result.trained_linear[j, s], "--", color="0.15", lw=1.0,
                        label="linearization" if s == 0 else None)
        bottom.plot(result.x, result.y, "o", color="black", ms=6, zorder=5, label="training points")
        bottom.set_title(f"width {width}: trained ({result.trained.shape[1]} seeds)", fontsize="medium")
        bottom.set_xlabel("input x")
    axes[0, 0].set_ylabel("f(w$_0$, x)")
    axes[1, 0].set_ylabel("f(w$_T$, x)")
    axes[1, 0].legend(fontsize="small", loc="lower left")
    return fig


@figure("fig-kernelregime-weight-change", lazy_training)
def weight_change(result: lazy_training.Result) -> Figure:
    """Lazy training: relative weight change ||w_T - w_0|| / ||w_0|| against width, fitted power law."""
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 4.2), layout="constrained")
    colours = sns.color_palette("viridis", len(result.config.widths))
    for i, width in enumerate(result.config.widths):
        left.semilogy(result.times[1:], result.weight_change[i, :, 1:].mean(0), color=colours[i], label=f"m = {width}")
    left.set(xlabel="time t = lr $\\times$ step", ylabel="$\\|w_k - w_0\\| \\,/\\, \\|w_0\\|$")
    left.set_title("(a) along training (mean over seeds)", loc="left", fontsize="medium")
    left.legend(fontsize="small", ncol=2)
    widths = np.asarray(result.config.widths, dtype=float)
    final = result.weight_change[:, :, -1]
    for s in range(final.shape[1]):
        right.loglog(widths, final[:, s], "o", color=PALETTE[0], alpha=0.4, ms=4, label="one seed" if s == 0 else None)
    right.loglog(widths, final.mean(1), "s", color=PALETTE[0], label="mean over seeds")
    _kernelregime_fit(right, widths, result.weight_slope, result.weight_intercept, PALETTE[0],
                      f"fit: slope {result.weight_slope:.2f}")
    right.set(xlabel="width m", ylabel="$\\|w_T - w_0\\| \\,/\\, \\|w_0\\|$")
    right.set_title(f"(b) after training (t = {result.times[-1]:g})", loc="left", fontsize="medium")
    right.legend(fontsize="small")
    return fig


@figure("fig-kernelregime-linearization", lazy_training)
def linearization(result: lazy_training.Result) -> Figure:
    """Distance between the network and its linearization against width and output scale alpha, kappa.

    The inverse relative scale kappa of Chizat & Bach is drawn beside the final distances.
    `result` is a `pathkernel.experiments.lazy_training.Result`.
    """
    style()
    fig, axes = plt.subplots(1, 3, figsize=(15.0, 4.3), layout="constrained")
    colours = sns.color_palette("viridis", len(result.config.widths))
    for i, width in enumerate(result.config.widths):
        axes[0].semilogy(result.times[1:], result.distance[i, :, 1:].mean(0), color=colours[i], label=f"m = {width}")
    axes[0].set(xlabel="time t = lr $\\times$ step", ylabel="RMS$_x$ |f(w$_k$, x) $-$ f$_{lin}$(w$_k$, x)|")
    axes[0].set_title("(a) network vs linearization along training", loc="left", fontsize="medium")
    axes[0].set_ylim(bottom=0.2 * result.distance[:, :, 1:].mean(1).min())  # room for the legend below
    axes[0].legend(fontsize="small", ncol=3, loc="lower right")
    widths = np.asarray(result.config.widths, dtype=float)
    final = result.distance[:, :, -1]
    ax = axes[1]
    for s in range(final.shape[1]):
        ax.loglog(widths, final[:, s], "o", color=PALETTE[0], alpha=0.4, ms=4,
                  label="distance, one seed" if s == 0 else None)
    ax.loglog(widths, final.mean(1), "s", color=PALETTE[0], label="distance, mean")
    _kernelregime_fit(ax, widths, result.distance_slope, result.distance_intercept, PALETTE[0],
                      f"fit: slope {result.distance_slope:.2f}")
    ax.loglog(widths, result.kappa, "^", color=PALETTE[3], label="$\\kappa(w_0)$ (seed 0)")
    ax.set(xlabel="width m", ylabel="distance (RMS) and $\\kappa$")
    ax.set_title("(b) at the end, against the width", loc="left", fontsize="medium")
    ax.legend(fontsize="small")
    ax = axes[2]
    alphas = np.asarray(result.config.alphas)
    ax.loglog(alphas, result.alpha_distance[:, -1], "s", color=PALETTE[2], label="distance")
    large = alphas >= 1
    _kernelregime_fit(ax, alphas[large], result.alpha_slope, result.alpha_intercept, PALETTE[2],
                      f"fit on $\\alpha \\geq 1$: slope {result.alpha_slope:.2f}")
    ax.loglog(alphas, result.alpha_kappa, "^", color=PALETTE[3], label="$\\kappa_\\alpha(w_0)$")
    ax.set(xlabel="output scale $\\alpha$ (step lr / $\\alpha^2$)", ylabel="distance (RMS) and $\\kappa$")
    ax.set_title(f"(c) at the end, against $\\alpha$ (m = {result.config.alpha_width})", loc="left", fontsize="medium")
    ax.legend(fontsize="small")
    return fig


@figure("fig-kernelregime-toy", output_scale)
def toy(result: output_scale.Result) -> Figure:
    """The blog's 1-parameter model: alpha f against its tangent line, normalized loss surfaces."""
    style()
    config = result.config
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.3), layout="constrained")
    colours = sns.color_palette("rocket_r", len(config.toy_alphas) + 1)[1:]
    for a, alpha in enumerate(config.toy_alphas):
        left.plot(result.toy_w, result.toy_f[a], color=colours[a], label=f"$\\alpha$ = {alpha:g}")
        left.plot(result.toy_w, result.toy_linear[a], "--", color=colours[a], lw=1)
        right.plot(result.toy_w, result.toy_loss[a], color=colours[a], label=f"$\\alpha$ = {alpha:g}")
        right.plot(result.toy_w, result.toy_loss_linear[a], "--", color=colours[a], lw=1)
        right.plot(result.toy_minimum[a], 0, "o", color=colours[a], ms=6)
        right.plot(result.toy_minimum_linear[a], 0, "x", color=colours[a], ms=7)
    for ax in (left, right):
        ax.axvline(0.4, color="0.5", ls=":", lw=1)
        ax.set_xlabel("weight w ($w_0$ = 0.4 dotted)")
    left.axhline(config.toy_target, color="0.3", lw=0.8, ls="-.", label=f"target $\\bar y$ = {config.toy_target:g}")
    left.set_ylim(-2.5, 2.5)
    left.set_ylabel(f"$\\alpha$ f(x = {config.toy_x:g}, w)   (dashed: tangent line)")
    left.set_title("(a) the scaled model and its linearization", loc="left", fontsize="medium")
    left.legend(fontsize="small", loc="lower right")
    right.set_ylim(-0.02, 0.6)
    right.set_ylabel("($\\alpha$ f $-$ $\\bar y$)$^2$ / (2 $\\alpha^2$)   (dashed: linearized)")
    right.set_title("(b) normalized losses; minima: o model, x linearized", loc="left", fontsize="medium")
    right.legend(fontsize="small", loc="upper right")
    return fig


def _kernelregime_ellipse(centre: np.ndarray, kernel: np.ndarray, level: float) -> np.ndarray:
    """Points (200, 2) of {u : (u - centre)^T kernel (u - centre) = level}."""
    values, vectors = np.linalg.eigh(kernel)
    angle = np.linspace(0, 2 * np.pi, 200)
    unit = np.stack([np.cos(angle), np.sin(angle)], 1) * np.sqrt(level / values)
    return centre + unit @ vectors.T


@figure("fig-kernelregime-ellipses", output_scale)
def ellipses(result: output_scale.Result) -> Figure:
    """Two data points: the 2x2 tangent kernel as an ellipse along training for several alpha, outputs.

    Each ellipse is the level set through the starting point of the quadratic
    (u - y)^T K_{w_k} (u - y), coloured by training time; solid: the outputs f(w_k, X); dashed:
    the kernel-regime ODE with K_{w_0}. `result` is a `pathkernel.experiments.output_scale.Result`.
    """
    style()
    alphas = result.config.alphas
    fig, axes = plt.subplots(1, len(alphas), figsize=(3.2 * len(alphas), 3.9), layout="constrained",
                             sharex=True, sharey=True, squeeze=False)
    colours = sns.color_palette("viridis", len(result.kernel_steps))
    level = float(result.y @ result.kernels[0, 0] @ result.y)
    for a, alpha in enumerate(alphas):
        ax = axes[0, a]
        for c, step in enumerate(result.kernel_steps):
            points = _kernelregime_ellipse(result.y, result.kernels[a, c], level)
            ax.plot(points[:, 0], points[:, 1], color=colours[c], lw=1.1,
                    label=f"t = {result.times[step]:g}" if a == 0 else None)
        ax.plot(result.outputs[a, :, 0], result.outputs[a, :, 1], color="crimson", lw=1.6,
                label="outputs f(w$_k$, X)" if a == 0 else None)
        ax.plot(result.ode[:, 0] + result.y[0], result.ode[:, 1] + result.y[1], "--", color="black", lw=1.1,
                label="ODE, fixed K$_{w_0}$" if a == 0 else None)
        ax.plot(*result.y, "*", color="black", ms=10)
        ax.plot(0, 0, "o", color="crimson", ms=4)
        ax.set_aspect("equal")
        ax.set_title(f"$\\alpha$ = {alpha:g}: $\\|K_T - K_0\\| / \\|K_0\\|$ = {result.kernel_change[a]:.1%}",
                     fontsize="small")
        ax.set_xlabel("output at $x_1$")
    axes[0, 0].set_ylabel("output at $x_2$")
    fig.legend(loc="outside lower center", ncol=len(result.kernel_steps) + 2, fontsize="small", frameon=False)
    return fig


@figure("fig-kernelregime-ode", output_scale)
def ode(result: output_scale.Result) -> Figure:
    """Kernel-regime ODE u(t) = exp(-t K0 / n) u(0) (scipy expm) against the real trajectory, gap vs alpha."""
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.2), layout="constrained")
    alphas = np.asarray(result.config.alphas)
    residuals = result.outputs - result.y
    for a, ls in ((0, "-"), (len(alphas) - 1, "-.")):
        for i in range(2):
            left.plot(result.times, residuals[a, :, i], ls, color=PALETTE[i], lw=1.5,
                      label=f"$u_{i + 1}$, network, $\\alpha$ = {alphas[a]:g}")
    for i in range(2):
        left.plot(result.times, result.ode[:, i], ":", color="black", lw=1.5,
                  label="exp($-t K_0 / n$) u(0)" if i == 0 else None)
    left.set(xlabel="time t = lr $\\times$ step", ylabel="residual u = f(w, X) $-$ y")
    left.set_title("(a) residuals of the two points", loc="left", fontsize="medium")
    left.legend(fontsize="small")
    right.loglog(alphas, result.ode_gap, "o", color=PALETTE[0], label="max$_t$ |u $-$ ODE| (expm)")
    right.loglog(alphas, result.linear_gap, "s", color=PALETTE[2], label="max$_k$ |u $-$ fixed-kernel GD|")
    large = alphas >= 1
    _kernelregime_fit(right, alphas[large], result.gap_slope, result.gap_intercept, PALETTE[2],
                      f"fit on $\\alpha \\geq 1$: slope {result.gap_slope:.2f}")
    right.axhline(result.discretization_gap, color="0.4", ls=":", lw=1.2,
                  label=f"fixed-kernel GD vs ODE (step lr = {result.config.lr:g})")
    right.set(xlabel="output scale $\\alpha$ (step lr / $\\alpha^2$)", ylabel="gap")
    right.set_title("(b) distance to the kernel regime", loc="left", fontsize="medium")
    right.legend(fontsize="small")
    return fig


@figure("fig-kernelregime-ntk-limit", limit_study)
def ntk_limit(result: limit_study.Result) -> Figure:
    """Empirical NTK at width m against the analytic infinite-width NTK (ReLU, erf): O(m^-1/2)."""
    style()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    widths = np.asarray(result.config.widths, dtype=float)
    for a, activation in enumerate(result.activations):
        errors = result.kernel_error[a]
        jitter = widths * 1.04 ** (a - 0.5)
        for s in range(errors.shape[1]):
            ax.loglog(jitter, errors[:, s], "o", color=PALETTE[a], alpha=0.3, ms=3)
        ax.loglog(widths, errors.mean(1), "s", color=PALETTE[a], label=f"{activation}: mean over seeds")
        _kernelregime_fit(ax, widths, result.kernel_slope[a], result.kernel_intercept[a], PALETTE[a],
                          f"{activation}: fit, slope {result.kernel_slope[a]:.2f}")
    reference = np.exp(np.mean(result.kernel_intercept)) * widths**-0.5
    ax.loglog(widths, reference, ":", color="0.3", label="$m^{-1/2}$")
    ax.set(xlabel="width m", ylabel="$\\|K_m - \\Theta\\|_F \\,/\\, \\|\\Theta\\|_F$")
    ax.legend(fontsize="small")
    return fig


@figure("fig-kernelregime-regression", limit_study)
def regression(result: limit_study.Result) -> Figure:
    """Kernel regression with the analytic NTK against trained wide centred networks."""
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.3), layout="constrained",
                                      gridspec_kw={"width_ratios": [1.5, 1]})
    colours = sns.color_palette("viridis", len(result.config.regression_widths))
    for i, width in enumerate(result.config.regression_widths):
        for s in range(result.networks.shape[1]):
            left.plot(result.grid, result.networks[i, s], color=colours[i], lw=1.0, alpha=0.8,
                      label=f"network, m = {width}" if s == 0 else None)
    left.plot(result.grid, result.analytic, color="black", lw=1.8, label=f"analytic NTK flow, t = {result.time:g}")
    left.plot(result.grid, result.kernel_regression, "--", color="crimson", lw=1.3,
              label="kernel regression (t = $\\infty$)")
    left.plot(result.x, result.y, "o", color="black", ms=6, zorder=5, label="training points")
    left.set(xlabel="input x", ylabel="prediction")
    left.set_title("(a) predictions", loc="left", fontsize="medium")
    left.legend(fontsize="small")
    widths = np.asarray(result.config.regression_widths, dtype=float)
    for s in range(result.network_error.shape[1]):
        right.loglog(widths, result.network_error[:, s], "o", color=PALETTE[0], alpha=0.4, ms=4,
                     label="one seed" if s == 0 else None)
    right.loglog(widths, result.network_error.mean(1), "s", color=PALETTE[0], label="mean over seeds")
    _kernelregime_fit(right, widths, result.regression_slope, result.regression_intercept, PALETTE[0],
                      f"fit: slope {result.regression_slope:.2f}")
    right.set(xlabel="width m", ylabel="RMS$_x$ |network $-$ analytic|")
    ticks_at(right.xaxis, widths)
    right.set_title("(b) distance to the analytic prediction", loc="left", fontsize="medium")
    right.legend(fontsize="small")
    return fig
