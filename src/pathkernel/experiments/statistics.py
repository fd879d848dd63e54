"""Spread over seeds: the mean and its two-sided Student-t interval, shared by the studies that
repeat a run over seeds (`two_peaks.budget`, `separable_profile`)."""

from __future__ import annotations

import math

import numpy as np
import scipy.stats

from pathkernel.validation import finite_number


def mean_interval(values: np.ndarray, level: float, *, axis: int = -1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, mean - h, mean + h) over `axis` (the seeds, s >= 2 of them), with
    h = t_{(1 + level)/2, s-1} * std(values, ddof=1) / sqrt(s).

    Raises ValueError for fewer than 2 samples on `axis`, non-finite values or a level outside (0, 1).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 0 or values.shape[axis] < 2:
        raise ValueError(f"values of shape {values.shape} need at least 2 samples on axis {axis}")
    if not np.all(np.isfinite(values)):
        raise ValueError("values must be finite")
    finite_number("level", level, 0, 1, open_low=True, open_high=True)
    s = values.shape[axis]
    mean = values.mean(axis)
    half = scipy.stats.t.ppf((1 + level) / 2, s - 1) * values.std(axis, ddof=1) / math.sqrt(s)
    return mean, mean - half, mean + half
