"""Data sets of the book's experiments (seeded, any size)."""

from pathkernel.data import planar1d, planar2d
from pathkernel.data.ball_sphere import ball_sphere
from pathkernel.data.halfspace import halfspace
from pathkernel.data.rings import rings

__all__ = ["ball_sphere", "halfspace", "planar1d", "planar2d", "rings"]
