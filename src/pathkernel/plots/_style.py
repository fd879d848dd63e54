"""The book's figure style: one palette, one seaborn theme, and the small axis helpers every chapter uses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import seaborn as sns
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.axis import Axis
from matplotlib.ticker import NullFormatter




PALETTE = sns.color_palette("colorblind")


def style() -> None:
    """The book's plotting style (seaborn whitegrid, colorblind palette)."""
    sns.set_theme(style="whitegrid", palette="colorblind", context="notebook")


def machine_epsilon(ax: Axes, **line) -> None:
    """A dotted horizontal line at float64's machine epsilon, the floor of the exact forms."""
    ax.axhline(np.finfo(np.float64).eps, color="0.5", ls=":", lw=1, **line)


def ticks_at(axis: Axis, values: Sequence[float]) -> None:
    """Label a log axis at the sampled values (``:g``) only: no minor labels in between."""
    axis.set_minor_formatter(NullFormatter())
    axis.set_ticks(values, labels=[f"{v:g}" for v in values])


def image_panel(ax, image: np.ndarray, title: str) -> None:
    if image.ndim == 2:
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=1.6, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_title(title, fontsize="medium")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("0.6")


def placeholder(message: str) -> Figure:
    """A small figure that says, in words, why a figure is not drawn (a stored run is missing)."""
    fig, ax = plt.subplots(figsize=(6.4, 1.6))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize="medium")
    return fig
