"""Per-step parameter snapshots stored on disk, so that a long path does not live in RAM.

A `SnapshotFile` is a growable (rows, P) array in one file of a directory, memory-mapped
with numpy: appending writes one row, and `tensor()` returns a torch tensor that reads
its rows from the file on demand (`torch.from_numpy` on the `numpy.memmap`). Code that
reads a path step by step (or in chunks of steps) therefore holds only the rows it
touches; the operating system's page cache keeps what fits and evicts the rest.

Disk use: rows * P * itemsize bytes (8 per float64 entry): 10,001 snapshots of a 1M-parameter
float64 model take 80 GB of disk, and nothing of it must fit in RAM at once. The file
grows ahead of the rows written: its capacity doubles, but by at most `MAX_GROWTH_BYTES`
(1 GiB) at a time, so the unused tail it holds is at most as large as the rows written
and never more than 1 GiB (or one row, for a model whose row alone is larger).

A full disk: the space of every growth is reserved before the memory map can touch it
(`os.posix_fallocate`; where the filesystem does not support it, by writing zeros with
ordinary file I/O and `fsync`). Writing into a memory map whose pages have no disk
behind them kills the process with SIGBUS; with the space reserved, a full disk is
reported at growth time instead, as an `OSError` (errno ENOSPC) whose message names the
directory, the bytes of the growth and the size the file would have had. The store is
left as it was: the file is cut back to its previous size, and the rows written so far
stay readable. (On copy-on-write filesystems such as btrfs or ZFS a reservation does not
guarantee that a later overwrite finds space; there a full disk can still raise SIGBUS.)

Pickling: the tensor of a file (`SnapshotTensor`) pickles by reference, as the file's name,
dtype and shape, so that a recorded path travels to another process (a Dask worker,
`pathkernel.decomposition.distributed`) without its rows; the other process maps the file
again, read-only.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np
import torch

INITIAL_ROWS = 64
MAX_GROWTH_BYTES = 1 << 30
ZERO_CHUNK_BYTES = 1 << 20
UNSUPPORTED = {errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL}  # posix_fallocate on e.g. some network filesystems


def reserve(handle: io.FileIO, offset: int, length: int) -> None:
    """Give the (unbuffered) file's bytes [offset, offset + length) real disk blocks (and that size).

    `os.posix_fallocate` where the platform and the filesystem support it; otherwise zeros
    written with ordinary file I/O and `fsync`ed, so that a full disk raises OSError (ENOSPC)
    here, not later. The caller cuts the file back if this raises.
    """
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(handle.fileno(), offset, length)
            return
        except OSError as error:
            if error.errno not in UNSUPPORTED:
                raise
    zeros = memoryview(bytes(min(length, ZERO_CHUNK_BYTES)))
    handle.seek(offset)
    position, end = offset, offset + length
    while position < end:
        position += handle.write(zeros[: end - position])
    os.fsync(handle.fileno())


def host_copy(row: torch.Tensor, dtype: torch.dtype, owner: object) -> torch.Tensor:
    """`row` as a CPU tensor of `dtype`. A CUDA row is staged through one pinned buffer kept on
    `owner` (a DMA copy, allocated once); the returned tensor is that buffer (copy it to keep it)."""
    row = row.detach()
    if row.device.type != "cuda":
        return row.to("cpu", dtype)
    stage = getattr(owner, "_stage", None)
    if stage is None or stage.shape != row.shape or stage.dtype != dtype:
        stage = torch.empty(row.shape, dtype=dtype, pin_memory=True)
        owner._stage = stage
    return stage.copy_(row)


class SnapshotTensor(torch.Tensor):
    """The (rows, width) tensor of a `SnapshotFile`: a torch tensor whose rows are read from the
    memory-mapped file, and which pickles by reference (`open_snapshot` maps the file again).

    Operations on it (indexing, arithmetic, `.to`) return ordinary tensors. The process that
    unpickles it must see the file at the same path; `torch.save` of it likewise writes the
    reference, so save `tensor.clone()` to keep the rows themselves; `copy.deepcopy` copies
    the rows into memory.

    Attributes:
        file: the snapshot file (an absolute path).
        temporary: whether the file lives in a temporary directory (a `Recorder` without
            `directory=`), deleted when the recording is garbage collected.
    """

    __torch_function__ = torch._C._disabled_torch_function_impl
    file: Path
    temporary: bool

    def __reduce_ex__(self, protocol: int) -> tuple:
        return open_snapshot, (str(self.file), self.dtype, tuple(self.shape), self.temporary)

    def __deepcopy__(self, memo: dict) -> torch.Tensor:
        return self.as_subclass(torch.Tensor).clone()


def open_snapshot(file: str | os.PathLike, dtype: torch.dtype, shape: tuple[int, int],
                  temporary: bool) -> SnapshotTensor:
    """The `SnapshotTensor` of the first shape[0] rows of a snapshot file, mapped read-only
    (copy-on-write: writes to the tensor stay in this process and never reach the file)."""
    numpy_dtype = np.float64 if dtype == torch.float64 else np.float32
    view = np.memmap(file, dtype=numpy_dtype, mode="c", shape=shape)
    tensor = torch.Tensor._make_subclass(SnapshotTensor, torch.from_numpy(view))
    tensor.file, tensor.temporary = Path(file), temporary
    return tensor


class SnapshotFile:
    """A growable, disk-backed (rows, width) array of one torch dtype.

    Args:
        directory: where the file lives; None makes a temporary directory, deleted when
            this object and every tensor returned by `tensor()` are garbage collected.
        name: file name inside the directory.
        width: row length P (positive).
        dtype: torch.float32 or torch.float64.

    Attributes:
        temporary: whether `directory` was None (a temporary directory).

    Raises:
        OSError: the directory or the file cannot be created (read-only or full filesystem),
            or there is no disk space for the first `INITIAL_ROWS` rows; the message names
            the directory, errno is the cause's.
    """

    def __init__(self, directory: str | os.PathLike | None, name: str, width: int, dtype: torch.dtype) -> None:
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"snapshots store torch.float32 or torch.float64, got {dtype}")
        if width < 1:
            raise ValueError(f"a snapshot row needs a positive width; got {width}")
        self.temporary = directory is None
        if directory is None:
            directory = tempfile.mkdtemp(prefix="pathkernel-snapshots-")
            self._cleanup = weakref.finalize(self, shutil.rmtree, directory, True)
        self.directory = Path(directory)
        self.file = self.directory / name
        self.width = width
        self.dtype = dtype
        self._numpy = np.float64 if dtype == torch.float64 else np.float32
        self.row_bytes = width * np.dtype(self._numpy).itemsize
        self.rows = 0
        self._capacity = 0
        self._map: np.memmap | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.file.write_bytes(b"")
        except OSError as error:
            raise OSError(error.errno, f"cannot create the snapshot file {name} in the directory {self.directory} "
                                       f"({error.strerror or error})") from error
        self._grow(INITIAL_ROWS)

    def _grow(self, capacity: int) -> None:
        """Reserve disk space for `capacity` rows, then map them; on OSError nothing changes."""
        old, new = self._capacity * self.row_bytes, capacity * self.row_bytes
        with open(self.file, "r+b", buffering=0) as handle:
            try:
                reserve(handle, old, new - old)
            except OSError as error:
                with contextlib.suppress(OSError):  # a longer file is still valid: rows past the capacity are unread
                    handle.truncate(old)
                raise OSError(error.errno, f"cannot reserve {new - old:,} more bytes of disk for parameter snapshots "
                                           f"in the directory {self.directory} ({self.file.name} would grow from "
                                           f"{old:,} to {new:,} bytes, {capacity:,} rows of {self.row_bytes:,} bytes; "
                                           f"{self.rows:,} rows written and kept): {error.strerror or error}"
                              ) from error
        if self._map is not None:
            self._map.flush()
        self._map = np.memmap(self.file, dtype=self._numpy, mode="r+", shape=(capacity, self.width))
        self._capacity = capacity

    def append(self, row: torch.Tensor) -> None:
        """Write `row` (width,) as the next row.

        Raises:
            OSError: no disk space to grow the file (errno ENOSPC; see the module docstring);
                the row is not written, the rows before it are kept.
        """
        if row.shape != (self.width,):
            raise ValueError(f"a snapshot row has shape ({self.width},); got {tuple(row.shape)}")
        if self.rows == self._capacity:
            self._grow(self._capacity + max(1, min(self._capacity, MAX_GROWTH_BYTES // self.row_bytes)))
        self._map[self.rows] = host_copy(row, self.dtype, self).numpy()
        self.rows += 1

    def tensor(self) -> SnapshotTensor:
        """(rows, width) tensor backed by the file (no copy into RAM), pickled by reference."""
        self._map.flush()
        view = np.memmap(self.file, dtype=self._numpy, mode="r+", shape=(self.rows, self.width))
        tensor = torch.Tensor._make_subclass(SnapshotTensor, torch.from_numpy(view))
        tensor.file, tensor.temporary = self.file.absolute(), self.temporary
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
        self._rows.append(host_copy(row, self.dtype, self).clone())

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
