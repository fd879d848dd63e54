"""Training that records its path theta_0, ..., theta_T.

`train` runs the model's own parameters through a `torch.optim` optimizer, so a
recorded path equals torch's step for step (DESIGN §2):

* ``"gd"``: full-batch gradient descent, torch.optim.SGD without momentum;
* ``"sgd"``: the same on mini-batches of `batch_size` (each epoch a seeded random
  permutation, an incomplete last batch dropped);
* ``"momentum"``: torch.optim.SGD(momentum=m), heavy ball without dampening;
* ``"adam"``: torch.optim.Adam(betas, eps);
* ``"adamw"``: torch.optim.AdamW(betas, eps), weight decay decoupled from the gradient.

`weight_decay` (all optimizers) is torch's: added to the gradient (L2) for SGD and Adam,
a separate shrink theta <- (1 - lr wd) theta for AdamW. `optimizer_rule` reads the same
description (name, hyper-parameters) from any supported `torch.optim` optimizer, and
`adam_scales` the per-coordinate step scale of Adam's last step, so that paths recorded
from a user's own loop (`pathkernel.attribution.Recorder`) carry what `train` records.

The loss of step k is the batch mean of `pathkernel.losses`. After `train` the model
holds theta_T.

Frozen parameters (``requires_grad=False``) are left out of the optimizer: the path keeps
every coordinate (frozen ones constant) and `TrainingPath.trainable` marks the moving
ones, which are the coordinates of every kernel of the decomposition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from pathkernel.functional import (
    check_deterministic,
    check_inputs,
    flat_parameters,
    output_dim,
    parameter_mask,
    progress,
)
from pathkernel.losses import loss_value, prepare_targets
from pathkernel.validation import integer

OPTIMIZERS = ("gd", "sgd", "momentum", "adam", "adamw")
ADAM_FAMILY = ("adam", "adamw")


class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss or parameter."""


@dataclass
class TrainingPath:
    """A recorded training run.

    Attributes:
        model: the trained module (holds theta_T); its structure evaluates any theta.
        x, y: training inputs (n, ...) and targets as given to `train`.
        params: (T+1, P) flat parameters theta_0..theta_T.
        lrs: (T,) learning rate of each step.
        losses: (T,) training loss of the batch at step k, evaluated at theta_k.
        loss: loss name ("mse", "bce", "cross_entropy").
        optimizer: optimizer name (one of `OPTIMIZERS`).
        batches: (T, b) training-set indices of each step's batch (or a list of T
            index tensors when batch sizes vary); None when every step used the full batch.
        hyper: optimizer hyper-parameters as used: momentum (and dampening, nesterov) for
            SGD, betas and eps for Adam/AdamW, weight_decay; "recorded": True for paths
            recorded from a user's loop.
        scales: (T, P) for "adam"/"adamw": the step scale S_k = 1 / ((1 - beta1^(k+1))
            (sqrt(v_k / (1 - beta2^(k+1))) + eps)) with which step k multiplied the first
            moment (Delta_k = -lr_k S_k m_k [- lr_k wd theta_k for AdamW]); 0 on coordinates
            the optimizer did not move; None otherwise.
        trainable: (P,) bool, the coordinates the optimizer could move (parameters with
            requires_grad=True when training began); the others stay constant along the
            path and are left out of every kernel. None means all.
    """

    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    params: torch.Tensor
    lrs: torch.Tensor
    losses: torch.Tensor
    loss: str
    optimizer: str
    batches: torch.Tensor | list[torch.Tensor] | None = None
    hyper: dict[str, object] = field(default_factory=dict)
    scales: torch.Tensor | None = None
    trainable: torch.Tensor | None = None

    @property
    def steps(self) -> int:
        """Number of recorded steps T."""
        return self.params.shape[0] - 1

    def batch(self, k: int) -> torch.Tensor | slice:
        """Training-set indices of step k's batch (a slice of everything for full batch)."""
        return slice(None) if self.batches is None else self.batches[k]


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


def _optimizer(name: str, params, lr: float, momentum: float, betas: tuple[float, float], eps: float,
               weight_decay: float):
    if weight_decay < 0:
        raise ValueError(f"weight_decay={weight_decay} must be >= 0")
    if name in ("gd", "sgd"):
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "momentum":
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum={momentum} must lie in [0, 1)")
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if not all(0 <= b < 1 for b in betas) or eps <= 0:
        raise ValueError(f"betas={betas} must lie in [0, 1) and eps={eps} must be > 0")
    adam = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    return adam(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


SUPPORTED_TORCH_OPTIMIZERS = (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW)


def optimizer_rule(optimizer: torch.optim.Optimizer) -> tuple[str, dict[str, object]]:
    """(name, hyper) of a torch.optim SGD, Adam or AdamW optimizer, read from its param_groups.

    name is "sgd" (no momentum), "momentum", "adam" or "adamw" (Adam with decoupled weight
    decay). Every param group must share the hyper-parameters (the learning rate may be
    changed between steps, e.g. by a scheduler; it is read at each step).

    Raises:
        TypeError: any other optimizer (named in the message).
        ValueError: options the decomposition does not model (maximize, amsgrad, fused,
            differing param groups), naming them.
    """
    if type(optimizer) not in SUPPORTED_TORCH_OPTIMIZERS:
        raise TypeError(
            f"optimizer {type(optimizer).__module__}.{type(optimizer).__name__} is not supported; "
            "expected torch.optim.SGD, torch.optim.Adam or torch.optim.AdamW"
        )
    sgd = isinstance(optimizer, torch.optim.SGD)
    keys = ("momentum", "dampening", "nesterov", "weight_decay") if sgd else (
        "betas", "eps", "weight_decay", "decoupled_weight_decay")
    groups = optimizer.param_groups
    for group in groups:
        for option in ("maximize", "amsgrad", "fused", "differentiable"):
            if group.get(option):
                raise ValueError(f"{type(optimizer).__name__}({option}=True) is not supported by the decomposition")
    values = [{key: group.get(key) for key in keys} for group in groups]
    if any(v != values[0] for v in values[1:]):
        raise ValueError(f"all param groups must share {keys}; got {values}")
    lrs = {float(group["lr"]) for group in groups}
    if len(lrs) != 1:
        raise ValueError(f"all param groups must share one learning rate; got {sorted(lrs)}")
    hyper = dict(values[0])
    if sgd:
        hyper = {"momentum": float(hyper["momentum"]), "dampening": float(hyper["dampening"]),
                 "nesterov": bool(hyper["nesterov"]), "weight_decay": float(hyper["weight_decay"])}
        return ("momentum" if hyper["momentum"] > 0 else "sgd"), hyper
    decoupled = bool(hyper.pop("decoupled_weight_decay")) or isinstance(optimizer, torch.optim.AdamW)
    hyper = {"betas": tuple(float(b) for b in hyper["betas"]), "eps": float(hyper["eps"]),
             "weight_decay": float(hyper["weight_decay"])}
    return ("adamw" if decoupled else "adam"), hyper


def adam_scales(optimizer: torch.optim.Optimizer, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """(P,) step scale S of an Adam/AdamW optimizer's last step, flat in the order of `params`.

    Computed from the optimizer's state as torch.optim.Adam does: with t the step count,
    S = 1 / ((1 - beta1^t) (sqrt(v) / sqrt(1 - beta2^t) + eps)), so the step was
    Delta = -lr S m (- lr wd theta for AdamW). Parameters without state (frozen, outside
    the optimizer, or never given a gradient) were not moved: S = 0 there.
    """
    beta1, beta2 = optimizer.param_groups[0]["betas"]
    eps = optimizer.param_groups[0]["eps"]
    pieces = []
    for p in params:
        state = optimizer.state.get(p)
        if not state:
            pieces.append(torch.zeros(p.numel(), dtype=p.dtype, device=p.device))
            continue
        t = float(state["step"])
        denominator = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2**t)).add_(eps)
        pieces.append((1 / ((1 - beta1**t) * denominator)).reshape(-1))
    return torch.cat(pieces).detach()


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
    opt = _optimizer(optimizer, [p for p in params if p.requires_grad], float(lrs[0]), momentum, betas, eps,
                     weight_decay)
    scales = torch.empty(steps, theta0.numel(), dtype=lrs.dtype) if optimizer in ADAM_FAMILY else None
    path = torch.empty(steps + 1, theta0.numel(), dtype=theta0.dtype)
    path[0] = theta0
    losses = torch.empty(steps, dtype=theta0.dtype)
    for k in progress(range(steps), total=steps, desc=f"train ({optimizer})", enabled=progress_bar):
        rows = slice(None) if batches is None else batches[k]
        for group in opt.param_groups:
            group["lr"] = float(lrs[k])
        opt.zero_grad(set_to_none=True)
        value = loss_value(loss, model(x[rows]).reshape(x[rows].shape[0], -1), target[rows])
        if not torch.isfinite(value):
            raise TrainingDivergedError(f"training diverged at step {k}: loss = {value.item()} (lr = {lrs[k].item():g})")
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
