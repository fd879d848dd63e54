"""Figures of the chapter "Planar topology in 1D: an exact structure that training does not find" (notebooks/parity_1d.md), drawn from `experiments.parity_1d` and `experiments.parity_rates`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pathkernel.experiments import parity_1d, parity_rates
from pathkernel.plots._declare import figure
from pathkernel.plots._style import PALETTE, style, ticks_at


@figure("fig-parity1d-levels", parity_1d)
def levels(result: parity_1d.Result) -> Figure:
    """The exact ParityNet level by level: block parities down the encoder, prefix parities up the decoder."""
    style()
    p = result.block_parity.shape[0] - 1
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 5.2), layout="constrained", sharex=True)
    for ax, image, name, rows in ((axes[0], result.block_parity, "encoder: $s^m$", range(p + 1)),
                                  (axes[1], result.prefix_levels[::-1], "decoder: $t^m$", range(p, -1, -1))):
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=1.6, interpolation="nearest", aspect="auto")
        ax.set_yticks(range(p + 1), labels=[f"$m = {m}$" for m in rows], fontsize="small")
        ax.grid(False)
        for j in np.flatnonzero(result.example):
            ax.axvline(j, color=PALETTE[3], lw=1.0, alpha=0.6)
        ax.set_title(name, fontsize="medium")
    axes[0].set_title("encoder: $s^m$ (block parities; $s^0 = x$, red lines: the ones of $x$)", fontsize="medium")
    axes[1].set_title("decoder: $t^m$ (parity up to each block's end; $t^0$ = Eq. 10)", fontsize="medium")
    axes[1].set_xlabel("position $j$")
    return fig


@figure("fig-parity1d-training", parity_1d)
def training(result: parity_1d.Result) -> Figure:
    """ParityNet trained from random init and with inserted convolutions: losses, pixel error on Omega_(n,k') for unseen k'."""
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 4.0), layout="constrained")
    steps = np.arange(1, result.random_loss.shape[1] + 1)
    runs = (("exact architecture, random init", result.random_loss, result.random_error, PALETTE[0], "o"),
            ("with inserted convolutions, random init", result.extra_loss, result.extra_error, PALETTE[1], "s"),
            (f"exact architecture, $w^* + {result.sigmas[0]:g}\\,\\epsilon$", None, result.noise_error[0],
             PALETTE[2], "^"))
    for name, losses, errors, colour, marker in runs:
        if losses is not None:
            for r, curve in enumerate(losses):
                left.semilogy(steps, curve, color=colour, lw=1.2, alpha=0.8, label=name if r == 0 else None)
        for r, row in enumerate(errors):
            right.plot(result.k_eval, np.maximum(row, 1e-4), marker=marker, color=colour, alpha=0.8, lw=1,
                       label=name if r == 0 else None)
    left.set_xlabel("step")
    left.set_ylabel("training loss (MSE)")
    left.legend(fontsize="x-small")
    right.set_yscale("log")
    right.axvline(result.config.k_train, color="0.5", ls=":", lw=1)
    right.text(result.config.k_train, 0.6, " trained on this $k$", fontsize="x-small", color="0.4")
    right.axhline(1e-4, color="0.7", lw=0.8)
    right.set_xticks(result.k_eval)
    right.set_xlabel("number of ones $k'$ of the evaluation set $\\Omega_{n,k'}$")
    right.set_ylabel("pixel error (0 drawn at $10^{-4}$)")
    right.legend(fontsize="x-small", loc="lower right")
    return fig


@figure("fig-parity1d-noise", parity_1d)
def noise(result: parity_1d.Result) -> Figure:
    """ParityNet trained from w* + sigma noise: fraction of exact runs and unseen-k' error against sigma, enlarged kernel beside."""
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.9), layout="constrained")
    unseen = result.k_eval != result.config.k_train
    for name, exact, errors, colour in (
            ("exact architecture", result.noise_exact, result.noise_error, PALETTE[0]),
            (f"first kernel of size {result.config.wide_kernel}", result.wide_exact, result.wide_error, PALETTE[1])):
        left.semilogx(result.sigmas, exact.mean(axis=1), "o-", color=colour, label=name)
        right.loglog(result.sigmas, np.maximum(errors[:, :, unseen].mean(axis=(1, 2)), 1e-4), "o-", color=colour,
                     label=f"{name}, trained")
    right.loglog(result.sigmas, np.maximum(result.init_error[:, unseen].mean(axis=1), 1e-4), "x--", color="0.4",
                 label="exact architecture, before training")
    for ax in (left, right):
        ticks_at(ax.xaxis, result.sigmas)
    left.set_ylim(-0.05, 1.05)
    left.set_xlabel("noise $\\sigma$ of the initialization $w^* + \\sigma \\epsilon$")
    left.set_ylabel(f"fraction of {result.config.seeds} seeds ending exact")
    left.legend(fontsize="x-small")
    right.set_xlabel("noise $\\sigma$")
    right.set_ylabel("mean pixel error on unseen $k'$ (0 at $10^{-4}$)")
    right.legend(fontsize="x-small")
    return fig


@figure("fig-parity1d-rates", parity_rates)
def rates(result: parity_rates.Result) -> Figure:
    """Success rate (Wilson 95% interval) and unseen-k' pixel error of the four trainings on S1's prefix structure and on ours."""
    style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.9), layout="constrained")
    config, unseen = result.config, result.unseen
    labels = {"random": "random init", "noise": f"$w^* + {config.sigma:g}\\,\\epsilon$",
              "wide": f"kernel {config.wide_kernel},\n$w^* + {config.sigma:g}\\,\\epsilon$",
              "extra": f"{config.extra_convs} inserted conv,\nrandom init"}
    names = {"s1": "S1's prefix structure (reconstructed)", "ours": "our encoder-decoder"}
    where = np.arange(len(parity_rates.VARIANTS))
    for a, (architecture, colour, shift) in enumerate(zip(parity_rates.ARCHITECTURES, PALETTE, (-0.12, 0.12))):
        found = np.array([result.interval(architecture, variant) for variant in parity_rates.VARIANTS])
        rate = found[:, 0] / config.seeds
        left.errorbar(where + shift, rate, yerr=np.clip([rate - found[:, 1], found[:, 2] - rate], 0, None), fmt="o", color=colour,
                      capsize=3, label=names[architecture])
        errors = result.error[a][..., unseen].mean(axis=-1)           # (V, R)
        for v in range(len(where)):
            right.plot(np.full(config.seeds, where[v] + shift), np.maximum(errors[v], 1e-4), "o", color=colour,
                       alpha=0.6, ms=4, label=names[architecture] if v == 0 else None)
    right.axhline(result.chance[unseen].mean(), color="0.5", ls="--", lw=1)
    right.text(where[0] - 0.3, result.chance[unseen].mean() * 1.15, "best constant output", fontsize="x-small", color="0.4")
    right.set_yscale("log")
    for ax in (left, right):
        ax.set_xticks(where, labels=[labels[v] for v in parity_rates.VARIANTS], fontsize="x-small")
    left.set_ylim(-0.05, 1.05)
    left.set_ylabel(f"exact runs / {config.seeds} seeds (95% CI)")
    left.legend(fontsize="x-small")
    right.set_ylabel("mean pixel error on unseen $k'$ (0 at $10^{-4}$)")
    right.legend(fontsize="x-small", loc="lower left")
    return fig


def table(result: parity_1d.Result) -> pd.io.formats.style.Styler:
    """Per training setting: the number of exact runs and the mean pixel error on the unseen k'."""
    config, unseen = result.config, result.unseen
    frame = pd.DataFrame({
        "setting": ["random init", f"random init, {config.extra_convs} inserted convs"]
        + [f"w* + {s:g} eps" for s in config.sigmas] + [f"w* + {s:g} eps, kernel {config.wide_kernel}" for s in config.sigmas],
        "exact runs": np.concatenate([[result.random_exact.sum(), result.extra_exact.sum()],
                                      result.noise_exact.sum(1), result.wide_exact.sum(1)]),
        "mean error, unseen k'": np.concatenate([[result.random_error[:, unseen].mean(), result.extra_error[:, unseen].mean()],
                                                result.noise_error[..., unseen].mean((1, 2)),
                                                result.wide_error[..., unseen].mean((1, 2))]),
    })
    return frame.style.hide(axis="index").format({"mean error, unseen k'": "{:.4f}"})
