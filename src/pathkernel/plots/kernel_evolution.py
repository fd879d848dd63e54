"""Figures and tables of the chapter "How the kernel evolves" (notebooks/kernel_evolution.md), drawn from the
studies of `experiments.kernel_evolution` (`neighbourhoods`, `waves`, `svms`, `digits`, `umap`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from pathkernel.experiments import kernel_evolution
from pathkernel.plots._declare import figure
from pathkernel.plots._style import PALETTE, style


def _kernel_image(ax, kernel: np.ndarray, title: str, *, vmin: float, ticks=None, labels=None):
    """A normalized kernel matrix as an image (viridis, vmax 1), optional block ticks."""
    image = ax.imshow(kernel, cmap="viridis", vmin=vmin, vmax=1.0, interpolation="nearest")
    ax.set_title(title, fontsize="medium")
    ax.grid(False)
    if ticks is None:
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ax.set_xticks(ticks, labels=labels, fontsize="x-small")
        ax.set_yticks(ticks, labels=labels, fontsize="x-small")
    return image


@figure("fig-kernelevolution-neighbours", kernel_evolution.neighbourhoods)
def neighbours(result: kernel_evolution.neighbourhoods.Result) -> Figure:
    """Disk/circle: Euclidean and normalized-tangent-kernel neighbourhoods of anchors at init, mid-training, end, label homogeneity."""
    style()
    fig, axes = plt.subplots(1, 5, figsize=(17.0, 4.0), layout="constrained", sharex=True, sharey=True)
    colours = {-1: PALETTE[0], 1: PALETTE[1]}
    anchor_colours = [PALETTE[j] for j in (2, 3, 4, 5)]
    axes[0].contourf(result.grid_x, result.grid_y, np.sign(result.grid_f), levels=[-2, 0, 2],
                     colors=[colours[-1], colours[1]], alpha=0.2)
    axes[0].contour(result.grid_x, result.grid_y, result.grid_f, levels=[0], colors="0.2", linewidths=1)
    for label, name in ((-1, "disk (-1)"), (1, "circle (+1)")):
        mask = result.y == label
        axes[0].scatter(result.x[mask, 0], result.x[mask, 1], s=8, color=colours[label], label=name)
    axes[0].legend(fontsize="x-small", loc="lower left", framealpha=0.9)
    axes[0].set_title(f"(a) data, trained network\n(test accuracy {result.test_accuracy:.0%})", fontsize="medium")
    panels = [("(b) Euclidean", result.euclidean, result.euclidean_homogeneity, result.euclidean_mean_homogeneity)]
    names = ("initialization", "mid-training", "end")
    for j, step in enumerate(result.checkpoints):
        panels.append((f"({'cde'[j]}) kernel, {names[j]} (step {step})", result.neighbours[j],
                       result.homogeneity[j], result.mean_homogeneity[j]))
    for ax, (title, neighbours, per_anchor, mean) in zip(axes[1:], panels):
        ax.scatter(result.x[:, 0], result.x[:, 1], s=5, color="0.82")
        for a, colour in enumerate(anchor_colours[: len(result.anchors)]):
            ax.scatter(result.x[neighbours[a], 0], result.x[neighbours[a], 1], s=12, color=colour,
                       label=f"({result.anchors[a, 0]:g}, {result.anchors[a, 1]:g}): {per_anchor[a]:.0%}")
        ax.set_title(f"{title}\nmean homogeneity {mean:.0%}", fontsize="medium")
        ax.legend(fontsize="xx-small", loc="lower left", framealpha=0.9, title="anchor: homogeneity",
                  title_fontsize="xx-small")
    for ax in axes:
        ax.scatter(result.anchors[:, 0], result.anchors[:, 1], marker="x", s=60, color="black", linewidths=2,
                   zorder=5)
        ax.set_aspect("equal")
        ax.tick_params(labelsize="x-small")
    return fig


@figure("fig-kernelevolution-waves", kernel_evolution.waves)
def waves(result: kernel_evolution.waves.Result) -> Figure:
    """sin x and square-wave regression: predictions and normalized tangent kernel matrices at init and after training."""
    style()
    fig, axes = plt.subplots(2, 3, figsize=(13.0, 7.6), layout="constrained",
                             gridspec_kw={"width_ratios": [1.5, 1, 1]})
    vmin = float(result.kernel.min())
    extent = (result.x[0], result.x[-1], result.x[-1], result.x[0])
    for r, name in enumerate(("sin x", "square wave")):
        ax = axes[r, 0]
        ax.plot(result.grid, result.truth[r], color="0.3", lw=1, label="target")
        ax.plot(result.grid, result.prediction[r, 0], color=PALETTE[0], ls="--", label="initialization")
        ax.plot(result.grid, result.prediction[r, 1], color=PALETTE[1],
                label=f"trained (RMSE {result.rmse[r]:.3f})")
        ax.plot(result.x, result.y[r], "o", color="0.3", markersize=3, label="training points")
        ax.set_title(f"({'ad'[r]}) {name}: predictions", fontsize="medium", loc="left")
        ax.set_xlabel("x")
        ax.legend(fontsize="x-small", loc="upper left")
        for c, when in enumerate(("initialization", "trained")):
            image = axes[r, 1 + c].imshow(result.kernel[r, c], cmap="viridis", vmin=vmin, vmax=1.0,
                                          extent=extent, interpolation="nearest")
            axes[r, 1 + c].set_title(f"({'bcef'[2 * r + c]}) {name}: kernel, {when}", fontsize="medium")
            axes[r, 1 + c].set_xlabel("x")
            axes[r, 1 + c].grid(False)
            axes[r, 1 + c].tick_params(labelsize="x-small")
    fig.colorbar(image, ax=axes[:, 2], shrink=0.6, label="normalized tangent kernel")
    return fig


@figure("fig-kernelevolution-svm", kernel_evolution.svms)
def svm(result: kernel_evolution.svms.Result) -> Figure:
    """Linear SVM on tangent features against an RBF SVM on inputs: circle and ellipse 100 x1^2 + x2^2."""
    style()
    fig, axes = plt.subplots(2, 2, figsize=(9.0, 8.4), layout="constrained")
    colours = {-1: PALETTE[0], 1: PALETTE[1]}
    methods = ("linear SVM on tangent features", "RBF SVM on inputs")
    for c, task in enumerate(("circle", "ellipse $100 x_1^2 + x_2^2$")):
        gx, gy = result.grid_x[c], result.grid_y[c]
        for r, method in enumerate(methods):
            ax = axes[r, c]
            values = result.decision[c, r]
            ax.contourf(gx, gy, np.sign(values), levels=[-2, 0, 2], colors=[colours[-1], colours[1]], alpha=0.2)
            ax.contour(gx, gy, values, levels=[0], colors="0.2", linewidths=1)
            for label in (-1, 1):
                mask = result.y[c] == label
                ax.scatter(result.x[c, mask, 0], result.x[c, mask, 1], s=7, color=colours[label])
            ax.set_title(f"{task}: {method}\ntest accuracy {result.accuracies[c, 1 + r]:.1%} "
                         f"(network {result.accuracies[c, 0]:.1%})", fontsize="small")
            ax.tick_params(labelsize="x-small")
            ax.set_xlim(gx[0], gx[-1])
            ax.set_ylim(gy[0], gy[-1])
    return fig


def svm_table(result: kernel_evolution.svms.Result) -> pd.io.formats.style.Styler:
    """Test accuracy of the network and of both SVMs, per task."""
    return pd.DataFrame(result.accuracies, index=list(kernel_evolution.svms.TASKS),
                        columns=["network", "linear SVM on tangent features", "RBF SVM on inputs"]).style.format("{:.1%}")


def _class_ticks(labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    classes = np.unique(labels)
    return np.array([np.flatnonzero(labels == c).mean() for c in classes]), [str(c) for c in classes]


@figure("fig-kernelevolution-digits", kernel_evolution.digits)
def digits(result: kernel_evolution.digits.Result) -> Figure:
    """Normalized trace tangent kernel of handwritten digits ordered by class, at init and after training."""
    style()
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 4.6), layout="constrained")
    ticks, labels = _class_ticks(result.show_labels)
    vmin = float(result.class_kernel.min())
    for ax, kernel, contrast, when in zip(axes, result.class_kernel, result.class_contrast,
                                          ("(a) initialization", "(b) trained")):
        image = _kernel_image(ax, kernel, f"{when}\nwithin classes {contrast[0]:.2f}, between {contrast[1]:.2f}",
                              vmin=vmin, ticks=ticks, labels=labels)
    fig.colorbar(image, ax=axes, shrink=0.8, label="normalized tangent kernel (trace)")
    return fig


@figure("fig-kernelevolution-umap", kernel_evolution.umap)
def umap(result: kernel_evolution.umap.Result) -> Figure:
    """UMAP of tangent features, network trained on digits 0-4: seen digits cluster, unseen 5-9 blur."""
    style()
    fig, axes = plt.subplots(1, 3, figsize=(15.0, 4.8), layout="constrained")
    colours = sns.color_palette("tab10", 10)
    titles = ("(a) initialization, digits 0-9", "(b) trained on 0-4, digits 0-4", "(c) trained on 0-4, digits 0-9")
    scores = {0: 0, 2: 1}
    for j, (ax, title) in enumerate(zip(axes, titles)):
        embedding = result.embeddings[j]
        for digit in range(10):
            mask = (result.labels == digit) & np.isfinite(embedding[:, 0])
            if not mask.any():
                continue
            seen = digit < 5
            ax.scatter(embedding[mask, 0], embedding[mask, 1], s=14 if seen else 20, marker="o" if seen else "x",
                       color=colours[digit], label=str(digit))
        if j in scores:
            s = result.embedding_silhouette[scores[j]]
            title += f"\nsilhouette seen {s[0]:.2f}, unseen {s[1]:.2f}"
        ax.set_title(title, fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal", adjustable="datalim")
    axes[2].legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.0, 0.5), title="digit",
                   title_fontsize="x-small", markerscale=1.2)
    return fig


@figure("fig-kernelevolution-printed", kernel_evolution.digits)
def printed(result: kernel_evolution.digits.Result) -> Figure:
    """Handwritten against printed (font-rendered) digits: kernel blocks at init and trained, confusion matrix."""
    style()
    fig = plt.figure(figsize=(16.0, 6.4), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 3.6])
    # one strip of 8 x 8 images (handwritten 0, printed 0, handwritten 1, ...), 2 blank columns apart:
    # a single axes lays out far faster than 20
    pairs = np.stack([result.handwritten_examples, result.printed_examples], 1).reshape(20, 8, 8)
    strip = np.pad(pairs, ((0, 0), (0, 0), (0, 2))).transpose(1, 0, 2).reshape(8, -1)[:, :-2]
    examples = top.subplots()
    examples.imshow(strip, cmap="gray_r", vmin=0, vmax=16, interpolation="nearest")
    examples.set_xticks(10 * np.arange(20) + 3.5, labels=[f"{d}{kind}" for d in range(10) for kind in "hp"],
                        fontsize="x-small")
    examples.set_yticks([])
    examples.grid(False)
    axes = bottom.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 0.95]})
    starts = np.flatnonzero(np.diff(np.r_[-1, result.mixed_labels * 2 + result.mixed_printed]))
    block = np.diff(np.r_[starts, len(result.mixed_labels)])
    ticks = starts + block / 2 - 0.5
    labels = [f"{d}{'p' if p else 'h'}" for d, p in zip(result.mixed_labels[starts], result.mixed_printed[starts])]
    vmin = float(result.mixed_kernel.min())
    for ax, kernel, contrast, when in zip(axes[:2], result.mixed_kernel, result.cross_contrast,
                                          ("(a) initialization", "(b) trained on handwritten digits")):
        image = _kernel_image(ax, kernel, f"{when}\nhandwritten-printed: same digit {contrast[0]:.2f}, "
                              f"different {contrast[1]:.2f}", vmin=vmin, ticks=ticks, labels=labels)
        ax.tick_params(axis="x", labelrotation=90)
    bottom.colorbar(image, ax=axes[:2], shrink=0.8, label="normalized tangent kernel (trace)")
    sns.heatmap(result.confusion, ax=axes[2], annot=True, fmt="d", cmap="mako_r", cbar=False, square=True,
                annot_kws={"fontsize": "x-small"})
    axes[2].set_xlabel("predicted digit")
    axes[2].set_ylabel("printed digit")
    axes[2].set_title(f"(c) trained network on printed digits\naccuracy {result.printed_accuracy:.0%} "
                      f"(handwritten test {result.test_accuracy:.0%})", fontsize="medium")
    return fig


def umap_table(result: kernel_evolution.umap.Result) -> pd.io.formats.style.Styler:
    """Silhouette and 5-nearest-neighbour accuracy of the seen and unseen digits, in each feature
    space and in the UMAP embeddings."""
    rows = list(kernel_evolution.umap.FEATURE_SPACES) + ["UMAP, initialization", "UMAP, trained"]
    silhouette = np.vstack([result.feature_silhouette, result.embedding_silhouette])
    knn = np.vstack([result.feature_knn, result.embedding_knn])
    return pd.DataFrame({"silhouette, seen 0-4": silhouette[:, 0], "silhouette, unseen 5-9": silhouette[:, 1],
                         "5-NN accuracy, seen": knn[:, 0], "5-NN accuracy, unseen": knn[:, 1]},
                        index=rows).style.format("{:.2f}")
