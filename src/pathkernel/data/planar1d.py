"""Planar topology in one dimension (Courtois, Morel & Arias §6.1 and §6.3).

A row of a boundary image is a 0/1 sequence x of length n; its ones are the boundary
crossings. Filling the shape back in is the prefix parity of Eq. (10),

    y_j = (sum_{l <= j} x_l) mod 2,                                         (Eq. 10)

and the input sets are Omega_{n,k}: the C(n, k) sequences with exactly k ones (k even
for closed curves; odd k is allowed). Inputs are float64 tensors (batch, n) of 0/1.

* `omega` samples Omega_{n,k} uniformly; `omega_all` enumerates it; `all_sequences`
  enumerates {0, 1}^n (every k at once).
* `prefix_parity` is Eq. (10); `fill` also counts the crossings themselves inside (the
  2D convention of DESIGN §3: boundary pixels are inside the shape).
* `centre_label` is the two-peak task of §6.3: the filled value of the central pixel
  c = n // 2, i.e. for two peaks i1 < i2 the label is 1 exactly when i1 <= c <= i2.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from pathkernel.validation import integer

MAX_ENUMERATION = 2**22


def _check_nk(n: int, k: int) -> tuple[int, int]:
    n = integer("n", n)
    k = integer("k", k, 0, n)
    return n, k


def check_sequences(x: torch.Tensor) -> torch.Tensor:
    """x itself when it is a tensor (batch, n), n >= 1, of 0/1 values; TypeError or ValueError
    naming the problem (the first value that is neither 0 nor 1, NaN included) otherwise."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of 0/1 sequences (batch, n), got {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] < 1:
        raise ValueError(f"x has shape {tuple(x.shape)}; expected (batch, n) with n >= 1")
    if not torch.all((x == 0) | (x == 1)):
        bad = x[(x != 0) & (x != 1)].flatten()[0].item()
        raise ValueError(f"x must hold 0/1 values; found {bad!r}")
    return x


_check_sequences = check_sequences


def omega(n: int, k: int, size: int, *, seed: int) -> torch.Tensor:
    """`size` sequences drawn uniformly from Omega_{n,k} (independently, with repetition).

    Each row's k ones sit at the first k entries of a seeded random permutation of
    range(n), a uniform k-subset. Returns float64 (size, n).
    """
    n, k = _check_nk(n, k)
    size = integer("size", size)
    seed = integer("seed", seed, low=0)
    rng = np.random.default_rng(seed)
    ones = rng.random((size, n)).argsort(axis=1)[:, :k]
    x = np.zeros((size, n))
    np.put_along_axis(x, ones, 1.0, axis=1)
    return torch.from_numpy(x)


def omega_all(n: int, k: int) -> torch.Tensor:
    """Every sequence of Omega_{n,k}, float64 (C(n, k), n), rows in lexicographic order of
    their sets of one-positions (`itertools.combinations`)."""
    n, k = _check_nk(n, k)
    count = math.comb(n, k)
    if count > MAX_ENUMERATION:
        raise ValueError(f"Omega_(n={n}, k={k}) has {count} elements; enumerating more than {MAX_ENUMERATION} is refused")
    x = torch.zeros(count, n, dtype=torch.float64)
    if k:
        index = torch.tensor(list(itertools.combinations(range(n), k)), dtype=torch.long)
        x.scatter_(1, index, 1.0)
    return x


def all_sequences(n: int) -> torch.Tensor:
    """All 2**n binary sequences of length n, float64 (2**n, n); row r holds the bits of r
    (x_j = bit j of r)."""
    n = integer("n", n, 1, 22)
    rows = torch.arange(2**n, dtype=torch.long)[:, None]
    return ((rows >> torch.arange(n)) & 1).to(torch.float64)


def prefix_parity(x: torch.Tensor) -> torch.Tensor:
    """Eq. (10): y_j = (sum_{l <= j} x_l) mod 2 for x (batch, n) of 0/1; same shape and dtype."""
    check_sequences(x)
    return torch.remainder(torch.cumsum(x.to(torch.int64), dim=1), 2).to(x.dtype)


def fill(x: torch.Tensor) -> torch.Tensor:
    """The filled row: prefix parity, with the crossings themselves inside (max(y, x))."""
    return torch.maximum(prefix_parity(x), x)


def peak_positions(x: torch.Tensor) -> torch.Tensor:
    """Positions of the ones of each row, increasing: int64 (batch, k) when every row has k ones."""
    check_sequences(x)
    if x.shape[0] == 0:
        raise ValueError(f"x has shape {tuple(x.shape)}: an empty batch has no peaks; expected at least one row")
    counts = x.sum(dim=1)
    if not torch.all(counts == counts[0]):
        raise ValueError(f"rows have between {int(counts.min())} and {int(counts.max())} ones; expected the same k")
    return torch.nonzero(x, as_tuple=False)[:, 1].reshape(x.shape[0], int(counts[0]))


def centre_label(x: torch.Tensor) -> torch.Tensor:
    """The two-peak task's label: the filled value of the central pixel c = n // 2, float64 (batch,)
    of 0/1. For peaks i1 < ... < ik it is 1 when c is a peak or an odd number of peaks lie before c."""
    return fill(x)[:, x.shape[1] // 2].to(torch.float64)


def two_peaks(n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """All of Omega_{n,2} (C(n, 2), n) and their `centre_label` (C(n, 2),)."""
    x = omega_all(n, 2)
    return x, centre_label(x)
