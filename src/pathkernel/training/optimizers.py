"""The optimizers of a training path, as torch.optim builds them and as the decomposition
models them.

* `make_optimizer`: the torch.optim optimizer of `train`'s names: "gd" and "sgd"
  (torch.optim.SGD), "momentum" (SGD with momentum, no dampening), "adam", "adamw".
* `optimizer_rule`: (name, hyper-parameters) read back from a user's torch.optim SGD, Adam
  or AdamW (`pathkernel.recording.Recorder`).
* `adam_scales`: the per-coordinate step scale S of Adam's last step (Delta = -lr S m).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

OPTIMIZERS = ("gd", "sgd", "momentum", "adam", "adamw")
ADAM_FAMILY = ("adam", "adamw")


def make_optimizer(name: str, params, lr: float, momentum: float, betas: tuple[float, float], eps: float,
                   weight_decay: float):
    """The torch.optim optimizer of `train`'s optimizer `name` (one of `OPTIMIZERS`) over `params`."""
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
