"""Checkpoints inside a long run: items (a learning rate, a width, an epoch) kept as they finish.

An experiment wraps each independent item of its sweep::

    for lr in config.lrs:
        row = checkpoint.item(f"lr={lr!r}", lambda: measure(lr))

Outside a store run this is just ``measure(lr)``. Inside ``with checkpointing(folder):`` (what
`pathkernel.runs.sweep` does for each store entry), a finished item is saved to
``folder/<name>.npz`` as soon as it is computed, and a rerun after an interruption reads it
instead of computing it again. An item must be a pure function of the config, the seed and its
name (its own seeded generators), so reading it back gives the same result as computing it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import TypeVar

import numpy as np

from pathkernel.runs.encoding import decode, encode

T = TypeVar("T")
_FOLDER: ContextVar[Path | None] = ContextVar("pathkernel_checkpoint_folder", default=None)


@contextlib.contextmanager
def checkpointing(folder: str | Path) -> Iterator[Path]:
    """Within the block, `item` keeps finished items in `folder` (created)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    token = _FOLDER.set(folder)
    try:
        yield folder
    finally:
        _FOLDER.reset(token)


def item(name: str, compute: Callable[[], T]) -> T:
    """``compute()``, or its saved value when this item already finished in the current checkpoint folder."""
    folder = _FOLDER.get()
    if folder is None:
        return compute()
    path = folder / f"{hashlib.sha256(name.encode()).hexdigest()[:24]}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files if key != "skeleton"}
            return decode(json.loads(str(stored["skeleton"]))["value"], arrays)
    value = compute()
    arrays: dict[str, np.ndarray] = {}
    skeleton = json.dumps({"name": name, "value": encode(value, arrays)})
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".partial-", suffix=".npz")
    os.close(handle)
    try:
        np.savez(temporary, skeleton=np.array(skeleton), **arrays)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return value
