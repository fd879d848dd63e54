"""Checkpoint files of a replayed recording (`pathkernel.recording.replay`), written atomically.

A checkpoint of step t holds theta_t and the optimizer's full `state_dict` after t steps,
saved with `torch.save` as `checkpoint-{t:09d}.pt` in the store's directory.

Writing checkpoints: each is written to a temporary file in the same directory
(`.checkpoint-{step:09d}.pt.tmp`), flushed and `fsync`ed, then renamed onto its
`checkpoint-{step:09d}.pt` name (`os.replace`), so a checkpoint file is either complete
or absent. On a full disk (or any other OSError) the temporary file is removed, the store
is left as before the step (no row, no checkpoint added) and an `OSError` with the cause's
errno (ENOSPC) names the directory, the step and the bytes the checkpoint needs at least
(the parameters plus the optimizer state; the file adds a few kB of headers). Checkpoints
dropped when K doubles are deleted after the store stops referring to them; one that
cannot be deleted is only wasted disk, and its deletion is tried again when K next doubles.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

import torch


def checkpoint_file(directory: Path, step: int) -> Path:
    """The checkpoint file of step `step` (theta_step and the optimizer state after `step` steps)."""
    return directory / f"checkpoint-{step:09d}.pt"


def save_checkpoint(directory: Path, step: int, theta: torch.Tensor, state: dict) -> None:
    """Write the checkpoint of `step` ({"theta": theta, "optimizer": state}, `state` the
    optimizer's `state_dict`) atomically: a temporary file, fsync, then os.replace.

    Raises:
        OSError: the file could not be written (errno of the cause, ENOSPC on a full disk),
            naming the directory, the step and the bytes needed; no file is left behind.
    """
    temporary = directory / f".checkpoint-{step:09d}.pt.tmp"
    try:
        with open(temporary, "wb") as file:
            writer = _Writer(file)
            try:
                torch.save({"theta": theta, "optimizer": state}, writer)
            except RuntimeError:  # torch reports a failed write as "unexpected pos"
                if writer.error is None:
                    raise
                raise writer.error from None
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, checkpoint_file(directory, step))
    except BaseException as error:
        with contextlib.suppress(OSError):
            temporary.unlink()
        if not isinstance(error, OSError):
            raise
        needed = theta.numel() * theta.element_size() + sum(
            value.numel() * value.element_size() for values in state["state"].values()
            for value in values.values() if isinstance(value, torch.Tensor))
        raise OSError(error.errno, f"cannot write the checkpoint of step {step} to the directory {directory}: "
                                   f"it needs at least {needed:,} bytes (parameters and optimizer state): "
                                   f"{error.strerror or error}") from error


def delete_checkpoints(directory: Path, steps: list[int]) -> list[int]:
    """Delete the checkpoint files of `steps`; returns the steps whose files could not be deleted."""
    kept = []
    for step in steps:
        try:
            checkpoint_file(directory, step).unlink(missing_ok=True)
        except OSError:
            kept.append(step)
    return kept


class _Writer:
    """The binary file `torch.save` writes to, keeping the OSError of a failed write (torch
    itself reports it as a RuntimeError, "unexpected pos")."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.file.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.file.flush()
