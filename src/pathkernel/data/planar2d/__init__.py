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

Modules: `shapes` (the shape generators), `oracles` (boundaries and the three fills),
`network` (the network's input and target images).
"""

from pathkernel.data.planar2d.network import lanczos_downsample, network_pair
from pathkernel.data.planar2d.oracles import EIGHT, boundary, fill_depth, fill_flood, fill_parity
from pathkernel.data.planar2d.shapes import (
    branched_shape,
    random_shape,
    rasterize_strokes,
    segment_distance,
    star_radius,
)

__all__ = [
    "EIGHT",
    "star_radius",
    "random_shape",
    "boundary",
    "fill_parity",
    "fill_flood",
    "fill_depth",
    "segment_distance",
    "rasterize_strokes",
    "branched_shape",
    "lanczos_downsample",
    "network_pair",
]
