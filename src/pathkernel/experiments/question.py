"""Chapter "The question": fill a boundary back in, by the parity scan and by flood fill.

Random shapes (`pathkernel.data.planar2d.random_shape`), their boundaries, and the two
fills: flood fill from the image border, and the row parity scan of Eq. (10) of
Courtois, Morel & Arias. Two hand-built thin outlines show when the parity scan is right
(a digital diamond: every row crosses it in 1-pixel runs, its tips are runs of 2) and
when it is not (a rectangle of odd width: its top and bottom rows are tangent runs of
odd length).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.data.planar2d import boundary, fill_flood, fill_parity, random_shape
from pathkernel.experiments import Presets, check_device


@dataclass(frozen=True)
class Config(Presets):
    """Image size and number of random shapes over which the two fills are scored."""

    scale: str
    size: int
    n_shapes: int
    thin_size: int = 24
    sources: ClassVar[dict[str, str]] = {
        "size": "Morel talk: first data set, images of size 128x128 (S1 §6.2.1 lost its own size)",
        "n_shapes": "Morel talk: first data set, 1,115 training images",
        "thin_size": "ours: the papers draw no thin outlines; 24 pixels holds the diamond and the rectangle "
                     "and keeps their runs visible",
    }

    def __post_init__(self) -> None:
        if self.n_shapes < 1:
            raise ValueError(f"n_shapes={self.n_shapes} must be >= 1")
        if self.thin_size < 16:
            raise ValueError(f"thin_size={self.thin_size} must be >= 16 to hold the outlines")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", size=64, n_shapes=200)

    @classmethod
    def paper(cls) -> "Config":
        """The talk's first data set: 1,115 training images of 128 x 128 (Morel 2021)."""
        return cls(scale="paper", size=128, n_shapes=1115)


@dataclass
class Result:
    """The first shape in full, two thin outlines, and scores over all shapes.

    shape, edge, flood, parity: (size, size) bool images of the first shape (seed
    `seed * n_shapes`), its 8-neighbour boundary and the two fills of that boundary.
    diamond_* and rectangle_*: (thin_size, thin_size) bool images of a thin outline
    (`_edge`, the 4-neighbour boundary), its filling (`_shape`) and the parity fill of the
    outline (`_parity`). flood_exact: fraction of shapes that flood fill recovers exactly
    from both boundaries. parity_exact, parity_exact_thin: the same for the parity scan
    of the 8- and 4-neighbour boundaries; parity_wrong, parity_wrong_thin: (n_shapes,)
    its wrong pixels per image. shape_area: (n_shapes,) pixels per shape.
    """

    config: Config
    shape: np.ndarray
    edge: np.ndarray
    flood: np.ndarray
    parity: np.ndarray
    diamond_edge: np.ndarray
    diamond_shape: np.ndarray
    diamond_parity: np.ndarray
    rectangle_edge: np.ndarray
    rectangle_shape: np.ndarray
    rectangle_parity: np.ndarray
    flood_exact: float
    parity_exact: float
    parity_exact_thin: float
    parity_wrong: np.ndarray
    parity_wrong_thin: np.ndarray
    shape_area: np.ndarray


def diamond(size: int, half: int) -> np.ndarray:
    """Filled digital diamond |i - c| + |j - c - 1/2| <= half + 1/2 centred near the middle.

    Its boundary is a 1-pixel-thin 8-connected curve: one pixel on each side of every row,
    except the top and bottom rows, which are runs of two pixels.
    """
    c = size // 2 - 1
    i, j = np.mgrid[0:size, 0:size]
    return np.abs(i - c) + np.abs(j - c - 0.5) <= half + 0.5


def rectangle(size: int, top: int, left: int, height: int, width: int) -> np.ndarray:
    """Filled axis-aligned rectangle of the given height and width (pixels)."""
    image = np.zeros((size, size), dtype=bool)
    image[top : top + height, left : left + width] = True
    return image


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Fill the boundaries of `n_shapes` random shapes both ways and score them.

    numpy and scipy only: `device` is checked (the signature every experiment shares), the
    computation stays on the CPU."""
    check_device(device)
    wrong, wrong_thin, area, flood_ok = [], [], [], []
    for k in range(config.n_shapes):
        shape = random_shape(config.size, seed=seed * config.n_shapes + k)
        edge, thin = boundary(shape), boundary(shape, neighbours=4)
        flood, parity = fill_flood(edge), fill_parity(edge)
        if k == 0:
            first = {"shape": shape, "edge": edge, "flood": flood, "parity": parity}
        flood_ok.append(np.array_equal(flood, shape) and np.array_equal(fill_flood(thin), shape))
        wrong.append(int((parity != shape).sum()))
        wrong_thin.append(int((fill_parity(thin) != shape).sum()))
        area.append(int(shape.sum()))
    s = config.thin_size
    outlines = {}
    for name, filled in [("diamond", diamond(s, s // 2 - 3)), ("rectangle", rectangle(s, 5, 4, s - 10, (s - 10) | 1))]:
        edge = boundary(filled, neighbours=4)
        outlines |= {f"{name}_edge": edge, f"{name}_shape": filled, f"{name}_parity": fill_parity(edge)}
    wrong, wrong_thin = np.asarray(wrong), np.asarray(wrong_thin)
    return Result(config=config, **first, **outlines, flood_exact=float(np.mean(flood_ok)),
                  parity_exact=float(np.mean(wrong == 0)), parity_exact_thin=float(np.mean(wrong_thin == 0)),
                  parity_wrong=wrong, parity_wrong_thin=wrong_thin, shape_area=np.asarray(area))


def wrong_fraction(result: Result, *, thin: bool = False) -> float:
    """Mean over the shapes of the parity scan's wrong pixels divided by the shape's area, from the
    8-neighbour boundaries (`parity_wrong`) or, with thin=True, the 4-neighbour ones."""
    wrong = result.parity_wrong_thin if thin else result.parity_wrong
    return float(np.mean(wrong / result.shape_area))


def numbers(result: Result) -> dict[str, str | int]:
    """The chapter's numbers, by glue name: the scale, the number of shapes, the percentages of
    shapes that flood fill and the parity scan (thick and thin boundaries) recover exactly, and the
    parity scan's `wrong_fraction` (thick boundaries) in per cent."""
    return {
        "question-scale": result.config.scale,
        "question-n": result.config.n_shapes,
        "question-flood": f"{100 * result.flood_exact:.0f}%",
        "question-parity": f"{100 * result.parity_exact:.0f}%",
        "question-parity-thin": f"{100 * result.parity_exact_thin:.0f}%",
        "question-wrong": f"{100 * wrong_fraction(result):.0f}%",
    }
