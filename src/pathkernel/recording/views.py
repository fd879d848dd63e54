"""Tensor-like views of a replayed recording: `ReplayParams` (theta_0..theta_T, (T + 1, P))
and `ReplayScales` (Adam's step scales, (T, P)), whose rows `ReplayStore` replays on access."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from pathkernel.recording.replay import ReplayStore


def _indices(key: int | slice, length: int) -> range | int:
    if isinstance(key, slice):
        return range(*key.indices(length))
    if isinstance(key, bool) or not isinstance(key, int):
        raise TypeError(f"replayed snapshots are indexed by an int or a slice; got {type(key).__name__}")
    if not -length <= key < length:
        raise IndexError(f"index {key} is out of range for {length} rows")
    return key % length


class _ReplayView:
    """A read-only (rows, P) tensor-like view: int index -> (P,), slice -> (len, P) tensor."""

    def __init__(self, store: ReplayStore, rows: int) -> None:
        self.store = store
        self.shape = torch.Size((rows, store.width))
        self.dtype = store.dtype

    def element_size(self) -> int:
        return torch.empty(0, dtype=self.dtype).element_size()

    def __len__(self) -> int:
        return self.shape[0]

    def _row(self, j: int) -> torch.Tensor:
        raise NotImplementedError

    def __getitem__(self, key: int | slice) -> torch.Tensor:
        index = _indices(key, self.shape[0])
        if isinstance(index, int):
            return self._row(index)
        rows = [self._row(j) for j in index]
        return torch.stack(rows) if rows else torch.empty(0, self.shape[1], dtype=self.dtype)


class ReplayParams(_ReplayView):
    """theta_0..theta_T, (T + 1, P), replayed from checkpoints on access (`pathkernel.recording.replay`)."""

    def __init__(self, store: ReplayStore) -> None:
        super().__init__(store, store.rows)

    def _row(self, j: int) -> torch.Tensor:
        return self.store.row(j)


class ReplayScales(_ReplayView):
    """Adam's step scales S_0..S_{T-1}, (T, P), replayed with the parameters."""

    def __init__(self, store: ReplayStore) -> None:
        super().__init__(store, store.steps)

    def _row(self, k: int) -> torch.Tensor:
        return self.store.scale(k)
