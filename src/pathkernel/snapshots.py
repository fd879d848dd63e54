"""Per-step parameter snapshots stored on disk, so that a long path does not live in RAM.

A `SnapshotFile` is a growable (rows, P) array in one file of a directory, memory-mapped
with numpy: appending writes one row, the file grows by doubling its capacity (sparse
on Linux: unwritten rows take no disk), and `tensor()` returns a torch tensor that reads
its rows from the file on demand (`torch.from_numpy` on the `numpy.memmap`). Code that
reads a path step by step (or in chunks of steps) therefore holds only the rows it
touches; the operating system's page cache keeps what fits and evicts the rest.

Disk use: rows * P * itemsize bytes (8 per float64 entry): 10,001 snapshots of a 1M-parameter
float64 model take 80 GB of disk, and nothing of it must fit in RAM at once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np
import torch

INITIAL_ROWS = 64


class SnapshotFile:
    """A growable, disk-backed (rows, width) array of one torch dtype.

    Args:
        directory: where the file lives; None makes a temporary directory, deleted when
            this object and every tensor returned by `tensor()` are garbage collected.
        name: file name inside the directory.
        width: row length P.
        dtype: torch.float32 or torch.float64.
    """

    def __init__(self, directory: str | os.PathLike | None, name: str, width: int, dtype: torch.dtype) -> None:
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"snapshots store torch.float32 or torch.float64, got {dtype}")
        if directory is None:
            directory = tempfile.mkdtemp(prefix="pathkernel-snapshots-")
            self._cleanup = weakref.finalize(self, shutil.rmtree, directory, True)
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.file = Path(directory) / name
        self.width = width
        self.dtype = dtype
        self._numpy = np.float64 if dtype == torch.float64 else np.float32
        self.rows = 0
        self._capacity = 0
        self._map: np.memmap | None = None
        self.file.write_bytes(b"")
        self._grow(INITIAL_ROWS)

    def _grow(self, capacity: int) -> None:
        with open(self.file, "r+b") as handle:
            handle.truncate(capacity * self.width * np.dtype(self._numpy).itemsize)
        if self._map is not None:
            self._map.flush()
        self._map = np.memmap(self.file, dtype=self._numpy, mode="r+", shape=(capacity, self.width))
        self._capacity = capacity

    def append(self, row: torch.Tensor) -> None:
        """Write `row` (width,) as the next row."""
        if row.shape != (self.width,):
            raise ValueError(f"a snapshot row has shape ({self.width},); got {tuple(row.shape)}")
        if self.rows == self._capacity:
            self._grow(2 * self._capacity)
        self._map[self.rows] = row.detach().to(self.dtype).cpu().numpy()
        self.rows += 1

    def tensor(self) -> torch.Tensor:
        """(rows, width) tensor backed by the file (no copy into RAM)."""
        self._map.flush()
        view = np.memmap(self.file, dtype=self._numpy, mode="r+", shape=(self.rows, self.width))
        tensor = torch.from_numpy(view)
        if hasattr(self, "_cleanup"):
            weakref.finalize(tensor, lambda keep: None, self)  # keep the directory while the tensor lives
        return tensor


class SnapshotMemory:
    """The in-RAM counterpart of `SnapshotFile` (same interface): rows kept in a list."""

    def __init__(self, width: int, dtype: torch.dtype) -> None:
        self.width = width
        self.dtype = dtype
        self._rows: list[torch.Tensor] = []

    @property
    def rows(self) -> int:
        return len(self._rows)

    def append(self, row: torch.Tensor) -> None:
        if row.shape != (self.width,):
            raise ValueError(f"a snapshot row has shape ({self.width},); got {tuple(row.shape)}")
        self._rows.append(row.detach().to(self.dtype).clone())

    def tensor(self) -> torch.Tensor:
        return torch.stack(self._rows) if self._rows else torch.empty(0, self.width, dtype=self.dtype)


def snapshot_store(storage: str, directory: str | os.PathLike | None, name: str, width: int,
                   dtype: torch.dtype) -> SnapshotFile | SnapshotMemory:
    """A `SnapshotFile` for storage="disk", a `SnapshotMemory` for storage="memory"."""
    if storage == "disk":
        return SnapshotFile(directory, name, width, dtype)
    if storage == "memory":
        return SnapshotMemory(width, dtype)
    raise ValueError(f"storage={storage!r}; expected 'disk', 'memory' or 'replay'")
