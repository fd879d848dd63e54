"""The figure and the table of the chapter "A linear last layer" (notebooks/last_layer.md), drawn from `experiments.last_layer`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pathkernel.experiments import last_layer
from pathkernel.plots._declare import figure
from pathkernel.plots._style import PALETTE, style


@figure("fig-lastlayer-svm", last_layer)
def svm(result: last_layer.Result) -> Figure:
    """Network against a linear SVM on its tangent features: trained, stopped early, noisy labels, narrow.

    One column per scenario. Top row: the network's sign regions; bottom row: the SVM's
    (fitted on the tangent-kernel Gram matrix). Training points coloured by the scenario's labels (flipped labels with a
    black edge); points the classifier gets wrong are crossed. `result` is a
    `pathkernel.experiments.last_layer.Result`.
    """
    style()
    m = len(result.scenarios)
    fig, axes = plt.subplots(2, m, figsize=(3.6 * m, 6.6), layout="constrained", squeeze=False, sharex=True,
                             sharey=True)
    colours = {-1: PALETTE[0], 1: PALETTE[1]}
    for j, name in enumerate(result.scenarios):
        labels = result.labels[j]
        for r, (values, signs, who, accuracy) in enumerate(
                ((result.grid_network[j], result.network_sign[j], "network", result.network_accuracy[j]),
                 (result.grid_svm[j], result.svm_sign[j], "SVM on tangent features", result.svm_accuracy[j]))):
            ax = axes[r, j]
            ax.contourf(result.grid_x, result.grid_y, np.sign(values), levels=[-2, 0, 2],
                        colors=[colours[-1], colours[1]], alpha=0.2)
            ax.contour(result.grid_x, result.grid_y, values, levels=[0], colors="0.2", linewidths=1)
            for label in (-1, 1):
                mask = labels == label
                edges = np.where(result.flipped[mask] & (j >= 2), "black", "0.3")
                ax.scatter(result.x[mask, 0], result.x[mask, 1], s=16, color=colours[label], edgecolors=edges,
                           linewidths=np.where(result.flipped[mask] & (j >= 2), 1.2, 0.3))
            wrong = signs != labels
            ax.scatter(result.x[wrong, 0], result.x[wrong, 1], marker="x", s=40, color="crimson", linewidths=1.3)
            ax.set_aspect("equal")
            ax.tick_params(labelsize="x-small")
            if r == 0:
                text = f"{name.upper()}\n{who}: training accuracy {accuracy:.0%}"
            else:
                text = (f"tangent-feature SVM: training accuracy {accuracy:.0%}\n"
                        f"same sign as the network on {result.agreement[j]:.0%} of the box")
            ax.set_title(text, fontsize="small")
    return fig


def table(result: last_layer.Result) -> pd.io.formats.style.Styler:
    """Per scenario: P, the rank of the Gram matrix, both training accuracies and their agreement on the box."""
    frame = pd.DataFrame({
        "scenario": result.scenarios,
        "P": result.parameters,
        "rank of the Gram matrix": result.rank,
        "network accuracy": result.network_accuracy,
        "SVM accuracy": result.svm_accuracy,
        "same sign on the box": result.agreement,
    })
    return frame.style.hide(axis="index").format({c: "{:.0%}" for c in ["network accuracy", "SVM accuracy",
                                                                        "same sign on the box"]})
