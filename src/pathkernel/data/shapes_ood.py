"""Shape-filling data sets: the training distribution and out-of-distribution suites.

Every generator draws a binary shape at twice the network's resolution (§6.2.1 of
Courtois, Morel & Arias) from a seed and a *complexity* parameter; `dataset` turns n of
them into the network's (input, target) pairs with `planar2d.network_pair` (boundary and
shape, Lanczos-filtered and down-sampled by 2).

* ``"training"`` (`training_shape`): one branched shape (`planar2d.branched_shape`) with
  1 to 4 strokes; the complexity is ignored.
* ``"shapes"``: that many disjoint branched shapes, one per cell of a square grid.
* ``"nesting"``: that many nested boundary curves (a blob, a blob with a hole, with an
  island in the hole, ...), concentric bands of a random smooth star shape. Flood fill
  fills the holes; the nesting-depth oracle `planar2d.fill_depth` does not.
* ``"spiral"``: a thick spiral stroke of that many turns, a long thin corridor.
* ``"maze"``: the corridors of a random maze on a grid of that many cells per side (a
  spanning tree of the grid: one simply connected shape of long, winding corridors).
* ``"branches"``: one branched shape with that many strokes (training: 1 to 4).
* ``"size"``: a training shape drawn on an image that many times larger (the network is
  convolutional, so it runs on any size divisible by 2**(scales - 1)).
"""

from __future__ import annotations

import math

import numpy as np

from pathkernel.data.planar2d import branched_shape, network_pair, rasterize_strokes, star_radius
from pathkernel.validation import finite_number, integer

SUITES = ("shapes", "nesting", "spiral", "maze", "branches", "size")
INTEGER_SUITES = ("shapes", "nesting", "maze", "branches")  # complexity counts something: a whole number
TRAINING_BRANCHES = (1, 4)


def training_shape(size: int, seed: int) -> np.ndarray:
    """A branched shape with 1 to 4 strokes (drawn from the seed), bool (size, size)."""
    seed = integer("seed", seed, low=0)
    branches = int(np.random.default_rng([seed, 1]).integers(TRAINING_BRANCHES[0], TRAINING_BRANCHES[1] + 1))
    return branched_shape(size, seed=seed, branches=branches)


def several_shapes(size: int, count: int, seed: int) -> np.ndarray:
    """`count` branched shapes in distinct random cells of a ceil(sqrt(count))^2 grid."""
    size = integer("size", size, low=16)
    count = integer("count", count)
    seed = integer("seed", seed, low=0)
    side = math.ceil(math.sqrt(count))
    cell = size // side
    if cell < 16:
        raise ValueError(f"count={count} shapes need cells of >= 16 pixels; size={size} gives {cell}")
    rng = np.random.default_rng([seed, 2])
    image = np.zeros((size, size), dtype=bool)
    offset = (size - side * cell) // 2
    for k, c in enumerate(rng.permutation(side * side)[:count]):
        row, col = offset + (c // side) * cell, offset + (c % side) * cell
        image[row : row + cell, col : col + cell] = training_shape(cell, seed=int(rng.integers(2**31)) + k)
    return image


def nested_shape(size: int, depth: int, seed: int, *, margin: int = 2) -> np.ndarray:
    """`depth` nested boundary curves: pixel inside when rho < R_k for an odd number of k.

    rho = ||p - c|| / r(theta) with r a random smooth star radius (`planar2d.star_radius`,
    3 harmonics, ``|r - 1| <= 0.25``) and R_k = R (depth - k) / depth, k = 0..depth-1, so every
    band is R / depth wide along each ray. depth=1 is a blob, 2 a blob with a hole, 3 adds
    an island in the hole, and so on.
    """
    size = integer("size", size, low=8)
    depth = integer("depth", depth)
    seed = integer("seed", seed, low=0)
    margin = integer("margin", margin, 0, size // 4)
    rng = np.random.default_rng([seed, 3])
    k = np.arange(1, 4)
    cos, sin = rng.normal(size=(2, 3)) / k
    grid = np.linspace(0, 2 * np.pi, 1024, endpoint=False)
    scale = 0.25 / np.abs(star_radius(grid, cos, sin) - 1).max()
    cos, sin = cos * scale, sin * scale
    centre = (size - 1) / 2 + rng.uniform(-0.05, 0.05, size=2) * size
    radius = ((size - 1) / 2 - margin - np.abs(centre - (size - 1) / 2).max() - 1) / 1.25
    if radius * 0.75 / depth < 5:
        raise ValueError(f"depth={depth} nested curves do not fit in size={size} (bands under 5 pixels)")
    i, j = np.mgrid[0:size, 0:size].astype(float)
    di, dj = i - centre[0], j - centre[1]
    rho = np.hypot(di, dj) / star_radius(np.arctan2(di, dj), cos, sin)
    crossings = sum((rho < radius * (depth - m) / depth).astype(int) for m in range(depth))
    return crossings % 2 == 1


def spiral_shape(size: int, turns: float, seed: int, *, margin: int = 2) -> np.ndarray:
    """A thick spiral stroke of `turns` turns, r(phi) = r0 + pitch phi / (2 pi).

    The stroke is 0.45 of the pitch wide (the corridor between its turns 0.55), so its
    half-width is pitch * 0.225 and the shape keeps `margin` pixels from the border;
    random rotation and sense from the seed.
    """
    size = integer("size", size, low=8)
    turns = finite_number("turns", turns, 0, 20, open_low=True)
    seed = integer("seed", seed, low=0)
    margin = integer("margin", margin, 0, size // 4)
    rng = np.random.default_rng([seed, 4])
    outer = (size - 1) / 2 - margin - 1
    pitch = outer / (turns + 0.5)
    r0 = 0.5 * pitch
    phi = np.linspace(0, 2 * np.pi * turns, max(16, int(64 * turns)))
    angle = rng.uniform(0, 2 * np.pi) + rng.choice([-1, 1]) * phi
    r = r0 + pitch * phi / (2 * np.pi) - 0.225 * pitch
    centre = (size - 1) / 2
    points = centre + np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
    half = np.full(len(points) - 1, max(0.225 * pitch, 1.0))
    return rasterize_strokes(size, points[:-1], points[1:], half)


def maze_shape(size: int, cells: int, seed: int, *, margin: int = 2) -> np.ndarray:
    """The corridors of a random maze on a cells x cells grid, bool (size, size).

    A randomized depth-first search from a random cell draws a spanning tree of the grid
    (the classic "recursive backtracker" maze); each tree edge is a corridor between two
    cell centres, half as wide as a cell (half-width cell / 4), so corridors and walls are
    equally thick. The shape is connected and simply connected, `margin` pixels off the border.
    """
    size = integer("size", size, low=8)
    cells = integer("cells", cells)
    seed = integer("seed", seed, low=0)
    margin = integer("margin", margin, 0, size // 4)
    cell = (size - 2 * margin - 2) / cells
    if cell < 8:
        raise ValueError(f"cells={cells} leaves cells of {cell:.1f} pixels in size={size}; expected >= 8")
    rng = np.random.default_rng([seed, 5])
    start = (int(rng.integers(cells)), int(rng.integers(cells)))
    seen, stack, edges = {start}, [start], []
    while stack:
        i, j = stack[-1]
        free = [(a, b) for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1))
                if 0 <= a < cells and 0 <= b < cells and (a, b) not in seen]
        if not free:
            stack.pop()
            continue
        nxt = free[rng.integers(len(free))]
        seen.add(nxt)
        edges.append(((i, j), nxt))
        stack.append(nxt)
    edges = np.array(edges or [(start, start)], dtype=float)  # (E, 2 ends, 2 coordinates)
    ends = margin + 1 + (edges + 0.5) * cell
    return rasterize_strokes(size, ends[:, 0], ends[:, 1], np.full(len(edges), cell / 4))


def suite_shape(suite: str, complexity: float, size: int, seed: int) -> np.ndarray:
    """One shape of `suite` (see `SUITES`) at the given complexity, drawn at `size` (bool).

    complexity: a finite number; a whole number (2 or 2.0, not 2.5) for the counting
    suites ``"shapes"``, ``"nesting"``, ``"maze"`` and ``"branches"``; ignored by ``"training"``.
    """
    complexity = _check_complexity(suite, complexity)
    if suite == "shapes":
        return several_shapes(size, int(complexity), seed)
    if suite == "nesting":
        return nested_shape(size, int(complexity), seed)
    if suite == "spiral":
        return spiral_shape(size, float(complexity), seed)
    if suite == "maze":
        return maze_shape(size, int(complexity), seed)
    if suite == "branches":
        return branched_shape(size, seed=seed, branches=int(complexity))
    if suite == "size":
        return training_shape(int(round(size * complexity)), seed)
    if suite == "training":
        return training_shape(size, seed)
    raise ValueError(f"suite={suite!r}; expected 'training' or one of {SUITES}")


def _check_complexity(suite: str, complexity: float) -> float:
    """`complexity` as a float after the checks of `suite_shape` (ValueError naming it)."""
    if not isinstance(suite, str) or suite not in (*SUITES, "training"):
        raise ValueError(f"suite={suite!r}; expected 'training' or one of {SUITES}")
    complexity = finite_number("complexity", complexity)
    if suite in INTEGER_SUITES and complexity != int(complexity):
        raise ValueError(f"complexity={complexity!r} for suite {suite!r} counts {_COUNTS[suite]}; "
                         f"expected a whole number")
    if suite == "size" and complexity <= 0:
        raise ValueError(f"complexity={complexity!r} for suite 'size' is an image scale; expected > 0")
    return complexity


_COUNTS = {"shapes": "shapes", "nesting": "nested curves", "maze": "cells per side", "branches": "strokes"}


def dataset(suite: str, complexity: float, n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n shapes of a suite as the network sees them.

    Returns inputs, targets (n, 1, s, s) float32 in [0, 1] (`planar2d.network_pair` of
    shapes drawn at 2 s) and the binary shapes (n, 2 s, 2 s), with s = size (times the
    complexity for the "size" suite). Shape k has seed ``seed * 1_000_003 + k``.
    """
    n = integer("n", n)
    size = integer("size", size, low=8)
    seed = integer("seed", seed, low=0)
    _check_complexity(suite, complexity)
    shapes = np.stack([suite_shape(suite, complexity, 2 * size, seed * 1_000_003 + k) for k in range(n)])
    pairs = [network_pair(shape) for shape in shapes]
    inputs = np.stack([p[0] for p in pairs])[:, None]
    targets = np.stack([p[1] for p in pairs])[:, None]
    return inputs, targets, shapes
