"""Figures and tables of the chapter "Which training examples made this prediction?" (notebooks/attribution.md), drawn from `experiments.attribution`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pathkernel.experiments import attribution
from pathkernel.plots._declare import figure
from pathkernel.plots._style import PALETTE, style


def _digit_panel(ax, image: np.ndarray, title: str, edge) -> None:
    ax.imshow(image, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize="x-small")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color(edge)
        spine.set_linewidth(2.5)


@figure("fig-attribution-examples", attribution)
def examples(result: attribution.Result) -> Figure:
    """Test digits and the training digits that pushed their predicted logit up and down most (exact, Adam CNN)."""
    style()
    m, k = result.proponents.shape
    fig, axes = plt.subplots(m, 2 * k + 1, figsize=(0.95 * (2 * k + 1), 1.35 * m), layout="constrained",
                             squeeze=False)
    for j in range(m):
        verdict = "mistake" if result.mistake[j] else "correct"
        _digit_panel(axes[j, 0], result.query_images[j],
                     f"label {result.query_labels[j]}, says {result.predicted[j]}\n({verdict})", "0.2")
        for col, (index, value, edge) in enumerate(
            [(i, v, PALETTE[2]) for i, v in zip(result.proponents[j], result.proponent_contributions[j])]
            + [(i, v, PALETTE[3]) for i, v in zip(result.opponents[j], result.opponent_contributions[j])]
        ):
            _digit_panel(axes[j, col + 1], result.train_images[index],
                         f"{value:+.2f}\nlabel {result.train_labels[index]}", edge)
    fig.suptitle(f"test digit, then its {k} strongest proponents (green: push the predicted logit up) "
                 f"and {k} strongest opponents (red: push it down)", fontsize="small")
    return fig


@figure("fig-attribution-tracin", attribution)
def tracin(result: attribution.Result) -> Figure:
    """TracIn-CP against the exact contributions: scores of one digit, rank agreement against the number of checkpoints."""
    style()
    fig, (scatter, agree) = plt.subplots(1, 2, figsize=(10.0, 4.0), layout="constrained")
    exact, tracin = result.contributions[0], result.tracin[0]
    disagree = np.sign(exact) != np.sign(tracin)
    scatter.scatter(exact[~disagree], tracin[~disagree], s=9, color=PALETTE[0], label="same sign")
    scatter.scatter(exact[disagree], tracin[disagree], s=9, color=PALETTE[3], label="opposite sign")
    scatter.axhline(0, color="0.4", lw=0.8)
    scatter.axvline(0, color="0.4", lw=0.8)
    scatter.set_xlabel("exact contribution to the logit")
    scatter.set_ylabel(f"TracIn-CP, {result.checkpoint_counts[-1]} checkpoints")
    scatter.set_title(f"test digit {result.query_labels[0]}: one dot per training digit", fontsize="small")
    scatter.legend(fontsize="x-small")
    counts = result.checkpoint_counts
    agree.semilogx(counts, result.spearman, "o-", color=PALETTE[0], label="Spearman correlation")
    agree.semilogx(counts, result.overlap, "s-", color=PALETTE[2], label=f"top-{result.config.k} overlap")
    agree.semilogx(counts, result.sign_agreement, "^-", color=PALETTE[1], label="sign agreement")
    agree.axvline(result.steps, color="0.6", ls=":", lw=1, label=f"every step ({result.steps})")
    agree.set_ylim(-0.05, 1.05)
    agree.set_xlabel("TracIn checkpoints C")
    agree.set_ylabel(f"agreement with exact (mean of {len(result.predicted)} digits)")
    agree.legend(fontsize="x-small", loc="lower right")
    return fig


def additivity_table(result: attribution.Result) -> pd.DataFrame:
    """The closing check per explained digit: initial logit, sum of the contributions, weight decay's
    term, their sum and the trained logit."""
    return pd.DataFrame({
        "label": result.query_labels, "predicted": result.predicted,
        "f(θ_0, x)": result.initial, "Σ_i c_i(x)": result.contributions.sum(1),
        "weight decay r(x)": result.regularization,
        "sum": result.initial + result.contributions.sum(1) + result.regularization,
        "f(θ_T, x)": result.prediction,
    })


def tracin_table(result: attribution.Result) -> pd.DataFrame:
    """Per number of TracIn checkpoints: agreement with the exact contributions, sum ratio, time."""
    return pd.DataFrame({
        "checkpoints": result.checkpoint_counts, "Spearman": result.spearman,
        f"top-{result.config.k} overlap": result.overlap, "same sign": result.sign_agreement,
        "Σ TracIn / Σ exact": result.tracin_sum_ratio, "TracIn seconds": result.tracin_seconds,
    }).round(3)


def scale_table(bench: dict) -> pd.DataFrame:
    """The committed 1M-parameter benchmark (`attribution.load_benchmark()`), one row per storage
    mode and dtype (`attribution.scale_rows`), rounded to two decimals."""
    return pd.DataFrame(attribution.scale_rows(bench)).set_index(["storage", "dtype"]).round(2)
