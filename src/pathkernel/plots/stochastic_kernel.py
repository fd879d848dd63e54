"""Figures of the chapter "SGD as a diffusion" (notebooks/stochastic_kernel.md), drawn from
`experiments.stochastic_kernel.weak_order`, `.ito_term` and `.momentum`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from pathkernel.experiments.stochastic_kernel import ito_term, momentum, weak_order
from pathkernel.plots._declare import figure
from pathkernel.plots._style import PALETTE, style


@figure("fig-stochastickernel-weak", weak_order)
def weak(result: weak_order.Result) -> Figure:
    """First weak order: E L(W_T) of SGD, of its SDE and of gradient flow against the learning rate, and
    the gaps, exact (linear regression) and from ensembles with 95% intervals."""
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.8), layout="constrained")
    lrs = np.array(result.config.lrs)
    left.errorbar(lrs, result.sgd, yerr=1.96 * result.sgd_se, fmt="o", color=PALETTE[0], label="SGD ensemble")
    left.errorbar(lrs, result.sde, yerr=1.96 * result.sde_se, fmt="s", color=PALETTE[1], label="SDE ensemble (Euler-Maruyama)")
    gap = np.abs(result.sgd - result.sde)
    right.errorbar(lrs, gap, yerr=1.96 * np.hypot(result.sgd_se, result.sde_se), fmt="o", color=PALETTE[0],
                   label="|SGD - SDE|, ensembles")
    if len(result.curve_sgd):
        exact = np.array(result.config.exact_lrs)
        left.plot(exact, result.curve_sgd, color=PALETTE[0], lw=1, label="SGD, exact")
        left.plot(exact, result.curve_sde, color=PALETTE[1], lw=1, label="SDE, exact")
        left.plot(exact, result.curve_flow, color="0.3", lw=1, ls="--", label="gradient flow")
        right.plot(exact, np.abs(result.curve_sgd - result.curve_sde), color=PALETTE[1], label="|SGD - SDE|, exact")
        right.plot(exact, np.abs(result.curve_sgd - result.curve_flow), color="0.3", ls="--",
                   label="|SGD - gradient flow|, exact")
        gap = np.abs(result.curve_sgd - result.curve_sde)
        lrs = exact
    right.plot(lrs, gap[0] * lrs / lrs[0], color="k", lw=0.8, ls=":", label="slope 1")
    left.set_xscale("log")
    left.set_ylabel(r"$\mathbb{E}\, L(W_T)$")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_ylabel("gap of the expectations")
    for ax in (left, right):
        ax.set_xlabel(r"learning rate $\eta$")
        ax.legend(fontsize="x-small")
    return fig


@figure("fig-stochastickernel-ito", ito_term)
def ito(result: ito_term.Result) -> Figure:
    """The Ito term of E f(x, W_T) against its first-order prediction and the kernel term, as the
    learning rate and the batch size vary, per query (magnitudes on the left, a log axis)."""
    style()
    c = result.config
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.8), layout="constrained")
    lrs, bs = np.array(c.lrs)[:, None], np.array(c.batch_sizes)[None, :]
    scale = (lrs * (c.n - bs) / ((c.n - 1) * bs)).ravel()
    keep = scale > 0
    line = np.geomspace(scale[keep].min(), scale[keep].max(), 20)
    markers = "os^vD<>"
    for q, query in enumerate(c.queries):
        color = PALETTE[q % len(PALETTE)]
        values, errors = np.abs(result.ito[..., q].ravel()[keep]), 1.96 * result.ito_se[..., q].ravel()[keep]
        left.errorbar(scale[keep], values, yerr=(np.minimum(errors, 0.9 * np.abs(values)), errors),
                      fmt=markers[q % len(markers)], color=color, ms=4, label=f"Ito term, $x = {query:g}$")
        left.plot(line, line * abs(result.j[q]), color=color, lw=0.8)
        left.axhline(abs(result.gd_kernel[q]), color=color, ls="--", lw=0.8)
        right.plot(scale[keep], result.first_order[..., q].ravel()[keep], markers[q % len(markers)], color=color, ms=4,
                   label=f"$x = {query:g}$")
    left.plot([], [], color="0.3", lw=0.8, label=r"first order $\eta c_B |J(x)|$")
    left.plot([], [], color="0.3", ls="--", lw=0.8, label="|kernel term| along gradient flow")
    right.axhline(1.0, color="0.3", lw=0.8)
    left.set_yscale("log")
    left.set_ylim(top=20 * max(np.abs(result.gd_kernel).max(), np.nanmax(np.abs(result.ito))))
    left.set_ylabel(r"$|\frac{\eta}{2}\,\mathbb{E}\int_0^T \mathrm{tr}(\Sigma_B \nabla^2_w f)\, ds|$")
    right.set_ylabel("Ito term / first-order prediction")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel(r"$\eta\, c_B$, $c_B = (n - B)/((n - 1) B)$")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize="x-small", loc="upper left" if ax is left else "lower left")
    return fig


@figure("fig-stochastickernel-momentum", momentum)
def memory(result: momentum.Result) -> Figure:
    """Momentum: per query and noise level, the noise term of the change of the output against the
    theorem's memory term that stands for its expectation, beside the kernel term."""
    style()
    c = result.config
    fig, axes = plt.subplots(1, len(c.lrs), figsize=(3.4 * len(c.lrs) + 1.0, 3.6), layout="constrained", sharey=True)
    positions = np.arange(len(c.queries))
    shown = (("kernel", "-kernel term", -1.0), ("noise", "noise term (control variate)", 1.0),
             ("memory", "memory term (theorem)", 1.0))
    for ax, a in zip(np.atleast_1d(axes), range(len(c.lrs))):
        for j, (term, label, sign) in enumerate(shown):
            ax.bar(positions + (j - 1) * 0.27, sign * result.mean[term][a], width=0.25, color=PALETTE[j], label=label,
                   yerr=1.96 * result.se[term][a], capsize=2)
        ax.axhline(0, color="0.3", lw=0.6)
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_xticks(positions, [f"$x = {q:g}$" for q in c.queries])
        ax.set_title(rf"$\eta = {c.lrs[a]:g}$", fontsize="medium")
    np.atleast_1d(axes)[0].set_ylabel("contribution to $f(W_T, x) - f(w_0, x)$")
    fig.legend(*np.atleast_1d(axes)[0].get_legend_handles_labels(), fontsize="small", loc="outside lower center", ncols=3)
    return fig
