"""Panels shared by the planar classification chapters (ball_sphere, separable): sign regions, points, neighbours."""

from __future__ import annotations

import numpy as np

from pathkernel.plots._style import PALETTE


CLASS_COLOURS = {-1: PALETTE[0], 1: PALETTE[1]}


def sign_regions(ax, result_x, result_y, values, *, line_colour="0.2", shade=True) -> None:
    """Sign regions of `values` (grid, grid) on the axes gx, gy and their zero level line."""
    if shade:
        ax.contourf(result_x, result_y, np.sign(values), levels=[-2, 0, 2],
                    colors=[CLASS_COLOURS[-1], CLASS_COLOURS[1]], alpha=0.18)
    ax.contour(result_x, result_y, values, levels=[0], colors=line_colour, linewidths=1.4)


def class_points(ax, x: np.ndarray, y: np.ndarray, *, size: float = 10, alpha: float = 1.0) -> None:
    for label, name in ((-1, "class -1"), (1, "class +1")):
        mask = y == label
        ax.scatter(x[mask, 0], x[mask, 1], s=size, color=CLASS_COLOURS[label], edgecolors="0.3", linewidths=0.2,
                   alpha=alpha, label=name)


def square_axes(ax, extent: float) -> None:
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.tick_params(labelsize="x-small")


def neighbour_panel(ax, x, y, query, neighbours, *, by_label: bool) -> None:
    """Training points in light grey, the neighbours of `query` highlighted, the query as a star."""
    ax.scatter(x[:, 0], x[:, 1], s=5, color="0.82", linewidths=0)
    chosen = x[neighbours]
    if by_label:
        labels = y[neighbours]
        for label in (-1, 1):
            ax.scatter(chosen[labels == label, 0], chosen[labels == label, 1], s=12, color=CLASS_COLOURS[label],
                       edgecolors="0.2", linewidths=0.3)
    else:
        ax.scatter(chosen[:, 0], chosen[:, 1], s=12, color=PALETTE[2], edgecolors="0.2", linewidths=0.3)
    ax.scatter([query[0]], [query[1]], marker="*", s=170, color="crimson", edgecolors="white", linewidths=0.8,
               zorder=5)
