"""`train`: full-batch or mini-batch training through a torch.optim optimizer, recording
theta_0..theta_T (and Adam's step scales) into a `TrainingPath`; see `pathkernel.training`
for the optimizers and the conventions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from pathkernel.determinism import fixed_threads
from pathkernel.functional import (
    check_deterministic,
    check_inputs,
    flat_parameters,
    output_dim,
    parameter_mask,
    progress,
)
from pathkernel.losses import loss_value, prepare_targets
from pathkernel.training.optimizers import ADAM_FAMILY, OPTIMIZERS, adam_scales, make_optimizer
from pathkernel.training.path import TrainingDivergedError, TrainingPath
from pathkernel.validation import integer


def _learning_rates(lr: float | Sequence[float] | torch.Tensor, steps: int, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(lr, bool) or (isinstance(lr, torch.Tensor) and lr.dtype == torch.bool):
        raise TypeError(f"lr={lr!r} must be a positive number or one per step, not a boolean")
    if isinstance(lr, (int, float)):
        lrs = torch.full((steps,), float(lr), dtype=dtype)
    else:
        lrs = torch.as_tensor(lr, dtype=dtype).flatten()
    if lrs.numel() != steps:
        raise ValueError(f"lr has {lrs.numel()} values but steps={steps}; give one number or one per step")
    if not torch.all(torch.isfinite(lrs) & (lrs > 0)):
        raise ValueError(f"learning rates must be finite and > 0; got min {lrs.min().item()}")
    return lrs


def _batches(n: int, batch_size: int, steps: int, seed: int) -> torch.Tensor:
    """(steps, batch_size) indices: consecutive slices of seeded random permutations."""
    generator = torch.Generator().manual_seed(seed)
    per_epoch = n // batch_size
    epochs = math.ceil(steps / per_epoch)
    rows = [torch.randperm(n, generator=generator)[: per_epoch * batch_size].view(per_epoch, batch_size)
            for _ in range(epochs)]
    return torch.cat(rows)[:steps]


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float | Sequence[float] | torch.Tensor,
    steps: int,
    optimizer: str = "gd",
    loss: str = "mse",
    batch_size: int | None = None,
    seed: int = 0,
    momentum: float = 0.9,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    progress_bar: bool | None = None,
) -> TrainingPath:
    """Train `model` in place and record its path.

    Args:
        model: the module to train (float32 or float64); it ends at theta_T.
        x: training inputs (n, ...); y: targets (see `pathkernel.losses.prepare_targets`).
        lr: learning rate, one number or one per step (length `steps`).
        steps: number of optimizer steps T >= 1.
        optimizer: "gd", "sgd", "momentum", "adam" or "adamw" (torch.optim conventions).
        loss: "mse", "bce" or "cross_entropy".
        batch_size: mini-batch size for "sgd" (for other optimizers, None = full batch).
        seed: seed of the mini-batch order.
        momentum, betas, eps: hyper-parameters of "momentum" and "adam"/"adamw".
        weight_decay: torch's weight decay (L2 in the gradient; decoupled for "adamw").
        progress_bar: tqdm bar; None shows it only on an interactive terminal.

    The steps run with one torch thread (`pathkernel.determinism.fixed_threads`), so the
    path is bit-identical whatever the caller's thread count, which is restored after.

    Returns:
        The `TrainingPath` with params (T+1, P) over every parameter; frozen ones
        (requires_grad=False) are not given to the optimizer and stay constant.

    Raises:
        TrainingDivergedError: the loss or the parameters became NaN/inf, naming the step.
        ValueError: non-finite inputs or targets, a model with dropout or batch
            normalization in training mode, or no trainable parameter.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r} is not supported; expected one of {OPTIMIZERS}")
    integer("steps", steps)
    check_inputs(model, x)
    if isinstance(y, torch.Tensor) and y.device != x.device:
        raise ValueError(f"y is on {y.device} but x and the model are on {x.device}; move one of them "
                         f"(e.g. y.to('{x.device}'))")
    check_deterministic(model, "train (a path that the decomposition can split)")
    trainable = parameter_mask(model, "trainable")
    n = x.shape[0]
    c, _ = output_dim(model, x)
    theta0 = flat_parameters(model)
    target = prepare_targets(loss, y, n, c, theta0.dtype)
    if target.dtype.is_floating_point and not bool(torch.isfinite(target).all()):
        raise ValueError(f"y has {int((~torch.isfinite(target)).sum())} NaN/inf entries; clean the targets first")
    lrs = _learning_rates(lr, steps, torch.float32 if theta0.dtype in (torch.float16, torch.bfloat16)
                          else theta0.dtype)
    batches = None
    if batch_size is not None:
        integer("batch_size", batch_size, 1, n)
        if batch_size < n:
            batches = _batches(n, batch_size, steps, seed)
    if optimizer == "sgd" and batch_size is None:
        raise ValueError("optimizer='sgd' needs batch_size (use optimizer='gd' for full batch)")
    if optimizer == "gd" and batches is not None:
        raise ValueError(f"optimizer='gd' is full batch but batch_size={batch_size} < n={n}; use 'sgd'")

    params = list(model.parameters())
    opt = make_optimizer(optimizer, [p for p in params if p.requires_grad], float(lrs[0]), momentum, betas, eps,
                     weight_decay)
    scales = torch.empty(steps, theta0.numel(), dtype=lrs.dtype) if optimizer in ADAM_FAMILY else None
    path = torch.empty(steps + 1, theta0.numel(), dtype=theta0.dtype)
    path[0] = theta0
    losses = torch.empty(steps, dtype=theta0.dtype)
    with fixed_threads():  # the same path whatever the caller's thread count (pathkernel.determinism)
        for k in progress(range(steps), total=steps, desc=f"train ({optimizer})", enabled=progress_bar):
            rows = slice(None) if batches is None else batches[k]
            for group in opt.param_groups:
                group["lr"] = float(lrs[k])
            opt.zero_grad(set_to_none=True)
            value = loss_value(loss, model(x[rows]).reshape(x[rows].shape[0], -1), target[rows])
            if not torch.isfinite(value):
                raise TrainingDivergedError(
                    f"training diverged at step {k}: loss = {value.item()} (lr = {lrs[k].item():g})")
            value.backward()
            opt.step()
            losses[k] = value.detach()
            if scales is not None:
                scales[k] = adam_scales(opt, params)
            path[k + 1] = nn.utils.parameters_to_vector(params).detach()
            if not torch.all(torch.isfinite(path[k + 1])):
                raise TrainingDivergedError(
                    f"training diverged at step {k}: non-finite parameters after the update (lr = {lrs[k].item():g})"
                )
    hyper: dict[str, object] = {"weight_decay": float(weight_decay)}
    if optimizer == "momentum":
        hyper["momentum"] = momentum
    elif optimizer in ADAM_FAMILY:
        hyper.update(betas=tuple(betas), eps=eps)
    return TrainingPath(model=model, x=x.detach(), y=y.detach(), params=path, lrs=lrs, losses=losses,
                        loss=loss, optimizer=optimizer, batches=batches, hyper=hyper, scales=scales,
                        trainable=trainable)
