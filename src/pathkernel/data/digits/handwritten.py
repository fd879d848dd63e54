"""scikit-learn's handwritten digits (`handwritten_digits`: 1,797 images of 8 x 8 pixels,
values 0..16, the UCI "optdigits" set) and seeded class-balanced subsets of any labels
(`balanced_subset`)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.datasets import load_digits

from pathkernel.validation import integer


def balanced_subset(labels: np.ndarray, classes: Sequence[int], per_class: int, *, seed: int) -> np.ndarray:
    """Indices of `per_class` examples of each class in `classes`, drawn without replacement
    (seeded), grouped by class in the order of `classes`. Shape (len(classes) * per_class,)."""
    per_class = integer("per_class", per_class)
    seed = integer("seed", seed, low=0)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels has shape {labels.shape}; expected one label per example (n,)")
    rng = np.random.default_rng(seed)
    chosen = []
    for c in classes:
        pool = np.flatnonzero(labels == c)
        if pool.size < per_class:
            raise ValueError(f"class {c} has {pool.size} examples; per_class={per_class} asks for more")
        chosen.append(np.sort(rng.choice(pool, per_class, replace=False)))
    return np.concatenate(chosen)


def handwritten_digits(
    classes: Sequence[int] = tuple(range(10)),
    per_class: int | None = None,
    *,
    exclude: np.ndarray | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """scikit-learn's handwritten digits of the given classes, grouped by class.

    per_class: that many images per class, drawn at random (seeded) without replacement;
    None takes every image of those classes. exclude: indices into the full set (1,797)
    not to draw (to keep a test set apart from a training set).

    Returns x (n, 64) with values in [0, 16] (row-major 8 x 8), labels y (n,) int64, and the
    indices (n,) of the images in ``load_digits()``.
    """
    classes = digit_classes(classes)
    if per_class is not None:
        per_class = integer("per_class", per_class)
    seed = integer("seed", seed, low=0)
    data = load_digits()
    labels = data.target.copy()
    if exclude is not None:
        labels[_indices("exclude", exclude, labels.size)] = -1
    if per_class is None:
        index = np.concatenate([np.flatnonzero(labels == c) for c in classes])
    else:
        index = balanced_subset(labels, classes, per_class, seed=seed)
    return (torch.as_tensor(data.data[index], dtype=dtype), torch.as_tensor(data.target[index], dtype=torch.int64),
            index)


def digit_classes(classes: Sequence[int], name: str = "classes") -> list[int]:
    """Distinct integer digits 0..9 (a float such as 2.5, or a bool, is named, not truncated)."""
    if isinstance(classes, (str, bytes)) or not hasattr(classes, "__iter__"):
        raise ValueError(f"{name}={classes!r} must be a sequence of distinct digits in 0..9")
    classes = list(classes)
    if not classes or not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in classes):
        raise ValueError(f"{name}={classes} must be distinct digits in 0..9 (integers)")
    classes = [int(c) for c in classes]
    if len(set(classes)) != len(classes) or not all(0 <= c <= 9 for c in classes):
        raise ValueError(f"{name}={classes} must be distinct digits in 0..9")
    return classes


def _indices(name: str, value: object, size: int) -> np.ndarray:
    """Integer indices into an axis of `size` (ValueError for floats, bools or indices out of range)."""
    index = np.asarray(value).reshape(-1)
    if index.size == 0:
        return index.astype(int)
    if index.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer indices; got dtype {index.dtype}")
    if index.min() < 0 or index.max() >= size:
        raise ValueError(f"{name} holds index {int(index.min() if index.min() < 0 else index.max())}; "
                         f"expected indices in [0, {size})")
    return index
