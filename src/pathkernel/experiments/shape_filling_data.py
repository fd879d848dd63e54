"""Shape-filling images as the network sees them, and how a network and the oracles score on them
(the chapter "Shape filling in 2D": `shape_filling` and `shape_filling_architectures`).

`network_data` draws a suite at the stored size and down-samples it to the network's
(``config.store_size / config.size``, §6.2.2); `oracle_iou` scores the three oracles of
`shape_filling.ORACLES` brought to that resolution the same way; `evaluate` scores a network.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from pathkernel.data import shapes_ood
from pathkernel.data.planar2d import boundary, fill_depth, fill_flood, fill_parity, lanczos_downsample
from pathkernel.segmentation import iou, predict, rim


def network_data(config: Any, suite: str, level: float, n: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n images of a suite as the network sees them: `shapes_ood.dataset` at the stored size
    (inputs, targets (n, 1, t, t) with t = store_size, shapes (n, 2t, 2t)), then inputs and
    targets Lanczos-down-sampled by ``config.downsample`` to (n, 1, s, s), s = size (sizes
    times the complexity for the "size" suite). Returns (inputs, targets, shapes)."""
    inputs, targets, shapes = shapes_ood.dataset(suite, level, n, config.store_size or config.size, seed=seed)
    if config.downsample > 1:
        inputs, targets = (np.stack([lanczos_downsample(image[0], config.downsample) for image in images])[:, None]
                           for images in (inputs, targets))
    return inputs, targets, shapes


def oracle_iou(shapes: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Mean IoU (3,) of the `ORACLES` on binary shapes (n, 2t, 2t): each fills the 8-neighbour
    boundary, its fill is Lanczos-downsampled like the shape (by 2 to the stored size t, then
    to the targets' size s), and fill > 1/2 is compared with targets (n, 1, s, s) > 1/2."""
    scores = np.zeros((len(shapes), 3))
    factor = shapes.shape[-1] // (2 * targets.shape[-1])
    for k, shape in enumerate(shapes):
        edge = boundary(shape)
        for m, fill in enumerate((fill_depth, fill_flood, fill_parity)):
            filled = lanczos_downsample(fill(edge))
            filled = lanczos_downsample(filled, factor) if factor > 1 else filled
            scores[k, m] = iou(filled > 0.5, targets[k, 0] > 0.5)[0]
    return scores.mean(axis=0)


def evaluate(model: torch.nn.Module, inputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(IoU (n,), interior IoU (n,), predicted probabilities (n, 1, s, s)) of `model`.

    Masks are probability > 1/2 and target > 1/2; the interior IoU leaves out the `rim` of
    the target mask, the pixels next to its edge where the Lanczos-smoothed target is
    ambiguous (near 1/2).
    """
    probability = predict(model, torch.from_numpy(inputs)).numpy()
    truth = targets[:, 0] > 0.5
    prediction = probability[:, 0] > 0.5
    return iou(prediction, truth), iou(prediction, truth, ignore=rim(truth)), probability


def shrink(image: np.ndarray, size: int) -> np.ndarray:
    """An image (s, s) brought to (size, size) for display: itself, or PIL's box filter."""
    if image.shape == (size, size):
        return image
    return np.asarray(Image.fromarray(image.astype(np.float32), mode="F").resize((size, size), Image.BOX))


def stack_padded(arrays: list[np.ndarray]) -> np.ndarray:
    """Stack arrays that differ only in their first length, padding with NaN: (S, L, ...)."""
    longest = max(len(a) for a in arrays)
    out = np.full((len(arrays), longest) + arrays[0].shape[1:], np.nan)
    for k, a in enumerate(arrays):
        out[k, : len(a)] = a
    return out
