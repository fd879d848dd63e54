"""Checkpoints inside a long run: items (a learning rate, a width, an epoch) kept as they finish.

An experiment wraps each independent item of its sweep::

    for lr in config.lrs:
        row = checkpoint.item(f"lr={lr!r}", lambda: measure(lr))

Outside a store run this is just ``measure(lr)``. Inside ``with checkpointing(folder):`` (what
`pathkernel.runs.sweep` does for each store entry), a finished item is saved to
``folder/<name>.npz`` as soon as it is computed, and a rerun after an interruption reads it
instead of computing it again. An item must be a pure function of the config, the seed and its
name (its own seeded generators), so reading it back gives the same result as computing it.
Each item keeps the seconds it took; a `Resumed` passed to `checkpointing` counts the items read
back and the seconds they took when computed, so a resumed run can report about what an
uninterrupted one would have taken.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from pathkernel.runs.encoding import decode, encode

T = TypeVar("T")
#: the file name of a finished item: the first 24 hex digits of its name's sha256 (`item_path`)
ITEM_FILE = re.compile(r"[0-9a-f]{24}\.npz")


@dataclass
class Resumed:
    """Items read back instead of computed: how many, and the seconds they took when they were
    computed (0 for an item saved before items kept their time)."""
    items: int = 0
    seconds: float = 0.0


_FOLDER: ContextVar[tuple[Path, Resumed] | None] = ContextVar("pathkernel_checkpoint_folder", default=None)


@contextlib.contextmanager
def checkpointing(folder: str | Path, resumed: Resumed | None = None) -> Iterator[Path]:
    """Within the block, `item` keeps finished items in `folder` (created) and counts the ones it
    reads back in `resumed`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    token = _FOLDER.set((folder, resumed if resumed is not None else Resumed()))
    try:
        yield folder
    finally:
        _FOLDER.reset(token)


def item_path(folder: Path, name: str) -> Path:
    """Where the item `name` is kept in `folder` (a name matching `ITEM_FILE`)."""
    return folder / f"{hashlib.sha256(name.encode()).hexdigest()[:24]}.npz"


def finished_items(folder: str | Path) -> list[Path]:
    """The items kept in `folder` (none when it does not exist), not the partial files of an item
    being written."""
    folder = Path(folder)
    return sorted(path for path in folder.glob("*.npz") if ITEM_FILE.fullmatch(path.name)) if folder.is_dir() else []


def item(name: str, compute: Callable[[], T]) -> T:
    """``compute()``, or its saved value when this item already finished in the current checkpoint folder."""
    current = _FOLDER.get()
    if current is None:
        return compute()
    folder, resumed = current
    path = item_path(folder, name)
    if path.is_file():
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files if key != "skeleton"}
            skeleton = json.loads(str(stored["skeleton"]))
        resumed.items += 1
        resumed.seconds += skeleton.get("seconds", 0.0)
        return decode(skeleton["value"], arrays)
    start = time.perf_counter()
    value = compute()
    arrays: dict[str, np.ndarray] = {}
    skeleton = json.dumps({"name": name, "value": encode(value, arrays), "seconds": time.perf_counter() - start})
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".partial-", suffix=".npz")
    os.close(handle)
    try:
        np.savez(temporary, skeleton=np.array(skeleton), **arrays)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return value
