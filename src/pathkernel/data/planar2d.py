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
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pathkernel.validation import integer

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
    integer("size", size, low=8)
    integer("harmonics", harmonics)
    low, high = amplitude
    if not 0 <= low <= high < 1:
        raise ValueError(f"amplitude={amplitude!r} must satisfy 0 <= low <= high < 1 (r(theta) > 0)")
    integer("margin", margin, 1, size // 4)
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
