"""The network's (input, target) pair of the 2D shape-filling chapter (§6.2.1): a binary
shape drawn at twice the network's size, its boundary and itself Lanczos-filtered and
down-sampled by 2."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pathkernel.data.planar2d.oracles import boundary, check_image
from pathkernel.validation import integer


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
    shape = check_image(shape, "shape")
    return lanczos_downsample(boundary(shape)), lanczos_downsample(shape)
