"""Checkpointed replay of a recorded training loop: theta_0..theta_T without storing them.

`Recorder(..., storage="replay")` keeps, instead of every snapshot, a checkpoint every K
steps (the parameters theta_{sK} and the optimizer's full `state_dict`, saved with
`torch.save` in a directory), the batches and learning rates (kept by the recorder), the
final theta_T, and a fingerprint of every theta_t: its float64 sum, its float64 sum of
absolute values and `FINGERPRINT_ENTRIES` entries at fixed positions (80 bytes a step).

Reading row j of `ReplayParams` (or of `ReplayScales`, Adam's step scales) replays its
segment s = j // K: a private copy of the model (`copy.deepcopy`, made at read time, so a
model changed after recording is caught) is set to theta_{sK}, a fresh optimizer of the
same class and param groups loads the checkpoint's state, and the steps sK .. sK + K - 1
are taken again with the declared loss on x[batch] and the recorded learning rates
(`optimizer.zero_grad(); loss.backward(); optimizer.step()`, as the user's loop did).
Every replayed theta_{t+1} is compared with its fingerprint; a mismatch (a
non-deterministic model or loop, a model changed since recording, an edited checkpoint)
raises `ReplayDivergedError` naming the step. The replayed rows agree with the recorded
ones bit for bit when the loop computed the loss as `pathkernel.losses.loss_value` does
(e.g. `F.cross_entropy(model(xb), yb)`); otherwise the fingerprint accepts a relative gap of
10 sqrt(eps), the recorder's tolerance for the loop's gradient (`Recorder(verify=True)`).

Replayed segments (K + 1 rows of theta, K of scales) are cached, at most `CACHED_SEGMENTS`
of them, so a sweep in either direction replays each segment once. With K ~ sqrt(T)
(chosen as the recording goes: K doubles whenever there would be more than 2K
checkpoints), disk holds about sqrt(2T) checkpoints (1 x P floats for SGD, 2-3 x P with
momentum or Adam) and RAM about 2 sqrt(2T) x P (x 2 for Adam) floats, at the price of one
replay of the run per sweep over the path.

Checkpoints are written atomically (`pathkernel.recording.checkpoints`): a full disk
raises an `OSError` naming the directory, the step and the bytes needed, and leaves the
store as before the step.

Pickling a store (with the path that holds it, e.g. to a Dask worker,
`pathkernel.decomposition.distributed`) keeps its directory, fingerprints, batches and
learning rates, the model and theta_T, but neither the user's optimizer (its live state)
nor the cached segments: the copy replays from the checkpoint files, which it only reads,
and cannot record further steps.
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import shutil
import tempfile
import weakref
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from pathkernel.losses import loss_value
from pathkernel.recording.checkpoints import checkpoint_file, delete_checkpoints, save_checkpoint
from pathkernel.recording.views import ReplayParams, ReplayScales
from pathkernel.training.optimizers import adam_scales

FINGERPRINT_ENTRIES = 8
CACHED_SEGMENTS = 2


def automatic_interval(steps: int) -> int:
    """K chosen automatically after `steps` steps: the smallest power of two with at most
    2K checkpoints (steps // K + 1 <= 2K), so K is about sqrt(steps / 2) to sqrt(2 steps)."""
    every = 1
    while steps // every + 1 > 2 * every:
        every *= 2
    return every


class ReplayDivergedError(RuntimeError):
    """The replayed run left the recorded one (the step is named in the message)."""


class ReplayStore:
    """Checkpoints and fingerprints of a recorded run, and the replay that restores it.

    Args:
        model, optimizer: the user's module and torch.optim optimizer, at theta_0 (fresh).
        params: the model's parameters in `model.parameters()` order (the flat layout).
        x, target: training inputs (n, ...) and targets prepared for `loss`.
        loss: the declared loss ("mse", "bce", "cross_entropy").
        directory: where the checkpoint files go (None: a temporary directory, deleted with
            this store and its views).
        checkpoint_every: K, or None to choose K ~ sqrt(T) as the recording goes.

    Attributes:
        temporary: whether `directory` was None (a temporary directory).
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, params: list[torch.Tensor],
                 x: torch.Tensor, target: torch.Tensor, loss: str, directory: str | os.PathLike | None,
                 checkpoint_every: int | None) -> None:
        if checkpoint_every is not None and (isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int)
                                             or checkpoint_every < 1):
            raise ValueError(f"checkpoint_every={checkpoint_every!r} must be a positive integer or None")
        self.temporary = directory is None
        if directory is None:
            directory = tempfile.mkdtemp(prefix="pathkernel-replay-")
            self._cleanup = weakref.finalize(self, shutil.rmtree, directory, True)
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OSError(error.errno, f"cannot create the checkpoint directory {self.directory} "
                                       f"({error.strerror or error})") from error
        self.model, self.optimizer, self.params = model, optimizer, params
        self.kind = type(optimizer)
        accepted = inspect.signature(self.kind).parameters  # AdamW's defaults name an option it does not take
        self.options = {key: value for key, value in optimizer.defaults.items() if key in accepted}
        self.x, self.target, self.loss = x, target, loss
        self.adaptive = checkpoint_every is None
        self.every = 1 if checkpoint_every is None else checkpoint_every
        position = {id(p): i for i, p in enumerate(params)}
        self.groups = [[position[id(p)] for p in group["params"]] for group in optimizer.param_groups]
        self.width = sum(p.numel() for p in params)
        self.dtype = params[0].dtype
        self.entries = torch.linspace(0, self.width - 1, min(FINGERPRINT_ENTRIES, self.width)).round().long().unique()
        self.fingerprints: list[torch.Tensor] = []
        self.checkpoints: list[int] = []
        self.stale: list[int] = []  # steps of dropped checkpoints whose files could not be deleted yet
        self.last: torch.Tensor | None = None
        self.lrs: list[float] = []
        self.batches: list[torch.Tensor] = []
        self.adam = False
        self.cache: OrderedDict[int, tuple[torch.Tensor, torch.Tensor | None]] = OrderedDict()
        self.replayed_steps = 0
        self.peak_cached_rows = 0

    def __getstate__(self) -> dict:
        """What a pickled copy keeps: everything but the optimizer, the cache and the cleanup
        of a temporary directory (the copy reads the checkpoint files; see the module docstring)."""
        state = {key: value for key, value in self.__dict__.items() if key != "_cleanup"}
        state.update(optimizer=None, cache=OrderedDict(), directory=self.directory.absolute())
        return state

    @property
    def rows(self) -> int:
        return len(self.fingerprints)

    def file(self, step: int) -> Path:
        """The checkpoint file of step `step` (theta_step and the optimizer state after `step` steps)."""
        return checkpoint_file(self.directory, step)

    def fingerprint(self, row: torch.Tensor) -> torch.Tensor:
        """(2 + entries,) float64: sum, sum of |.|, and the entries at `self.entries`."""
        wide = row.detach().to(torch.float64)
        entries = self.entries.to(wide.device)
        return torch.cat([wide.sum()[None], wide.abs().sum()[None], wide[entries]]).cpu()

    def append(self, row: torch.Tensor) -> None:
        """Record theta_t (t = rows so far), taken just after the optimizer's t-th step.

        Raises:
            OSError: the checkpoint of this step could not be written (errno ENOSPC on a full
                disk; see `pathkernel.recording.checkpoints`); the store is unchanged.
        """
        if self.optimizer is None:
            raise RuntimeError("this ReplayStore is an unpickled copy: it replays the recording, it cannot record")
        if row.shape != (self.width,):
            raise ValueError(f"a snapshot row has shape ({self.width},); got {tuple(row.shape)}")
        step = self.rows
        last = row.detach().clone()
        if step % self.every == 0:
            save_checkpoint(self.directory, step, last, self.optimizer.state_dict())
            self.checkpoints.append(step)
        self.fingerprints.append(self.fingerprint(last))
        self.last = last
        if self.adaptive and len(self.checkpoints) > 2 * self.every:
            self.every = automatic_interval(step)
            self.stale += [s for s in self.checkpoints if s % self.every]
            self.checkpoints = [s for s in self.checkpoints if s % self.every == 0]
            self.stale = delete_checkpoints(self.directory, self.stale)  # those that fail are tried again

    def views(self, lrs: list[float], batches: list[torch.Tensor], adam: bool) -> tuple[ReplayParams, ReplayScales | None]:
        """(params, scales) views of the recorded steps (scales for Adam/AdamW, else None)."""
        if len(lrs) != self.rows - 1 or len(batches) != self.rows - 1:
            raise ValueError(f"{self.rows - 1} steps recorded, got {len(lrs)} learning rates and {len(batches)} batches")
        self.lrs, self.batches, self.adam = list(lrs), list(batches), adam
        self.cache.clear()
        return ReplayParams(self), (ReplayScales(self) if adam else None)

    @property
    def steps(self) -> int:
        return self.rows - 1

    def segment(self, s: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(rows theta_{sK}..theta_{min((s+1)K, T)}, scales of steps sK..min((s+1)K, T) - 1), replayed."""
        if s in self.cache:
            self.cache.move_to_end(s)
            return self.cache[s]
        start = s * self.every
        end = min(start + self.every, self.steps)
        checkpoint = torch.load(self.file(start), weights_only=True)
        self._check(start, checkpoint["theta"], f"the checkpoint of step {start}")
        model = copy.deepcopy(self.model)
        params = list(model.parameters())
        with torch.no_grad():
            nn.utils.vector_to_parameters(checkpoint["theta"].clone(), params)
        optimizer = self.kind([{"params": [params[i] for i in group]} for group in self.groups], **self.options)
        optimizer.load_state_dict(checkpoint["optimizer"])
        rows = [checkpoint["theta"]]
        scales = []
        for k in range(start, end):
            index = self.batches[k]
            for group in optimizer.param_groups:
                group["lr"] = self.lrs[k]
            optimizer.zero_grad()
            with torch.enable_grad():  # the decomposition may read the path under torch.no_grad()
                out = model(self.x[index])
                loss_value(self.loss, out.reshape(index.numel(), -1), self.target[index]).backward()
            optimizer.step()
            row = nn.utils.parameters_to_vector(params).detach().clone()
            self._check(k + 1, row, f"replaying step {k} (theta_{k} -> theta_{k + 1})")
            rows.append(row)
            if self.adam:
                scales.append(adam_scales(optimizer, params))
            self.replayed_steps += 1
        block = (torch.stack(rows), torch.stack(scales) if self.adam else None)
        self.cache[s] = block
        while len(self.cache) > CACHED_SEGMENTS:
            self.cache.popitem(last=False)
        self.peak_cached_rows = max(self.peak_cached_rows, self.cached_rows)
        return block

    @property
    def cached_rows(self) -> int:
        """Rows of theta and of scales held in the cache now (at most CACHED_SEGMENTS x (K + 1) each)."""
        return sum(rows.shape[0] + (0 if scales is None else scales.shape[0]) for rows, scales in self.cache.values())

    def _check(self, step: int, row: torch.Tensor, what: str) -> None:
        recorded = self.fingerprints[step]
        seen = self.fingerprint(row)
        if torch.equal(seen, recorded):
            return
        tolerance = 10 * math.sqrt(torch.finfo(self.dtype).eps)
        l1 = float(recorded[1])
        scale = torch.cat([torch.tensor([l1, l1], dtype=torch.float64),
                           recorded[2:].abs() + l1 / self.width])
        gap = (seen - recorded).abs()
        if bool((gap <= tolerance * scale).all()):
            return
        raise ReplayDivergedError(
            f"{what}: the replayed theta_{step} differs from the recorded one (fingerprint gap "
            f"{float((gap / scale).max()):.2e} relative, tolerance {tolerance:.1e}); the loop is not "
            "deterministic (dropout, augmentation, data changed), the model changed since recording, "
            "or a checkpoint was edited")

    def row(self, j: int) -> torch.Tensor:
        if j == self.steps:
            return self.last
        return self.segment(j // self.every)[0][j % self.every]

    def scale(self, k: int) -> torch.Tensor:
        return self.segment(k // self.every)[1][k % self.every]

