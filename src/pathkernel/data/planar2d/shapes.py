"""Seeded random shapes on a size x size grid: smooth star-shaped blobs (`random_shape`)
and trees of thick strokes (`branched_shape`), with their drawing helpers."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pathkernel.validation import finite_number, integer


def _range_pair(name: str, value: object, low: float, high: float, *, open_low: bool = False) -> tuple[float, float]:
    """A (low, high) pair of finite numbers inside [low, high) with value[0] <= value[1]."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"{name}={value!r} must be a pair (low, high) of numbers")
    a = finite_number(f"{name}[0]", value[0], low, high, open_low=open_low, open_high=True)
    b = finite_number(f"{name}[1]", value[1], low, high, open_low=open_low, open_high=True)
    if a > b:
        raise ValueError(f"{name}={value!r} must satisfy low <= high")
    return a, b


def star_radius(theta: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """r(theta) = 1 + sum_k cos[k-1] cos(k theta) + sin[k-1] sin(k theta) (any shape of theta)."""
    k = np.arange(1, len(cos) + 1)
    angles = np.multiply.outer(theta, k)
    return 1 + np.cos(angles) @ cos + np.sin(angles) @ sin


def random_shape(
    size: int = 64,
    *,
    seed: int = 0,
    harmonics: int = 5,
    amplitude: tuple[float, float] = (0.25, 0.55),
    margin: int = 2,
) -> np.ndarray:
    """A smooth random simply connected shape on a size x size grid.

    The shape is the set of pixel centres (i, j) with ||(i, j) - c|| < R r(theta), where
    theta is the angle around the centre c and r(theta) = 1 + g(theta) is a random
    Fourier series of `harmonics` terms (coefficients N(0, 1/k^2)), rescaled so that
    ``max |g|`` is drawn uniformly from `amplitude` (so r lies in [1 - 0.55, 1 + 0.55]). The
    centre is jittered and R chosen so that the shape stays `margin` pixels away from the
    border. The 4-connected component of the centre is kept and its holes filled, so the
    result is always one 4-connected region whose complement is 4-connected.

    Returns a bool array (size, size).
    """
    size = integer("size", size, low=8)
    seed = integer("seed", seed, low=0)
    harmonics = integer("harmonics", harmonics)
    low, high = _range_pair("amplitude", amplitude, 0, 1)  # 0 <= low <= high < 1 keeps r(theta) > 0
    margin = integer("margin", margin, 1, size // 4)
    rng = np.random.default_rng(seed)
    k = np.arange(1, harmonics + 1)
    cos, sin = rng.normal(size=(2, harmonics)) / k
    grid = np.linspace(0, 2 * np.pi, 2048, endpoint=False)
    g_max = np.abs(star_radius(grid, cos, sin) - 1).max()
    scale = rng.uniform(low, high) / g_max
    cos, sin = cos * scale, sin * scale
    half = (size - 1) / 2
    centre = half + rng.uniform(-0.1, 0.1, size=2) * size
    reach = half - margin - np.abs(centre - half).max()
    radius = reach / star_radius(grid, cos, sin).max()
    i, j = np.mgrid[0:size, 0:size].astype(float)
    di, dj = i - centre[0], j - centre[1]
    shape = np.hypot(di, dj) < radius * star_radius(np.arctan2(di, dj), cos, sin)
    labels, _ = ndimage.label(shape)
    shape = labels == labels[int(round(centre[0])), int(round(centre[1]))]
    return ndimage.binary_fill_holes(shape)


def segment_distance(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Euclidean distance (N, S) from each of N points (N, 2) to each of S segments (S, 2)-(S, 2)."""
    direction = end - start
    length2 = np.maximum((direction**2).sum(axis=1), 1e-12)
    t = np.clip(((points[:, None, :] - start) * direction).sum(axis=2) / length2, 0.0, 1.0)
    closest = start + t[..., None] * direction
    return np.sqrt(((points[:, None, :] - closest) ** 2).sum(axis=2))


def rasterize_strokes(size: int, start: np.ndarray, end: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Pixels (size, size) whose centre (row, column) lies within radius[s] of segment s, for any s.

    start, end: (S, 2) segment end points in pixel coordinates (row, column); radius (S,).
    Each segment is measured only on the pixels of its bounding box widened by its radius.
    Coordinates and radii must be finite (a NaN would silently draw nothing).
    """
    size = integer("size", size)
    for name, array in (("start", start), ("end", end), ("radius", radius)):
        if not np.all(np.isfinite(np.asarray(array, dtype=float))):
            raise ValueError(f"{name} holds a non-finite value; expected finite pixel coordinates and radii")
    inside = np.zeros((size, size), dtype=bool)
    for a, b, r in zip(start, end, radius):
        low = np.clip(np.floor(np.minimum(a, b) - r).astype(int), 0, size)
        high = np.clip(np.ceil(np.maximum(a, b) + r).astype(int) + 1, 0, size)
        i, j = np.mgrid[low[0] : high[0], low[1] : high[1]]
        points = np.stack([i.ravel(), j.ravel()], axis=1).astype(float)
        near = segment_distance(points, a[None], b[None])[:, 0] <= r
        inside[low[0] : high[0], low[1] : high[1]] |= near.reshape(i.shape)
    return inside


def branched_shape(
    size: int = 64,
    *,
    seed: int = 0,
    branches: int = 3,
    thickness: tuple[float, float] = (0.05, 0.1),
    margin: int = 2,
) -> np.ndarray:
    """A random branched shape: a tree of thick, bending strokes, on a size x size grid.

    A stand-in for the shapes of the online generator used by Courtois, Morel & Arias
    (§6.2.1), which we cannot reach. Stroke k = 1..`branches` starts at a random point
    of an earlier stroke (the first at the origin), heads in a random direction and bends
    by a random angle at each of its 4 segments; its half-width is drawn from `thickness`
    and each stroke ends in a round blob. Lengths and widths are in units of the shape's
    extent, which is then scaled to fill the square `margin` pixels inside the border
    (a random fraction of it, at a random position), so the same seed gives the same
    shape at any size (half-widths are at least 1.5 pixels). The largest 4-connected
    piece is kept and its holes filled: one 4-connected region whose complement is
    4-connected and which keeps `margin` pixels away from the border.

    Returns a bool array (size, size).
    """
    size = integer("size", size, low=8)
    seed = integer("seed", seed, low=0)
    branches = integer("branches", branches)
    margin = integer("margin", margin, 1, size // 4)
    low, high = _range_pair("thickness", thickness, 0, 0.25, open_low=True)  # fractions of the extent
    rng = np.random.default_rng(seed)
    starts, ends, radii = [], [], []
    nodes = [np.zeros(2)]
    for _ in range(branches):
        point = nodes[rng.integers(len(nodes))]
        angle = rng.uniform(0, 2 * np.pi)
        radius = rng.uniform(low, high)
        for _ in range(4):
            angle += rng.normal(0, 0.6)
            step = rng.uniform(0.1, 0.2) * np.array([np.sin(angle), np.cos(angle)])
            starts.append(point)
            ends.append(point + step)
            radii.append(radius)
            point = point + step
            nodes.append(point)
        starts.append(point)
        ends.append(point)
        radii.append(radius * rng.uniform(1.3, 2.2))
    start, end, radius = np.array(starts), np.array(ends), np.array(radii)
    corners = np.concatenate([start - radius[:, None], start + radius[:, None], end - radius[:, None], end + radius[:, None]])
    low_corner, high_corner = corners.min(axis=0), corners.max(axis=0)
    room = size - 1 - 2 * margin - 1
    scale = room * rng.uniform(0.75, 1.0) / (high_corner - low_corner).max()
    offset = margin + 0.5 + rng.uniform(0, 1, size=2) * (room - scale * (high_corner - low_corner))
    start, end = offset + (start - low_corner) * scale, offset + (end - low_corner) * scale
    shape = rasterize_strokes(size, start, end, np.maximum(radius * scale, 1.5))
    labels, count = ndimage.label(shape)
    if count > 1:
        shape = labels == 1 + np.argmax(ndimage.sum_labels(shape, labels, range(1, count + 1)))
    return ndimage.binary_fill_holes(shape)
