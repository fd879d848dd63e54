"""The decomposition's checks of its inputs and of itself: a call's arguments (`prepare`),
explained outputs, the path's trainable coordinates, the additivity of the per-sample
terms, which routes model a path."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from pathkernel.decomposition.result import AdditivityWarning
from pathkernel.functional import (
    FlatFunction,
    check_allocation,
    check_deterministic,
    check_inputs,
    flat_function,
    model_dtype,
    output_dim,
    parameter_mask,
    select_columns,
    warn_if_non_smooth,
)
from pathkernel.kernels import chain_for, structured
from pathkernel.precision import HALF_ADDITIVITY_TOLERANCE, cast_path, working_dtype
from pathkernel.training import TrainingPath
from pathkernel.validation import integer

ADDITIVITY_TOLERANCE = {torch.float64: 1e-8, torch.float32: 1e-3}
ROUTES = ("auto", "forward", "reverse")


@dataclass(frozen=True)
class Setup:
    """A checked `domingos` call, in the working dtype.

    Attributes:
        path: the path, cast to the working dtype (`pathkernel.precision.cast_path`).
        x: the queries (m, ...), detached, in the working dtype.
        f, query_f: theta, x -> f(theta, x) (m, c), and its explained outputs (m, c_q).
        chain: the structured chain of the model (None: torch.func, or outputs= given).
        c, scalar: the model's number of outputs, and whether its output is scalar.
        route: "forward" or "reverse", resolved from "auto".
        mask: (P,) bool, the path's trainable coordinates (`trainable_mask`).
        tolerance: the additivity tolerance for the recorded precision.
    """

    path: TrainingPath
    x: torch.Tensor
    f: FlatFunction
    query_f: FlatFunction
    chain: structured.Chain | None
    c: int
    scalar: bool
    route: str
    mask: torch.Tensor
    tolerance: float


def prepare(path: TrainingPath, x: torch.Tensor, *, exact: bool, per_sample: bool, nodes: int, stride: int,
            method: str, route: str, outputs: Sequence[int] | None, dtype: torch.dtype | None) -> Setup:
    """Check the arguments of `pathkernel.domingos` (see its docstring) and set the call up.

    Reads the path's first and last rows and evaluates the model on one query; warns
    (`NonSmoothActivationWarning`) on a kinked model. Raises what `domingos` documents.
    """
    if not isinstance(path, TrainingPath):
        raise TypeError(f"path must be a TrainingPath from pathkernel.train, got {type(path).__name__}")
    model = path.model
    check_inputs(model, x)
    if path.x.device != x.device:
        raise ValueError(f"the path's training inputs are on {path.x.device} but the model and x are on {x.device}; "
                         "decompose on the device the model was trained on, or move path.x and path.y too")
    if x.shape[1:] != path.x.shape[1:]:
        raise ValueError(f"query examples have shape {tuple(x.shape[1:])}; training examples {tuple(path.x.shape[1:])}")
    integer("stride", stride)
    integer("nodes", nodes)
    if exact and stride > 1:
        raise ValueError(f"exact=True needs the kernel at every step; got stride={stride}")
    if route not in ROUTES:
        raise ValueError(f"route={route!r}; expected one of {ROUTES}")
    if route == "auto":
        reverse = path.hyper.get("recorded") or not forward_models(path) or (per_sample and outputs is not None)
        route = "reverse" if reverse else "forward"
    if route == "forward" and not forward_models(path):
        raise ValueError(f"route='forward' does not model this {path.optimizer!r} path {path.hyper}; use 'reverse'")
    if stride > 1 and (path.optimizer not in ("gd", "sgd") or route == "reverse"):
        why = " (outputs= needs the reverse route)" if outputs is not None and per_sample else ""
        raise ValueError(f"stride={stride} is for 'gd' and 'sgd' paths on the forward route; "
                         f"this one used {path.optimizer!r} on the {route} route{why}")
    if path.hyper.get("recorded"):
        current = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
        if current.shape != path.params[-1].shape or not torch.equal(current, path.params[-1].to(current.device)):
            raise ValueError("the model changed after recording: its parameters are not the path's theta_T "
                             "(decompose before training further, or record the further steps too)")
    check_deterministic(model, "domingos")
    mask = trainable_mask(path)
    recorded_dtype = model_dtype(model)
    work = working_dtype(recorded_dtype, dtype)
    path = cast_path(path, work)
    model, x = path.model, x.to(work)
    warn_if_non_smooth(model, "the exact (quadrature) decomposition" if exact else "Domingos' Theorem 2/3")
    x = x.detach()
    f = flat_function(model)
    c, scalar = output_dim(model, x)
    if per_sample:
        c_query = c if outputs is None or isinstance(outputs, (int, str, bytes)) else len(outputs)
        check_allocation("the per-sample terms (five arrays)", (5, x.shape[0], path.x.shape[0], c_query, c),
                         x.dtype, x.device)
    query_f = f if outputs is None else selected_outputs(f, outputs, c, scalar, per_sample and route != "reverse")
    chain = chain_for(model, x, method) if outputs is None else None
    coarser = work if recorded_dtype in HALF_ADDITIVITY_TOLERANCE or torch.finfo(recorded_dtype).eps <= \
        torch.finfo(work).eps else recorded_dtype
    tolerance = HALF_ADDITIVITY_TOLERANCE.get(recorded_dtype, ADDITIVITY_TOLERANCE[coarser])
    return Setup(path, x, f, query_f, chain, c, scalar, route, mask, tolerance)


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
