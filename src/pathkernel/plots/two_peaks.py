"""Figures of the chapter "The two-peak task and its tangent kernel" (notebooks/two_peaks.md), drawn from
the studies `experiments.two_peaks.two_peak`, `experiments.two_peaks.multi_peak` and `experiments.two_peaks.sizes`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pathkernel.experiments.two_peaks import multi_peak, sizes, two_peak
from pathkernel.plots._declare import figure
from pathkernel.plots._style import PALETTE, style


GROUP_MARKERS = ("<", "D", "o", ">")
VERDICTS = {"adam": "Adam ahead (the paper's claim)", "gd": "GD ahead (the reverse)", "tie": "neither ahead"}


@figure("fig-twopeaks-examples", two_peak)
def examples(result: two_peak.Result) -> Figure:
    """Two-peak inputs of each peak-position group, their filled rows and the central-pixel label (Fig. 11)."""
    style()
    n, c = result.x.shape[1], result.x.shape[1] // 2
    fig, axes = plt.subplots(len(two_peak.GROUPS), 1, figsize=(7.5, 3.8), layout="constrained", sharex=True)
    for g, ax in enumerate(axes):
        i = np.flatnonzero(result.group == g)[len(np.flatnonzero(result.group == g)) // 2]
        image = np.stack([result.x[i], result.filled[i]])
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=1.6, interpolation="nearest", aspect="auto")
        ax.add_patch(plt.Rectangle((c - 0.5, 0.5), 1, 1, fill=False, ec=PALETTE[3], lw=2))
        ax.set_yticks([0, 1], labels=["input", "filled"], fontsize="x-small")
        ax.set_title(f"{two_peak.GROUPS[g]}: peaks {tuple(int(p) for p in result.peaks[i])}, label {int(result.labels[i])}",
                     fontsize="small", loc="left")
        ax.grid(False)
    axes[-1].set_xticks(range(0, n, 4))
    axes[-1].set_xlabel(f"position (centre $c$ = {c}, red box)")
    return fig


@figure("fig-twopeaks-tsne", two_peak)
def tsne(result: two_peak.Result) -> Figure:
    """t-SNE of the tangent features of all two-peak inputs by class and peak group (Fig. 12)."""
    style()
    fig, ax = plt.subplots(figsize=(7.0, 5.2), layout="constrained")
    trained = np.zeros(len(result.x), dtype=bool)
    trained[result.train_index] = True
    for g, name in enumerate(two_peak.GROUPS):
        for label in (0, 1):
            mask = (result.group == g) & (result.labels == label)
            if mask.any():
                ax.scatter(*result.embedding[mask].T, s=np.where(trained[mask], 30, 12), marker=GROUP_MARKERS[g],
                           color=PALETTE[label], edgecolors="0.3", linewidths=0.3, alpha=0.85,
                           label=f"{name}, class {label}")
        centre = result.embedding[result.group == g].mean(axis=0)
        ax.annotate(name, centre, fontsize="small", ha="center", weight="bold",
                    bbox=dict(boxstyle="round", fc="white", alpha=0.7, lw=0))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize="x-small", ncol=2, loc="best", framealpha=0.8)
    return fig


@figure("fig-twopeaks-neighbours", two_peak)
def neighbours(result: two_peak.Result) -> Figure:
    """Nearest training points under the normalized NTK against Euclidean: sharing exactly one peak, sharing the label."""
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8), layout="constrained", sharex=True)
    k = np.arange(1, len(result.ntk_one_peak) + 1)
    for ax, ntk, euclid, what in ((left, result.ntk_one_peak, result.euclid_one_peak, "share exactly one peak"),
                                  (right, result.ntk_same_label, result.euclid_same_label, "have the query's label")):
        ax.plot(k, ntk, "o-", color=PALETTE[0], label="normalized NTK")
        ax.plot(k, euclid, "s--", color=PALETTE[1], label="Euclidean")
        ax.set_ylim(0.4, 1.02)
        ax.set_xlabel("number of neighbours $k$")
        ax.set_ylabel(f"fraction of the $k$ nearest that {what}", fontsize="small")
        ax.legend(fontsize="small")
    return fig


@figure("fig-twopeaks-multipeak", multi_peak)
def multipeak(result: multi_peak.Result) -> Figure:
    """More than two peaks: training and unseen accuracy along full-batch GD and Adam, each trained under the budget rule."""
    style()
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.8), layout="constrained", sharey=True)
    for ax, name, lr, steps, train, unseen in zip(axes, ("full-batch gradient descent", "Adam"), result.lr,
                                                  result.multi_steps, result.multi_train_accuracy,
                                                  result.multi_unseen_accuracy):
        ax.plot(steps, train, "--", color=PALETTE[0], label="training set")
        ax.plot(steps, unseen, "-", color=PALETTE[2], label="unseen inputs")
        ax.axhline(result.majority, color="0.5", lw=0.8, ls=":", label="majority class")
        ax.set_title(f"{name}, lr {lr:g}", fontsize="medium")
        ax.set_xlabel("step")
        ax.legend(fontsize="small", loc="lower right")
    axes[0].set_ylabel("accuracy")
    axes[0].set_ylim(0.4, 1.02)
    return fig


@figure("fig-twopeaks-sizes", sizes)
def sizes_sweep(result: sizes.Result) -> Figure:
    """Gradient descent against Adam over training-set sizes: unseen accuracy with its 95% interval over seeds, and the steps each used."""
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8), layout="constrained", sharex=True)
    m = np.array(result.config.train_sizes)
    for j, (name, marker) in enumerate(zip(("gradient descent", "Adam"), ("o", "s"))):
        mean, low, high = result.unseen_interval[j].T
        left.fill_between(m, low, high, color=PALETTE[j], alpha=0.25, lw=0)
        left.plot(m, mean, marker + "-", color=PALETTE[j], label=f"{name}, unseen")
        left.plot(m, result.train_interval[j, :, 0], marker + ":", color=PALETTE[j], ms=3, label=f"{name}, training")
        steps = result.steps[j]
        right.fill_between(m, steps.min(1), steps.max(1), color=PALETTE[j], alpha=0.25, lw=0)
        right.plot(m, steps.mean(1), marker + "-", color=PALETTE[j], label=name)
    left.axhline(result.majority, color="0.5", lw=0.8, ls="--", label="majority class")
    left.set_ylabel("accuracy (mean, 95% interval)")
    left.set_ylim(0.4, 1.02)
    left.legend(fontsize="x-small", loc="lower right")
    right.axhline(result.config.max_steps, color="0.5", lw=0.8, ls="--", label="cap")
    right.set_yscale("log")
    right.set_ylabel("steps used (mean, min-max)")
    right.legend(fontsize="small")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xticks(m, labels=[str(v) for v in m])
        ax.minorticks_off()
        ax.set_xlabel("training inputs $m$")
    return fig


def table(result: multi_peak.Result) -> pd.io.formats.style.Styler:
    """Per optimizer: the learning rate and steps of the budget rule, final training and unseen
    accuracy, the exact and first-order residuals of the decomposition and the gap between the
    per-sample contributions and the kernel part."""
    frame = pd.DataFrame({
        "optimizer": multi_peak.OPTIMIZERS,
        "lr": result.lr,
        "steps": result.steps,
        "training accuracy": result.multi_train_accuracy[:, -1],
        "unseen accuracy": result.multi_unseen_accuracy[:, -1],
        "max |residual|, exact": result.residual,
        "max |residual|, first order": result.residual_first_order,
        "max |sum_i per-sample - kernel part|": result.per_sample_gap,
    })
    return frame.style.hide(axis="index").format({"lr": "{:g}", "training accuracy": "{:.1%}",
                                                  "unseen accuracy": "{:.1%}"}).format(
        "{:.1e}", subset=["max |residual|, exact", "max |residual|, first order", "max |sum_i per-sample - kernel part|"])


def sizes_table(result: sizes.Result) -> pd.DataFrame:
    """Per training size and optimizer, over the seeds: unseen accuracy (mean [95% interval] and
    min-max), mean training accuracy, steps used (min-max), runs that hit the cap, learning rates
    kept; and Adam's minus gradient descent's unseen accuracy (mean [95% interval]) with the verdict."""
    rows = []
    verdicts = sizes.verdicts(result)
    for i, m in enumerate(result.config.train_sizes):
        for j, name in enumerate(sizes.OPTIMIZERS):
            unseen, (mean, low, high) = result.unseen_accuracy[j, i], result.unseen_interval[j, i]
            rows.append({
                "m": m, "optimizer": name,
                "unseen accuracy [95%]": f"{mean:.1%} [{low:.1%}, {high:.1%}]",
                "unseen min-max": f"{unseen.min():.1%}-{unseen.max():.1%}",
                "training accuracy": f"{result.train_interval[j, i, 0]:.1%}",
                "steps": f"{result.steps[j, i].min()}-{result.steps[j, i].max()}",
                "capped": f"{int((~result.reached[j, i]).sum())}/{len(result.seeds)}",
                "lr": ", ".join(f"{lr:g}" for lr in sorted(set(result.lr[j, i].tolist()), reverse=True)),
                "Adam - GD [95%]": "{:+.1%} [{:+.1%}, {:+.1%}]".format(*result.gap_interval[i]) if j else "",
                "verdict": VERDICTS[verdicts[i]] if j else "",
            })
    return pd.DataFrame(rows).set_index(["m", "optimizer"])
