"""The boundary of a binary shape and three ways to fill a boundary back in: the row
parity of Eq. (10) (`fill_parity`), flood fill from the border (`fill_flood`) and the
nesting-depth oracle of DESIGN §3 (`fill_depth`). Images are boolean numpy arrays
(rows, columns); see `pathkernel.data.planar2d` for when each fill is right."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

EIGHT = np.ones((3, 3), dtype=bool)


def check_image(image: np.ndarray, name: str) -> np.ndarray:
    """A 2D 0/1 (or bool) numpy array as a bool array; a clear error otherwise."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim != 2 or min(image.shape) < 1:
        raise ValueError(f"{name} has shape {image.shape}; expected a 2D image (rows, columns)")
    if image.dtype != bool:
        if not np.all((image == 0) | (image == 1)):
            bad = image[(image != 0) & (image != 1)].flat[0].item()
            raise ValueError(f"{name} must be binary (0/1 or bool); found the value {bad!r}")
        image = image.astype(bool)
    return image


def boundary(shape: np.ndarray, *, neighbours: int = 8) -> np.ndarray:
    """The pixels of `shape` with at least one of their `neighbours` outside it.

    neighbours=8 (default): a 4-connected curve, two pixels wide where it runs
    diagonally. neighbours=4: the thin boundary, an 8-connected curve. Pixels beyond the
    image border count as outside. Returns a bool array of the same shape.
    """
    shape = check_image(shape, "shape")
    if neighbours not in (4, 8):
        raise ValueError(f"neighbours={neighbours!r}; expected 4 or 8")
    structure = EIGHT if neighbours == 8 else ndimage.generate_binary_structure(2, 1)
    return shape & ~ndimage.binary_erosion(shape, structure=structure, border_value=0)


def fill_parity(boundary: np.ndarray) -> np.ndarray:
    """Fill a boundary by the row parity scan of Eq. (10).

    Pixel (i, j) is inside when it is a boundary pixel or when the number of boundary
    pixels at (i, l), l <= j, is odd. Exact for 1-pixel crossings; wrong after a row's
    tangent run of odd length or crossing run of even length (see `pathkernel.data.planar2d`).
    """
    boundary = check_image(boundary, "boundary")
    return boundary | (np.cumsum(boundary, axis=1) % 2 == 1)


def fill_flood(boundary: np.ndarray) -> np.ndarray:
    """Fill a boundary by flood fill from the image border.

    The non-boundary pixels are split into 4-connected regions (scipy.ndimage.label);
    the regions that touch the image border are outside, everything else is inside.
    Right for the closed boundary of a shape without holes (an 8-connected curve blocks
    4-connected paths); a shape with a hole comes back with the hole filled.
    """
    boundary = check_image(boundary, "boundary")
    labels, _ = ndimage.label(~boundary)
    rim = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    outside = np.isin(labels, rim[rim > 0])
    return ~outside


def fill_depth(boundary: np.ndarray) -> np.ndarray:
    """Fill a boundary by nesting depth: the parity of Eq. (10) counted in curves.

    The non-boundary pixels are split into 4-connected regions and the boundary pixels
    into 8-connected curves (scipy.ndimage.label). A region and a curve are adjacent when
    a pixel of one is among the 8 neighbours of a pixel of the other. The regions that
    touch the image border have depth 0, and a region adjacent to a curve that is adjacent
    to a region of depth d has depth d + 1 (breadth-first search on the region-curve
    graph). A pixel is inside when it is a boundary pixel or its region's depth is odd.

    Right whenever different boundary curves do not touch: a shape's outer boundary and
    the boundary of each of its holes must be separate curves (a wall at least 3 pixels
    thick for the 8-neighbour boundary). Where they merge into one curve, the hole gets
    depth 1 and comes back filled, like flood fill.
    """
    boundary = check_image(boundary, "boundary")
    regions, n_regions = ndimage.label(~boundary)
    curves, n_curves = ndimage.label(boundary, structure=EIGHT)
    pairs = set()
    rows, cols = boundary.shape
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            region = regions[max(di, 0) : rows + min(di, 0), max(dj, 0) : cols + min(dj, 0)]
            curve = curves[max(-di, 0) : rows + min(-di, 0), max(-dj, 0) : cols + min(-dj, 0)]
            touching = (region > 0) & (curve > 0)
            pairs.update(zip(region[touching].tolist(), curve[touching].tolist()))
    curves_of = [[] for _ in range(n_regions + 1)]
    regions_of = [[] for _ in range(n_curves + 1)]
    for region, curve in pairs:
        curves_of[region].append(curve)
        regions_of[curve].append(region)
    rim = np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]])
    depth = np.full(n_regions + 1, -1)
    frontier = sorted(set(rim[rim > 0].tolist()))
    depth[frontier] = 0
    level = 0
    seen_curves: set[int] = set()
    while frontier:
        level += 1
        crossed = {c for r in frontier for c in curves_of[r]} - seen_curves
        seen_curves |= crossed
        frontier = sorted({r for c in crossed for r in regions_of[c] if depth[r] < 0})
        depth[frontier] = level
    inside = (depth > 0) & (depth % 2 == 1)  # label 0 (the boundary pixels) keeps depth -1
    return boundary | inside[regions]
