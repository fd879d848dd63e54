"""Figures of the chapter "Shape filling in 2D" (notebooks/shape_filling.md), drawn from
`experiments.shape_filling` and `experiments.shape_filling_architectures`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pathkernel.experiments import shape_filling, shape_filling_architectures
from pathkernel.plots._declare import figure
from pathkernel.plots._style import PALETTE, image_panel, style


_SUITE_LABELS = {
    "shapes": "several shapes (number of shapes)",
    "nesting": "holes (nested boundary curves)",
    "spiral": "spirals (turns)",
    "maze": "mazes (cells per side)",
    "branches": "branches (strokes; training: 1 to 4)",
    "size": "larger images (size / training size)",
}


def _probability_panel(ax, image: np.ndarray, title: str) -> None:
    """A [0, 1] image (1 black), no ticks, with a title."""
    image_panel(ax, np.repeat(1.0 - np.clip(image, 0, 1)[..., None], 3, axis=-1), title)


@figure("fig-shapefilling-examples", shape_filling)
def examples(result: shape_filling.Result) -> Figure:
    """U-Net shape filling in distribution: filtered boundary (input), prediction and ground truth, IoU per image."""
    style()
    k = len(result.examples_input)
    fig, axes = plt.subplots(3, k, figsize=(2.4 * k, 7.6), layout="constrained", squeeze=False)
    for j in range(k):
        _probability_panel(axes[0, j], result.examples_input[j], "input (boundary)")
        _probability_panel(axes[1, j], result.examples_prediction[j],
                           f"prediction, IoU {result.test_iou[j]:.3f}\n(interior {result.test_interior_iou[j]:.3f})")
        _probability_panel(axes[2, j], result.examples_target[j], "ground truth")
    return fig


@figure("fig-shapefilling-failures", shape_filling)
def failures(result: shape_filling.Result) -> Figure:
    """The U-Net's worst image at the highest complexity of each out-of-distribution suite (Fig. 7 of the paper)."""
    style()
    names = result.suite_names
    fig, axes = plt.subplots(3, len(names), figsize=(2.4 * len(names), 7.6), layout="constrained", squeeze=False)
    for j, name in enumerate(names):
        last = np.flatnonzero(~np.isnan(result.complexity[j]))[-1]
        worst = np.nanmin(result.ood_iou[j, last])
        _probability_panel(axes[0, j], result.worst_input[j], f"{name} = {result.complexity[j, last]:g}\ninput")
        _probability_panel(axes[1, j], result.worst_prediction[j], f"prediction\nIoU {worst:.2f}")
        _probability_panel(axes[2, j], result.worst_target[j], "ground truth")
    return fig


@figure("fig-shapefilling-complexity", shape_filling)
def complexity(result: shape_filling.Result) -> Figure:
    """U-Net IoU against the complexity of five out-of-distribution suites, beside the nesting-depth oracle (100%), flood fill and the naive parity scan."""
    style()
    names = result.suite_names
    fig, axes = plt.subplots(1, len(names), figsize=(3.3 * len(names), 3.9), layout="constrained",
                             sharey=True, squeeze=False)
    oracle_styles = [("nesting-depth parity", PALETTE[2], "-", 3.0), ("flood fill", PALETTE[4], "--", 1.4),
                     ("naive parity scan", PALETTE[3], ":", 1.6)]
    for j, (ax, name) in enumerate(zip(axes[0], names)):
        keep = ~np.isnan(result.complexity[j])
        x = result.complexity[j, keep]
        for m, (label, colour, dash, width) in enumerate(oracle_styles):
            ax.plot(x, result.oracle_iou[j, keep, m], dash, color=colour, lw=width, label=label, zorder=2 - m)
        scores = result.ood_iou[j, keep]
        ax.fill_between(x, np.quantile(scores, 0.1, axis=1), np.quantile(scores, 0.9, axis=1),
                        color=PALETTE[0], alpha=0.2, lw=0)
        ax.plot(x, scores.mean(axis=1), "o-", color=PALETTE[0], label="U-Net")
        ax.plot(x, result.ood_interior_iou[j, keep].mean(axis=1), "s--", color=PALETTE[1], markersize=4,
                label="U-Net, without the rim")
        ax.axhline(result.test_iou.mean(), color=PALETTE[0], lw=0.8, ls="-.", alpha=0.7,
                   label="U-Net in distribution")
        ax.set_xlabel(_SUITE_LABELS.get(name, name), fontsize="small")
        ax.set_xticks(x, labels=[f"{v:g}" for v in x])
        ax.tick_params(labelsize="x-small")
    axes[0, 0].set_ylabel("mean IoU")
    axes[0, 0].set_ylim(min(0.0, np.nanmin(result.oracle_iou) - 0.05), 1.03)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=6, fontsize="small", frameon=False)
    return fig


def table(result: shape_filling.Result) -> pd.io.formats.style.Styler:
    """Per out-of-distribution suite: its complexities, the U-Net's mean IoU and its share of images
    with an interior IoU of at least `INTERIOR_THRESHOLD` at the lowest and the highest complexity, and the depth
    oracle's worst mean IoU."""
    last = shape_filling.highest(result)
    suites = range(len(result.suite_names))
    good, share = shape_filling.INTERIOR_THRESHOLD, f"interior IoU >= {shape_filling.INTERIOR_THRESHOLD:.0%}"
    frame = pd.DataFrame({
        "suite": list(result.suite_names),
        "complexities": [", ".join(f"{c:g}" for c in row[~np.isnan(row)]) for row in result.complexity],
        "U-Net IoU, lowest": np.nanmean(result.ood_iou[:, 0], axis=-1),
        "U-Net IoU, highest": [result.ood_iou[k, last[k]].mean() for k in suites],
        f"{share}, lowest": (result.ood_interior_iou[:, 0] >= good).mean(axis=-1),
        f"{share}, highest": [(result.ood_interior_iou[k, last[k]] >= good).mean() for k in suites],
        "depth oracle, worst": np.nanmin(result.oracle_iou[..., 0], axis=1),
    })
    return frame.style.hide(axis="index").format(precision=3)


@figure("fig-shapefilling-architectures", shape_filling_architectures)
def architectures(result: shape_filling_architectures.Result) -> Figure:
    """Local CNN, global pooling, self-attention, global context, deeper CNN and U-Net trained alike: in-distribution IoU and mean IoU against the complexity of each out-of-distribution suite."""
    style()
    names, suites = result.names, result.suite_names
    fig, axes = plt.subplots(1, 1 + len(suites), figsize=(3.1 * (1 + len(suites)), 3.9), layout="constrained",
                             squeeze=False)
    colours = [PALETTE[k % len(PALETTE)] for k in range(len(names))]
    markers = "os^vDP"
    first = axes[0, 0]
    first.barh(range(len(names)), result.test_iou.mean(axis=1), color=colours)
    first.set_yticks(range(len(names)), labels=[f"{n}\n{p:,} par." for n, p in zip(names, result.parameters)],
                     fontsize="x-small")
    first.invert_yaxis()
    first.set_xlim(0, 1)
    first.set_xlabel("test IoU (in distribution)", fontsize="small")
    for j, (ax, name) in enumerate(zip(axes[0, 1:], suites)):
        keep = ~np.isnan(result.complexity[j])
        x = result.complexity[j, keep]
        for a, label in enumerate(names):
            ax.plot(x, result.ood_iou[a, j, keep].mean(axis=1), marker=markers[a % len(markers)], color=colours[a],
                    label=label, markersize=4)
        ax.set_xlabel(_SUITE_LABELS.get(name, name), fontsize="small")
        ax.set_xticks(x, labels=[f"{v:g}" for v in x])
        ax.set_ylim(0, 1.03)
        ax.tick_params(labelsize="x-small")
    axes[0, 1].set_ylabel("mean IoU")
    handles, labels = axes[0, 1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(names), fontsize="small", frameon=False)
    return fig


def architectures_table(result: shape_filling_architectures.Result) -> pd.DataFrame:
    """Per architecture: parameters, training seconds, mean IoU in distribution, over every
    suite level, and at each suite's highest complexity."""
    hard = shape_filling_architectures.highest_mean(result)
    frame = pd.DataFrame({"parameters": result.parameters, "training s": result.seconds.round(1),
                          "test IoU": result.test_iou.mean(axis=1),
                          "OOD IoU, all levels": np.nanmean(result.ood_iou, axis=(1, 2, 3))},
                         index=pd.Index(result.names, name="architecture"))
    for s, name in enumerate(result.suite_names):
        frame[f"{name}, highest"] = hard[:, s]
    return frame.round(3)
