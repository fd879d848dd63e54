"""Figures and tables of the chapter "Stochastic Domingos theorems: SGD, momentum and Adam" (notebooks/stochastic.md),
each drawn from one study of `experiments.stochastic` (`residual`, `expectation`, `per_sample`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from pathkernel.experiments.stochastic import expectation as expectation_study
from pathkernel.experiments.stochastic import learning_rate
from pathkernel.experiments.stochastic import per_sample as per_sample_study
from pathkernel.experiments.stochastic import residual as residual_study
from pathkernel.plots._declare import figure
from pathkernel.plots._style import PALETTE, machine_epsilon, style, ticks_at


_OPTIMIZER_LABELS = {"gd": "GD (full batch)", "sgd": "SGD", "momentum": "heavy-ball momentum", "adam": "Adam"}


@figure("fig-stochastic-residual", residual_study)
def residual(result: residual_study.Result) -> Figure:
    """Remainder of the Domingos theorems for GD, SGD, momentum and Adam against lr at fixed time, and of their exact forms."""
    style()
    fig, ax = plt.subplots(figsize=(6.6, 4.6), layout="constrained")
    lrs = result.lrs
    fitted = lrs <= result.config.fit_max_lr
    grid = np.geomspace(lrs[fitted].min(), lrs[fitted].max(), 20)
    for a, name in enumerate(result.optimizers):
        colour = PALETTE[a]
        ax.loglog(lrs, result.residual[a], "o", color=colour,
                  label=f"{_OPTIMIZER_LABELS[name]}: slope {result.slopes[a]:.2f}")
        ax.loglog(grid, np.exp(result.intercepts[a]) * grid ** result.slopes[a], "-", color=colour, alpha=0.7)
        ax.loglog(lrs, np.maximum(result.residual_exact[a], 1e-17), "s", mfc="none", color=colour)
    machine_epsilon(ax)
    ax.text(lrs.min(), np.finfo(np.float64).eps * 1.6, "float64 machine epsilon", fontsize="x-small", color="0.4")
    ax.plot([], [], "s", mfc="none", color="0.3", label="exact form (hollow)")
    ax.set_xlabel("base learning rate (time base lr $\\times$ steps fixed)")
    ax.set_ylabel("max$_x$ |remainder|")
    ticks_at(ax.xaxis, lrs)
    ax.legend(fontsize="small", loc="center right", framealpha=0.9)
    return fig


def residual_table(result: residual_study.Result) -> pd.io.formats.style.Styler:
    """Per optimizer: its learning rate at the smallest base rate, the fitted slopes of the remainder
    (on the base rates up to fit_max_lr, and between the two smallest) and the largest exact-form remainder."""
    frame = pd.DataFrame({
        "optimizer": result.optimizers,
        "lr at the smallest base rate": [learning_rate(result.config, o, min(result.config.base_lrs))
                                         for o in result.optimizers],
        "fitted slope": result.slopes,
        "slope, two smallest rates": result.local_slopes,
        "max |R|, exact": result.residual_exact.max(1),
    })
    return frame.style.hide(axis="index").format({"lr at the smallest base rate": "{:g}", "fitted slope": "{:.2f}",
                                                  "slope, two smallest rates": "{:.2f}", "max |R|, exact": "{:.0e}"})


@figure("fig-stochastic-expectation", expectation_study)
def expectation(result: expectation_study.Result, shown: int = 10) -> Figure:
    """SGD over many mini-batch orders: mean prediction against the mean decomposition, Monte Carlo error against the number of seeds, expected contributions."""
    style()
    fig, axes = plt.subplots(1, 3, figsize=(15.0, 4.6), layout="constrained")
    ax = axes[0]
    seeds, shown = result.seed_prediction.shape[0], min(shown, result.seed_prediction.shape[1])
    index = np.arange(shown)
    spread = result.seed_prediction[:, :shown]
    ax.plot(np.repeat(index[None, :], seeds, 0) + np.linspace(-0.2, 0.2, seeds)[:, None], spread, ".",
            color="0.65", markersize=3)
    ax.plot([], [], ".", color="0.65", label=f"f(w$_T$, x), one per seed ({seeds} seeds)")
    mean, se = spread.mean(0), spread.std(0, ddof=1) / np.sqrt(seeds)
    ax.errorbar(index, mean, yerr=2 * se, fmt="o", color=PALETTE[0], capsize=3, label="mean prediction $\\pm$ 2 SE")
    ax.plot(index, result.seed_rhs_exact[:, :shown].mean(0), "x", color=PALETTE[2], markersize=9,
            label="mean of the exact decompositions")
    ax.plot(index, result.gd_prediction[:shown], "D", mfc="none", color=PALETTE[3], label="full-batch GD")
    ax.set_xticks(index)
    ax.set_xlabel("query point")
    ax.set_ylabel("prediction")
    ax.set_title("(a) E over mini-batch orders", fontsize="medium")
    ax.legend(fontsize="x-small", loc="best")
    ax = axes[1]
    counts = result.seed_counts
    ax.loglog(counts, result.mc_error, "o-", color=PALETTE[0], label="error of the mean of S seeds")
    ax.loglog(counts, result.mc_standard_error, "--", color=PALETTE[0], alpha=0.7, label="$\\sigma / \\sqrt{S}$")
    ax.loglog(counts, result.block_residual, "s-", color=PALETTE[1], label="mean remainder, first-order form")
    ax.loglog(counts, np.maximum(result.block_residual_exact, 1e-17), "^-", color=PALETTE[2],
              label="mean remainder, exact form")
    ax.set_xticks(counts, labels=[str(c) for c in counts])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("number of seeds S")
    ax.set_ylabel("root mean square over queries")
    ax.set_title("(b) Monte Carlo error against S", fontsize="medium")
    ax.legend(fontsize="x-small", loc="center right")
    ax = axes[2]
    for j, point in enumerate(result.queries):
        ax.plot(result.gd_contribution[j], result.expected_contribution[j], "o", color=PALETTE[(4 + j) % len(PALETTE)], markersize=4,
                alpha=0.8, label=f"x = ({point[0]:g}, {point[1]:g})")
    top = max(np.abs(result.gd_contribution).max(), np.abs(result.expected_contribution).max()) * 1.05
    ax.plot([-top, top], [-top, top], color="0.5", lw=0.8, ls=":")
    ax.set(xlim=(-top, top), ylim=(-top, top), aspect="equal")
    ax.set_xlabel("GD contribution of $x_i$")
    ax.set_ylabel("SGD contribution of $x_i$, mean over seeds")
    ax.set_title("(c) expected contributions", fontsize="medium")
    ax.legend(fontsize="x-small", loc="upper left")
    return fig


@figure("fig-stochastic-per-sample", per_sample_study)
def per_sample(result: per_sample_study.Result) -> Figure:
    """Per-sample contributions of SGD, momentum and Adam against GD at the same query points, Spearman rank correlations."""
    style()
    fig, axes = plt.subplots(1, 4, figsize=(16.0, 4.3), layout="constrained",
                             gridspec_kw={"width_ratios": [1, 1, 1, 1.15]})
    names = list(result.optimizers)
    gd = result.contribution[names.index("gd")]
    for ax, name in zip(axes[:3], ["sgd", "momentum", "adam"]):
        other = result.contribution[names.index(name)]
        for j, point in enumerate(result.queries):
            ax.plot(gd[j], other[j], "o", color=PALETTE[(4 + j) % len(PALETTE)], markersize=4, alpha=0.8,
                    label=f"x = ({point[0]:g}, {point[1]:g})")
        top = max(np.abs(gd).max(), np.abs(other).max()) * 1.05
        ax.plot([-top, top], [-top, top], color="0.5", lw=0.8, ls=":")
        ax.set(xlim=(-top, top), ylim=(-top, top), aspect="equal")
        rho = result.spearman[:, 0, names.index(name)].mean()
        within = result.spearman_within[:, 0, names.index(name)].mean()
        ax.set_title(f"{_OPTIMIZER_LABELS[name]}\nSpearman with GD: {rho:.2f} (within class {within:.2f})",
                     fontsize="medium")
        ax.set_xlabel("GD contribution of $x_i$")
        ax.set_ylabel(f"{name} contribution of $x_i$")
        ax.tick_params(labelsize="x-small")
    axes[0].legend(fontsize="x-small", loc="upper left")
    sns.heatmap(result.spearman_within.mean(0), ax=axes[3], annot=True, fmt=".2f", cmap="mako", vmin=0, vmax=1,
                xticklabels=names, yticklabels=names, square=True, cbar_kws={"shrink": 0.8})
    axes[3].set_title("Spearman rank correlation within class\n(mean over classes and query points)",
                      fontsize="medium")
    return fig


def per_sample_table(result: per_sample_study.Result) -> pd.io.formats.style.Styler:
    """Per optimizer: final batch loss, prediction at each query point, mean Spearman correlation of the
    contributions with GD's (over all training points and within a class)."""
    frame = pd.DataFrame({
        "optimizer": result.optimizers,
        "final batch loss": result.compare_loss,
        **{f"f(w_T, x) at ({q[0]:g}, {q[1]:g})": result.prediction[:, j] for j, q in enumerate(result.queries)},
        "Spearman with GD": result.spearman[:, 0].mean(0),
        "Spearman with GD, within class": result.spearman_within[:, 0].mean(0),
    })
    return frame.style.hide(axis="index").format(precision=3)


def recovery_table(result: per_sample_study.Result) -> pd.io.formats.style.Styler:
    """The special cases that reduce one optimizer to another: largest differences of parameters and contributions."""
    frame = pd.DataFrame({
        "special case -> optimizer": result.recovery_names,
        "max |parameter difference|": result.recovery_params,
        "max |contribution difference|": result.recovery_contribution,
    })
    return frame.style.hide(axis="index").format({"max |parameter difference|": "{:.0e}",
                                                  "max |contribution difference|": "{:.0e}"})
