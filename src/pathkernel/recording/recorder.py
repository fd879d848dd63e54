"""`Recorder`: a user's own training loop recorded as a `TrainingPath`.

Optimizer step hooks see the parameters and the user's gradient before each step and the
parameters (and Adam's step scale) after it; `step(index)` checks the gradient against the
declared loss on x[index] and files theta_t in a store: `pathkernel.recording.snapshots`
(storage="disk" or "memory": every theta_t) or `pathkernel.recording.replay`
(storage="replay": checkpoints every K steps, the other snapshots replayed when read).
The two lines a loop adds, the storage modes and their costs: `pathkernel.attribution`; a loop
whose inputs and targets are drawn afresh at every step: `pathkernel.recording.draws`.
"""

from __future__ import annotations

import dataclasses
import os

import torch
from torch import nn
from torch.func import grad

from pathkernel.functional import check_inputs, flat_function, flat_parameters, output_dim, parameter_mask
from pathkernel.losses import loss_value, prepare_targets
from pathkernel.precision import working_dtype
from pathkernel.recording.draws import Draws, checked_draws
from pathkernel.recording.replay import ReplayStore
from pathkernel.recording.snapshots import snapshot_store
from pathkernel.training import ADAM_FAMILY, TrainingPath, adam_scales, optimizer_rule


COUPLING_MODULES = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)


class RecordingError(RuntimeError):
    """The recorded loop no longer matches what the recorder saw (a step not recorded,
    parameters changed outside the optimizer, a gradient that is not the declared loss's)."""


class Recorder:
    """Records a user's training loop for an exact Domingos decomposition.

    Args:
        model: the user's module (float32 or float64), at theta_0.
        optimizer: a fresh torch.optim.SGD (momentum, dampening, nesterov, weight_decay),
            Adam or AdamW over the model's trainable parameters (requires_grad=True; frozen
            ones may be in it or not: torch skips them); hyper-parameters are read from its
            param_groups (learning rates at every step, so schedulers work). Frozen
            parameters stay constant along the path and are left out of the kernels.
        x, y: the whole training set (n, ...) and its targets; batches are identified by
            indices into it.
        loss: the loss the loop minimizes on each batch, as a batch mean: "mse", "bce" or
            "cross_entropy" (`pathkernel.losses`).
        storage: "disk" (default: snapshots in memory-mapped files), "memory", or "replay"
            (checkpoints every K steps; the other snapshots are replayed when read: see
            `pathkernel.attribution` and `pathkernel.recording.replay`).
        directory: where the snapshot (or checkpoint) files go (default: a temporary
            directory, deleted when the path is garbage collected).
        verify: check at every step that the user's gradient is the declared loss's
            gradient on x[index] (one extra backward pass per step).
        checkpoint_every: K for storage="replay" (default None: K ~ sqrt(T), a power of two
            doubled while recording so that at most 2K checkpoints are kept). RAM while
            decomposing grows with K (two cached segments of K + 1 snapshots, twice that for
            Adam), disk with T / K.

    Draws: when the model's input and target for example i change at every step (a DDPM feeds
    (x_t, t), the noised x_i and its noise level, with target the noise eps), the loop passes
    the batch it used, `rec.step(indices, inputs=(b, ...), targets=(b, ...))`, row j being a draw
    of example indices[j] (an example may appear several times). The loss of the step is then
    the declared loss on (inputs, targets), and `pk.domingos(rec.path, x, exact=True,
    per_sample=True)` decomposes f(theta_T, x) - f(theta_0, x) over the n training examples,
    an example's contribution (m, n[, c]) being the sum over its draws of
    <int_0^1 grad f(theta_k + s Delta_k, x) ds, -lr_k l'(f(theta_k, x_{k,j}), y_{k,j}) grad f(theta_k, x_{k,j})>
    (SGD; momentum and Adam with their cross-time, preconditioned kernel). `rec.draw_path`
    decomposes over the N draws themselves, (m, N[, c]). Needs storage="disk" or "memory".

    Raises:
        TypeError: an optimizer other than SGD, Adam or AdamW (named in the message).
        ValueError: an optimizer with state already (create the recorder before the first
            step), over parameters that are not the model's, or missing a parameter with
            requires_grad=True; a model with batch normalization in training mode (its
            examples are coupled).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        loss: str,
        storage: str = "disk",
        directory: str | os.PathLike | None = None,
        verify: bool = True,
        checkpoint_every: int | None = None,
    ) -> None:
        self.name, self.hyper = optimizer_rule(optimizer)
        check_inputs(model, x)
        if isinstance(y, torch.Tensor) and y.device != x.device:
            raise ValueError(f"y is on {y.device} but x and the model are on {x.device}; move one of them "
                             f"(e.g. y.to('{x.device}'))")
        coupled = sorted({type(m).__name__ for m in model.modules() if isinstance(m, COUPLING_MODULES) and m.training})
        if coupled:
            raise ValueError(f"the model has {', '.join(coupled)} in training mode: batch statistics couple the "
                             "examples of a batch, so its step does not split into per-example gradients "
                             "(use GroupNorm/LayerNorm, or eval mode)")
        params = list(model.parameters())
        names = {id(p): name for name, p in model.named_parameters()}
        in_optimizer = [p for group in optimizer.param_groups for p in group["params"]]
        foreign = [p for p in in_optimizer if id(p) not in names]
        if foreign or len({id(p) for p in in_optimizer}) != len(in_optimizer):
            raise ValueError("the optimizer must hold the model's parameters, each once; it holds "
                             f"{len(foreign)} tensors that are not the model's and {len(in_optimizer)} in all")
        held = {id(p) for p in in_optimizer}
        left_out = [names[id(p)] for p in params if p.requires_grad and id(p) not in held]
        if left_out:
            raise ValueError(f"parameters {left_out} have requires_grad=True but are not in the optimizer, so they "
                             "would never move: freeze them with p.requires_grad_(False), or give them to the "
                             "optimizer")
        self.trainable = parameter_mask(model, "trainable")
        if any(optimizer.state.get(p) for p in params):
            raise ValueError("the optimizer has already taken steps (its state is not empty); "
                             "create the Recorder before the first optimizer.step()")
        self.model, self.optimizer, self.params = model, optimizer, params
        self.x, self.y, self.loss, self.verify = x.detach(), y.detach(), loss, verify
        self.n = x.shape[0]
        self.c, _ = output_dim(model, x)
        theta0 = flat_parameters(model)
        self.target = prepare_targets(loss, self.y, self.n, self.c, theta0.dtype)
        self.f = flat_function(model)
        self.replay = storage == "replay"
        if self.replay:
            self.snapshots = ReplayStore(model, optimizer, params, self.x, self.target, loss, directory,
                                         checkpoint_every)
            self.scales = None
        else:
            if checkpoint_every is not None:
                raise ValueError(f"checkpoint_every={checkpoint_every!r} is for storage='replay'; got storage={storage!r}")
            stored = working_dtype(theta0.dtype)  # half precision is kept exactly in float32
            self.snapshots = snapshot_store(storage, directory, "params.f8" if stored == torch.float64
                                            else "params.f4", theta0.numel(), stored)
            self.scales = (snapshot_store(storage, directory, "scales.bin", theta0.numel(), stored)
                           if self.name in ADAM_FAMILY else None)
        self.snapshots.append(theta0)
        self.last = theta0
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.batches: list[torch.Tensor] = []
        self.draws = Draws()
        self._gradient: torch.Tensor | None = None
        self._after: torch.Tensor | None = None
        self._lr = 0.0
        self._failure: str | None = None
        self._hooks = [optimizer.register_step_pre_hook(self._before_step),
                       optimizer.register_step_post_hook(self._after_step)]

    def _current(self) -> torch.Tensor:
        return nn.utils.parameters_to_vector(self.params).detach().clone()

    def _alive(self) -> None:
        if self._failure is not None:
            raise RecordingError(self._failure)

    def _before_step(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        self._alive()
        if self._after is not None:
            raise RecordingError(f"optimizer.step() was called again before recorder.step(indices) "
                                 f"recorded step {len(self.lrs)}")
        if not torch.equal(self._current(), self.last):
            raise RecordingError(f"the model's parameters changed outside optimizer.step() after recorded "
                                 f"step {len(self.lrs)}; the path would not be the model's")
        name, hyper = optimizer_rule(optimizer)
        if (name, hyper) != (self.name, self.hyper):
            raise RecordingError(f"the optimizer's hyper-parameters changed from {self.hyper} to {hyper}")
        missing = [i for i, p in enumerate(self.params) if p.requires_grad and p.grad is None]
        if missing:
            raise RecordingError(f"trainable parameters {missing} have no gradient at step {len(self.lrs)}; every "
                                 "parameter with requires_grad=True must take part in the loss (torch would skip "
                                 "them); freeze unused ones with requires_grad_(False)")
        self._gradient = torch.cat([p.grad.detach().reshape(-1) if p.requires_grad else torch.zeros_like(p).reshape(-1)
                                    for p in self.params]).clone()
        self._lr = float(optimizer.param_groups[0]["lr"])

    def _after_step(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        self._after = self._current()
        self._scale = adam_scales(optimizer, self.params) if self.scales is not None else None

    def _indices(self, indices: object) -> torch.Tensor:
        if indices is None:
            raise TypeError("recorder.step needs the training-set indices of the batch; got None "
                            "(e.g. iterate over TensorDataset(x, y, torch.arange(n)))")
        index = torch.as_tensor(indices)
        if index.dtype.is_floating_point or index.dtype == torch.bool or index.dim() != 1 or index.numel() == 0:
            raise TypeError(f"batch indices must be a non-empty 1-D integer sequence; got {index.dtype} "
                            f"of shape {tuple(index.shape)}")
        if int(index.min()) < 0 or int(index.max()) >= self.n:
            raise ValueError(f"batch indices must lie in [0, {self.n}); got range [{int(index.min())}, {int(index.max())}]")
        return index.long().cpu()

    def step(self, indices: torch.Tensor | list[int], *, inputs: torch.Tensor | None = None,
             targets: torch.Tensor | None = None) -> None:
        """Record the optimizer step just taken on the batch x[indices] (call after optimizer.step()).

        inputs (b, ...), targets (b, ...): the draws the step's loss used when they are not
        x[indices], y[indices] (class docstring), with x's example shape and dtype and y's.

        Raises:
            ValueError: only one of inputs and targets, a shape, dtype or device other than x's
                and y's, or inputs with storage="replay" (which replays steps from x[indices]).
            OSError: its snapshot could not be stored (errno ENOSPC on a full disk: see
                `pathkernel.recording.snapshots` and `pathkernel.recording.checkpoints`); the
                recording ends there, and later steps, `optimizer.step()` and `path` raise
                `RecordingError`.
        """
        self._alive()
        if self._after is None:
            raise RecordingError("recorder.step(indices) must follow optimizer.step()")
        index = self._indices(indices)
        inputs, targets = checked_draws(inputs, targets, index, self.x, self.y, replay=self.replay)
        rows = self.x[index] if inputs is None else inputs
        target = (self.target[index] if targets is None
                  else prepare_targets(self.loss, targets, index.numel(), self.c, self.last.dtype))
        value = float(loss_value(self.loss, self.f(self.last, rows), target))
        if self.verify:
            ours = grad(lambda t: loss_value(self.loss, self.f(t, rows), target))(self.last)
            ours = torch.where(self.trainable.to(ours.device), ours, torch.zeros_like(ours))
            tolerance = 10 * torch.finfo(ours.dtype).eps ** 0.5
            gap = torch.linalg.vector_norm(ours - self._gradient)
            if gap > tolerance * torch.linalg.vector_norm(self._gradient) + torch.finfo(ours.dtype).tiny:
                raise RecordingError(
                    f"step {len(self.lrs)}: the gradient the loop used is not the gradient of loss={self.loss!r} on "
                    f"x[indices] (relative gap {float(gap / torch.linalg.vector_norm(self._gradient)):.2e}); check "
                    "the indices, the loss (a batch mean), and that the model has no dropout or augmentation")
        try:
            self.snapshots.append(self._after)
            if self.scales is not None:
                self.scales.append(self._scale)
        except OSError as error:
            self._failure = (f"the recording stopped at step {len(self.lrs)}, whose snapshot could not be stored "
                             f"({error}); free disk space (or use storage='replay') and record the run again "
                             "(recorder.close() lets the loop go on unrecorded)")
            raise
        self.last = self._after
        self._after = None
        self.lrs.append(self._lr)
        self.losses.append(value)
        self.batches.append(index)
        self.draws.add(index, inputs, targets)

    def close(self) -> None:
        """Remove the optimizer hooks (the loop runs unrecorded afterwards)."""
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    @property
    def path(self) -> TrainingPath:
        """The recorded `TrainingPath` (params and scales backed by the snapshot files, or
        replayed on access: `pathkernel.recording.ReplayParams` for storage="replay").

        Raises:
            RecordingError: no step recorded, a step taken but not recorded, the model's
                parameters changed since the last recorded step, or a step's snapshot could
                not be stored (a full disk).
        """
        self._alive()
        if not self.lrs:
            raise RecordingError("no step was recorded: call recorder.step(indices) after each optimizer.step()")
        if self._after is not None:
            raise RecordingError(f"optimizer step {len(self.lrs)} was taken but not recorded with recorder.step(indices)")
        current = nn.utils.parameters_to_vector(self.model.parameters()).detach()
        if current.shape != self.last.shape or not torch.equal(current, self.last):
            raise RecordingError(f"the model changed after the last recorded step {len(self.lrs) - 1}: its parameters "
                                 "are not the recorded theta_T")
        dtype = working_dtype(self.last.dtype)
        if self.replay:
            params, scales = self.snapshots.views(self.lrs, self.batches, self.name in ADAM_FAMILY)
        else:
            params = self.snapshots.tensor()
            scales = self.scales.tensor() if self.scales is not None else None
        path = TrainingPath(
            model=self.model, x=self.x, y=self.y, params=params,
            lrs=torch.tensor(self.lrs, dtype=dtype), losses=torch.tensor(self.losses, dtype=dtype),
            loss=self.loss, optimizer=self.name, batches=list(self.batches),
            hyper={**self.hyper, "recorded": True},
            scales=scales, trainable=self.trainable,
        )
        if not self.draws.used:
            return path
        fields = self.draws.fields(self.x, self.y)
        return dataclasses.replace(path, x=fields["x"], y=fields["y"], batches=fields["batches"],
                                   hyper={**path.hyper, **fields["hyper"]})

    @property
    def draw_path(self) -> TrainingPath:
        """`path` with every draw its own training point (no "owners"): `pk.domingos` then gives
        per-draw terms (m, N[, c]), draw j belonging to example `rec.path.hyper["owners"][j]`.
        Raises what `path` raises."""
        path = self.path
        hyper = {key: value for key, value in path.hyper.items() if key not in ("owners", "examples")}
        return dataclasses.replace(path, hyper=hyper)
