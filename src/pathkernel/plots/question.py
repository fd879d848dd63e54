"""Figures of the chapter "The question" (notebooks/question.md), drawn from `experiments.question`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pathkernel.experiments import question
from pathkernel.plots._declare import figure
from pathkernel.plots._style import PALETTE, image_panel, style


def _fill_errors_rgb(filled: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """RGB image of a fill: inside grey, outside white, wrongly inside / outside in colour."""
    rgb = np.ones(filled.shape + (3,))
    rgb[filled & truth] = 0.45
    rgb[filled & ~truth] = PALETTE[3]
    rgb[~filled & truth] = PALETTE[0]
    return rgb


def _error_legend(fig: Figure) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color="0.45", label="inside, right"), Patch(color=PALETTE[3], label="wrongly inside"),
               Patch(color=PALETTE[0], label="wrongly outside")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize="small", frameon=False)


@figure("fig-question-fill", question)
def fill(result: question.Result) -> Figure:
    """A random shape's boundary filled by flood fill (exact) and by the parity scan of Eq. 10 (wrong pixels)."""
    style()
    fig, axes = plt.subplots(1, 4, figsize=(11.0, 3.9), layout="constrained")
    wrong = int((result.parity != result.shape).sum())
    flood_wrong = int((result.flood != result.shape).sum())
    image_panel(axes[0], _fill_errors_rgb(result.shape, result.shape), "shape\n(the target)")
    image_panel(axes[1], result.edge, "boundary\n(the input)")
    image_panel(axes[2], _fill_errors_rgb(result.flood, result.shape), f"flood fill\n{flood_wrong} wrong pixels")
    image_panel(axes[3], _fill_errors_rgb(result.parity, result.shape), f"parity scan, Eq. (10)\n{wrong} wrong pixels")
    _error_legend(fig)
    return fig


@figure("fig-question-thin", question)
def thin(result: question.Result) -> Figure:
    """Parity scan on thin outlines: exact on a diamond, wrong on the tangent rows of an odd rectangle."""
    style()
    fig, axes = plt.subplots(1, 4, figsize=(11.0, 3.9), layout="constrained")
    for k, name in enumerate(("diamond", "rectangle")):
        edge, truth, parity = (getattr(result, f"{name}_{part}") for part in ("edge", "shape", "parity"))
        wrong = int((parity != truth).sum())
        image_panel(axes[2 * k], edge, f"thin {name} outline\n(the input)")
        image_panel(axes[2 * k + 1], _fill_errors_rgb(parity, truth), f"parity scan\n{wrong} wrong pixels")
    _error_legend(fig)
    return fig


def table(result: question.Result) -> pd.io.formats.style.Styler:
    """Per boundary (8- and 4-neighbour): the fraction of shapes that flood fill and the parity scan
    recover exactly, and the parity scan's wrong pixels per shape area (`question.wrong_fraction`)."""
    frame = pd.DataFrame({
        "boundary": ["8-neighbour (thick)", "4-neighbour (thin)"],
        "flood fill exact": [result.flood_exact] * 2,
        "parity scan exact": [result.parity_exact, result.parity_exact_thin],
        "parity: wrong pixels / shape area": [question.wrong_fraction(result), question.wrong_fraction(result, thin=True)],
    })
    return frame.style.hide(axis="index").format(precision=3)
