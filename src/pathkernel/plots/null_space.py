"""Figures of the chapter "What a kernel machine cannot learn" (notebooks/null_space.md), drawn from
`experiments.null_space.theorem` and `experiments.null_space.training`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from pathkernel.experiments.null_space import theorem, training
from pathkernel.plots._declare import figure
from pathkernel.plots._style import PALETTE, style

#: how each kernel of `training.KERNELS` is named in the legends
KERNEL_LABELS = {"initial": r"tangent kernel at $w_0$", "current": r"tangent kernel at $w_t$",
                 "path": r"path kernel $\sum_k \eta K_{w_k}$"}


@figure("fig-nullspace-theorem", theorem)
def bound(result: theorem.Result) -> Figure:
    """A fixed kernel: the test error never goes below the energy it cannot reach, and on the whole
    sample it follows the spectral formula."""
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.8), layout="constrained", sharey=True)
    steps = np.arange(1, len(result.errors_subset))  # k >= 1, on a log axis
    left.plot(steps, result.errors_subset[1:], color=PALETTE[0], label=f"test error, trained on {result.n_train} points")
    left.axhline(result.bound, color="0.3", ls="--", lw=1,
                 label=r"bound $\|(I - \Pi_X)(y - f_0)\|^2_\mu$")
    left.set_title("trained on a quarter of the grid", fontsize="medium")
    right.plot(steps, result.errors_full[1:], color=PALETTE[1], lw=3, alpha=0.5, label="test error, trained on the grid")
    right.plot(steps, result.formula_full[1:], color="k", lw=1, ls=":", label="spectral formula")
    right.step(steps, result.outside_learned[1:], where="post", color=PALETTE[2], lw=1,
               label=r"energy outside the eigenspaces with $2\eta k\lambda_j \geq 1$")
    right.set_title("trained on the whole grid", fontsize="medium")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("gradient descent step $k$")
        ax.legend(fontsize="small", loc="lower left")
    left.set_ylabel(r"$\|f_k - y\|^2_\mu$")
    return fig


@figure("fig-nullspace-spectra", training)
def spectra(result: training.Result) -> Figure:
    """Energy of the target left outside the k leading eigenspaces of each kernel's operator, per task,
    beside the trained network's test error."""
    style()
    tasks = result.config.tasks
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.0 * len(tasks), 3.4), layout="constrained", sharey=True)
    k = np.arange(result.outside.shape[2])
    for t, (ax, name) in enumerate(zip(np.atleast_1d(axes), tasks)):
        for j, kernel in enumerate(training.KERNELS):
            ax.plot(k, np.maximum(result.outside[t, j] / result.energy[t], 1e-16), color=PALETTE[j],
                    label=KERNEL_LABELS[kernel])
        ax.axhline(result.test_error[t, -1] / result.energy[t], color="0.3", ls="--", lw=1, label="test error at the end")
        ax.set_yscale("log")
        ax.set_ylim(1e-16, 2)
        ax.set_xlim(0, min(k[-1], 40))
        ax.set_title(name, fontsize="medium")
        ax.set_xlabel("leading eigenspaces $k$")
    np.atleast_1d(axes)[0].set_ylabel(r"energy of $y - f_0$ outside, $/ \|y - f_0\|^2_\mu$")
    np.atleast_1d(axes)[0].legend(fontsize="x-small", loc="lower left")
    return fig


@figure("fig-nullspace-error", training)
def error(result: training.Result) -> Figure:
    """Test error along training against the energy the path kernel cannot reach from the training
    inputs, for every task and checkpoint."""
    style()
    fig, ax = plt.subplots(figsize=(5.6, 4.6), layout="constrained")
    path = result.unreachable[:, :, training.KERNELS.index("path")]
    sizes = 12 + 60 * np.linspace(0, 1, len(result.config.checkpoints))
    for t, name in enumerate(result.config.tasks):
        ax.scatter(np.maximum(path[t], 1e-16), result.test_error[t], s=sizes, color=PALETTE[t], alpha=0.8,
                   label=name, edgecolor="white", linewidth=0.5)
    lims = [1e-14, 2.0]
    ax.plot(lims, lims, color="0.3", lw=0.8, ls="--", label="error = unreachable energy (a fixed kernel's bound)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*lims)
    ax.set_xlabel(r"unreachable energy $\|(I - \Pi_X)(y - f_0)\|^2_\mu$, path kernel at $t$")
    ax.set_ylabel(r"test error $\|f_t - y\|^2_\mu$ (marker size: step $t$)")
    ax.legend(fontsize="small", loc="lower right")
    return fig
