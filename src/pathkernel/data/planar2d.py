"""Planar shapes, their boundaries and two ways to fill a boundary back in (DESIGN §3).

The task of Courtois, Morel & Arias (§6): given the boundary of a shape, output the
filled shape. Images are boolean numpy arrays of shape (size, size), row i, column j.

* `random_shape`: a seeded smooth star-shaped blob (random Fourier radius), simply
  connected and not touching the image border.
* `boundary`: the shape pixels with at least one of their 8 neighbours outside (or of
  their 4 neighbours: the thinner boundary).
* `fill_parity`: the row parity scan of Eq. (10), y_ij = (sum_{l <= j} x_il) mod 2,
  with the boundary pixels themselves counted inside. It counts boundary *pixels*, not
  crossings: a run of boundary pixels along a row flips the parity once per pixel, so it
  is right only when every run that crosses the curve has odd length and every run that
  touches it tangentially has even length (true for a 1-pixel-thin curve whose rows cross
  it transversally, false on thick or tangent runs).
* `fill_flood`: the complement of the background regions (4-connected, scipy.ndimage)
  that touch the image border: right for any closed boundary of a shape without holes.
* `fill_depth`: the nesting-depth oracle of DESIGN §3, the parity of Eq. (10) counted in
  boundary *curves* instead of pixels: right for shapes with holes and nested shapes too.
* `branched_shape`: a seeded random tree of thick strokes (the training shapes of the
  2D shape-filling chapter), and `network_pair`: the §6.2.1 pipeline from a binary shape
  to the network's (input, target) pair, Lanczos-filtered and down-sampled by 2.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from pathkernel.validation import finite_number, integer

EIGHT = np.ones((3, 3), dtype=bool)


def _check_image(image: np.ndarray, name: str) -> np.ndarray:
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


def boundary(shape: np.ndarray, *, neighbours: int = 8) -> np.ndarray:
    """The pixels of `shape` with at least one of their `neighbours` outside it.

    neighbours=8 (default): a 4-connected curve, two pixels wide where it runs
    diagonally. neighbours=4: the thin boundary, an 8-connected curve. Pixels beyond the
    image border count as outside. Returns a bool array of the same shape.
    """
    shape = _check_image(shape, "shape")
    if neighbours not in (4, 8):
        raise ValueError(f"neighbours={neighbours!r}; expected 4 or 8")
    structure = EIGHT if neighbours == 8 else ndimage.generate_binary_structure(2, 1)
    return shape & ~ndimage.binary_erosion(shape, structure=structure, border_value=0)


def fill_parity(boundary: np.ndarray) -> np.ndarray:
    """Fill a boundary by the row parity scan of Eq. (10).

    Pixel (i, j) is inside when it is a boundary pixel or when the number of boundary
    pixels at (i, l), l <= j, is odd. Exact for 1-pixel crossings; wrong after a row's
    tangent run of odd length or crossing run of even length (see the module docstring).
    """
    boundary = _check_image(boundary, "boundary")
    return boundary | (np.cumsum(boundary, axis=1) % 2 == 1)


def fill_flood(boundary: np.ndarray) -> np.ndarray:
    """Fill a boundary by flood fill from the image border.

    The non-boundary pixels are split into 4-connected regions (scipy.ndimage.label);
    the regions that touch the image border are outside, everything else is inside.
    Right for the closed boundary of a shape without holes (an 8-connected curve blocks
    4-connected paths); a shape with a hole comes back with the hole filled.
    """
    boundary = _check_image(boundary, "boundary")
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
    boundary = _check_image(boundary, "boundary")
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


def lanczos_downsample(image: np.ndarray, factor: int = 2) -> np.ndarray:
    """Lanczos-filter and down-sample a 2D image by `factor` (PIL's ``Image.resize`` with
    ``Image.LANCZOS``, which filters and resamples in one step), clipped to [0, 1].

    image: (rows, columns) bool or float, both divisible by `factor`. Returns float32
    (rows / factor, columns / factor).
    """
    if not isinstance(image, np.ndarray) or image.ndim != 2:
        raise ValueError(f"image must be a 2D numpy array; got {getattr(image, 'shape', type(image).__name__)}")
    factor = integer("factor", factor)
    if not np.all(np.isfinite(image)):
        raise ValueError("image holds a non-finite value (NaN or inf); expected finite pixel values")
    rows, cols = image.shape
    if rows % factor or cols % factor:
        raise ValueError(f"image shape {image.shape} is not divisible by factor={factor}")
    resized = Image.fromarray(image.astype(np.float32), mode="F").resize((cols // factor, rows // factor), Image.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def network_pair(shape: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (input, target) pair of §6.2.1 for a binary shape drawn at twice the network's size.

    input = Lanczos-downsampled 8-neighbour boundary, target = Lanczos-downsampled shape:
    two float32 images (rows / 2, columns / 2) in [0, 1], smoothed around the boundary.
    A pixel counts as inside for the IoU when target > 1/2.
    """
    shape = _check_image(shape, "shape")
    return lanczos_downsample(boundary(shape)), lanczos_downsample(shape)
