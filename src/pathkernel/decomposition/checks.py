"""The decomposition's checks of its inputs and of itself: explained outputs, the path's
trainable coordinates, the additivity of the per-sample terms, which routes model a path."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch

from pathkernel.decomposition.result import AdditivityWarning
from pathkernel.functional import FlatFunction, parameter_mask, select_columns
from pathkernel.training import TrainingPath

ADDITIVITY_TOLERANCE = {torch.float64: 1e-8, torch.float32: 1e-3}


def selected_outputs(f: FlatFunction, outputs: Sequence[int], c: int, scalar: bool, forward_route: bool) -> FlatFunction:
    """theta, x -> f(theta, x)[:, outputs], after checking `outputs` (see `domingos`)."""
    if scalar:
        raise ValueError(f"outputs={outputs!r}: the model has a single output; leave outputs=None")
    if forward_route:
        raise ValueError("outputs= needs route='reverse' (or 'auto') in per_sample mode")
    index = list(outputs) if not isinstance(outputs, (int, str, bytes)) else None
    if (index is None or not index or any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < c
                                          for i in index) or len(set(index)) != len(index)):
        raise ValueError(f"outputs={outputs!r} must be a non-empty sequence of distinct integers in [0, {c})")

    def selected(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return f(theta, x)[:, index]

    selected.model, selected.outputs = getattr(f, "model", None), index  # for `restricted_function`
    return selected


def trainable_mask(path: TrainingPath) -> torch.Tensor:
    """(P,) bool: the path's moving coordinates, checked against the model and the path's ends."""
    current = parameter_mask(path.model, "trainable")
    mask = current if path.trainable is None else path.trainable.to(torch.bool)
    if mask.shape != current.shape or not torch.equal(mask, current):
        raise ValueError("the model's requires_grad flags changed since training: the path moved "
                         f"{int(mask.sum())} coordinates, the model now marks {int(current.sum())} trainable; "
                         "restore requires_grad as it was during training")
    if not bool(mask.all()):
        first, last = select_columns(path.params[0], ~mask), select_columns(path.params[-1], ~mask)
        moved = (first != last).sum()
        if moved:
            raise ValueError(f"{int(moved)} coordinates of parameters with requires_grad=False changed along the "
                             "path: they were trained (by another optimizer or by hand), so the path is not the "
                             "kernel machine of the trainable ones; unfreeze them before training")
    return mask


def additivity(terms: dict[str, torch.Tensor], change: torch.Tensor, *, tolerance: float, warn: bool) -> float:
    """max |sum_i per_sample (+ regularization) - (rhs - initial)| / max |rhs - initial|, warning
    (`AdditivityWarning`) above `tolerance` when `warn`."""
    total = terms["per_sample"].sum(1)
    if "regularization" in terms:
        total = total + terms["regularization"]
    scale = float(change.abs().max())
    gap = float((total - change).abs().max())
    error = gap / scale if scale > 0 else gap
    if warn and not error <= tolerance:
        warnings.warn(
            f"the per-sample contributions miss rhs - initial by {error:.2e} relative (tolerance {tolerance:.0e} for "
            f"the recorded precision): the training loop did not follow the recorded update rule (gradient clipping, "
            "a custom step, a changed loss?), or the recorded steps were rounded far from the rule (half precision, "
            "updates near the format's resolution); per_sample does not add up to the change of f",
            AdditivityWarning, stacklevel=3)
    return error


def forward_models(path: TrainingPath) -> bool:
    """Whether the forward routes model the path's optimizer (no weight decay, dampening, Nesterov, AdamW)."""
    hyper = path.hyper
    return not (float(hyper.get("weight_decay", 0.0)) or float(hyper.get("dampening", 0.0))
                or hyper.get("nesterov") or path.optimizer == "adamw")
