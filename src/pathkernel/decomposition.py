"""Domingos' decomposition of a trained model's predictions along its training path.

For a recorded path theta_0..theta_T and query points x (DESIGN §3):

* Theorem 2 / 3 (``exact=False``): f(theta_T, x) = f(theta_0, x) + sum_k <grad f(theta_k, x), Delta_k> + R.
  With gradient descent, Delta_k = -lr_k sum_i grad f(theta_k, x_i) l'_i(theta_k), so the
  kernel part is -sum_k lr_k sum_i K_k(x, x_i) l'_i: a kernel machine, and R = O(sum lr_k^2).
  The kernel part is computed as one Jacobian-vector product of f(., x) along each step.
* Exact form (``exact=True``): the same with grad f(theta_k, x) replaced by its average
  over the segment [theta_k, theta_{k+1}] (composite Gauss-Legendre quadrature, refined
  on long steps), which makes R vanish up to round-off, for any optimizer.
* ``per_sample=True`` splits the kernel part over training points:
  per_sample[j, i] = -sum_k lr_k K_k(x_j, x_i) l'_i(theta_k)  (K replaced by the
  segment-averaged Kbar_k in exact mode; zero when x_i is not in step k's batch), with
  the path kernel sum_k lr_k K_k(x_j, x_i) and the weights a_i of Theorem 1. For
  momentum and Adam the kernel is the optimizer's cross-time, preconditioned one
  (`pathkernel.buffered`, forward in time, or `pathkernel.adjoint`, backward in time; the
  backward route also covers weight decay, dampening, Nesterov and AdamW, whose weight
  decay is one more "regularization" term).

Every kernel is over the coordinates the optimizer moved (`TrainingPath.trainable`: the
parameters with requires_grad=True; frozen ones are constants of f). Every per-sample
decomposition checks its own additivity (`Decomposition.additivity_error`) and warns
when the contributions do not add up to rhs - initial. Exact mode certifies each step's
quadrature against the observed change of f; on a model with kinks (ReLU, ...) whose
steps cross kinks that never converges, and `domingos` refuses within seconds
(`NonSmoothExactError`) instead of spending minutes on an inexact answer.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import jvp, vmap

from pathkernel.functional import (
    FlatFunction,
    check_allocation,
    check_deterministic,
    check_inputs,
    flat_function,
    kinked_activations,
    model_dtype,
    output_dim,
    parameter_mask,
    progress,
    restricted_function,
    select_columns,
    warn_if_non_smooth,
)
from pathkernel import structured
from pathkernel.adjoint import reverse_terms
from pathkernel.buffered import buffered_terms
from pathkernel.kernels import DEFAULT_MAX_MEMORY, chain_for, jacobian, jacobian_chunks
from pathkernel.losses import loss_derivative, prepare_targets
from pathkernel.precision import HALF_ADDITIVITY_TOLERANCE, cast_path, working_dtype
from pathkernel.training import TrainingPath
from pathkernel.validation import integer

BUFFERED_OPTIMIZERS = ("momentum", "adam")
ROUTES = ("auto", "forward", "reverse")
ROUNDOFF_FACTOR = 64
STAGNATION_FACTOR = 1e4
MAX_LEVEL = 10
PROBE_STEPS = 8
PROBE_SECONDS = 5.0
SMOOTH_GAIN = 8.0
ADDITIVITY_TOLERANCE = {torch.float64: 1e-8, torch.float32: 1e-3}


class AdditivityWarning(UserWarning):
    """The per-sample contributions do not add up to rhs - initial (`Decomposition.additivity_error`)."""


class QuadratureWarning(UserWarning):
    """exact=True: some steps' segment quadrature stopped short of round-off (`MAX_LEVEL`)."""


class NonSmoothExactError(ValueError):
    """exact=True on a model whose kinks (ReLU, ...) the segment quadrature cannot resolve."""


@dataclass
class Decomposition:
    """The terms of f(theta_T, x) = initial + kernel part + residual.

    Shapes for m query points: (m,) for scalar outputs, (m, c) for c outputs.

    Attributes:
        prediction: f(theta_T, x).
        initial: f(theta_0, x).
        rhs: initial + kernel part (Theorem 2/3 form, or the exact form).
        residual: prediction - rhs.
        exact: whether the segment-averaged (exact) kernel was used.
        quadrature_levels: (T,) in exact mode: step k used `nodes` Gauss-Legendre points on
            each of 2**level pieces of its segment (refined where the step is long).
        per_sample: (m, n[, c]) contribution of each training point; sums over n to rhs - initial.
        path_kernel: (m, n) sum_k lr_k K_k(x, x_i); (m, n, c, c) for c outputs.
        weights: a_i(x) of Theorem 1, (m, n) with per_sample == -weights * path_kernel;
            for c outputs (m, n, c, c) with per_sample[..., a] == -sum_b (weights * path_kernel)[..., a, b].
            Zero where the path kernel is zero (x_i never in a batch).
        regularization: (m[, c]) contribution of weight decay (per_sample=True on a path
            trained with weight decay; None otherwise): per_sample.sum(1) + regularization
            == rhs - initial.
        additivity_error: per_sample=True: ``max abs(per_sample.sum(1) (+ regularization)
            - (rhs - initial)) / max abs(rhs - initial)``, the decomposition's own check that
            the contributions add up (round-off: ~1e-14 in float64; larger when the loop
            did not follow the recorded rule, e.g. gradient clipping, or with stride > 1,
            where it measures the snapshot quadrature's error). None otherwise.
    """

    prediction: torch.Tensor
    initial: torch.Tensor
    rhs: torch.Tensor
    residual: torch.Tensor
    exact: bool
    quadrature_levels: torch.Tensor | None = None
    per_sample: torch.Tensor | None = None
    path_kernel: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    regularization: torch.Tensor | None = None
    additivity_error: float | None = None


def gauss_legendre(nodes: int, dtype: torch.dtype, level: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Composite Gauss-Legendre rule on [0, 1]: `nodes` points on each of 2**level equal pieces.

    Returns points s_q and weights w_q with int_0^1 g(s) ds ~ sum_q w_q g(s_q).
    """
    integer("nodes", nodes)
    t, w = np.polynomial.legendre.leggauss(nodes)
    pieces = 2**level
    starts = np.arange(pieces)[:, None] / pieces
    points = (starts + (t[None, :] + 1) / (2 * pieces)).ravel()
    weights = np.tile(w / (2 * pieces), pieces)
    return torch.tensor(points, dtype=dtype), torch.tensor(weights, dtype=dtype)


def segment_rule(
    nodes: int | None, levels: torch.Tensor | None, k: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points and weights on [0, 1] for the query gradient of step k: the composite rule of
    `levels[k]` in exact mode (`nodes`), else the single point s = 0 (the theorem's w_k)."""
    if nodes is None:
        return torch.zeros(1, dtype=dtype), torch.ones(1, dtype=dtype)
    return gauss_legendre(nodes, dtype, int(levels[k]))


def _kernel_part(
    f: FlatFunction,
    chain: structured.Chain | None,
    params: torch.Tensor,
    x: torch.Tensor,
    nodes: int | None,
    progress_bar: bool | None,
    max_memory: int = DEFAULT_MAX_MEMORY,
    kinked: Sequence[str] = (),
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(sum_k <g_k(x), Delta_k>, levels): (m, c) and, in exact mode, (T,) refinement levels.

    g_k = grad f(theta_k, x), one JVP per step (batched over chunks of steps; by
    `structured.directional` for chains, torch.func.jvp otherwise); with `nodes` (exact
    mode), g_k is averaged over the segment [theta_k, theta_{k+1}] by a composite
    Gauss-Legendre rule, refined per step (2**level pieces) until the step's quadrature
    matches the observed change f(theta_{k+1}, x) - f(theta_k, x) to round-off
    (`ROUNDOFF_FACTOR` * eps * |f|), until refining stops halving an error already within
    `STAGNATION_FACTOR` of that (the round-off floor), or up to `MAX_LEVEL`. The observed
    change only steers the refinement; the sum is the quadrature. A model with the
    `kinked` activations is probed first (`_probe_kinks`).
    """
    steps = params.shape[0] - 1
    batched, forward = _step_functions(f, chain, x)
    if nodes is not None and kinked:
        _probe_kinks(kinked, batched, forward, params, nodes, x.device)
    # steps per batch: at most 4096 query-steps, and the (chunk, P) parameter blocks within max_memory
    chunk = max(1, min(4096 // x.shape[0], max_memory // (8 * params.shape[1] * params.element_size())))
    levels = torch.zeros(steps, dtype=torch.long) if nodes is not None else None
    unconverged = 0
    total = x.new_zeros(x.shape[0], f(params[0].to(x.device), x[:1]).shape[1])
    eps = torch.finfo(params.dtype).eps
    for start in progress(range(0, steps, chunk), total=-(-steps // chunk), desc="kernel part",
                          enabled=progress_bar):
        block = params[start : min(start + chunk, steps) + 1].to(x.device)  # read once: a replayed path replays it
        theta = block[:-1]
        delta = block[1:] - theta
        if nodes is None:
            total += batched(theta, delta).sum(0)
            continue
        for quadrature, where, level, converged, _ in _refine(batched, forward, block, nodes):
            total += quadrature.sum(0)
            levels[start + where.cpu()] = level
            unconverged += int((~converged).sum())
    if unconverged:
        warnings.warn(f"exact=True: {unconverged} of {steps} steps did not reach round-off by {2**MAX_LEVEL} "
                      "quadrature pieces (a kink, e.g. ReLU or SELU, inside a custom forward?); the residual "
                      "measures the error", QuadratureWarning, stacklevel=3)
    return total, levels


def _step_functions(f: FlatFunction, chain: structured.Chain | None, x: torch.Tensor):
    """(batched, forward): theta (B, P), delta (B, P) -> <grad f(theta_b, x), delta_b> (B, m, c),
    and theta (B, P) -> f(theta_b, x) (B, m, c); structured for chains, torch.func otherwise."""
    if chain is not None:
        def batched(theta: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
            return structured.directional(chain, theta, x, delta)[1]

        def forward(theta: torch.Tensor) -> torch.Tensor:
            return structured.directional(chain, theta, x)[0]

        return batched, forward
    return vmap(lambda theta, delta: jvp(lambda t: f(t, x), (theta,), (delta,))[1]), vmap(lambda t: f(t, x))


def _refine(batched, forward, block: torch.Tensor, nodes: int, deadline: float | None = None):
    """Adaptive segment quadrature of the steps block[b] -> block[b + 1] (see `_kernel_part`).

    Yields, level by level, (quadrature (d, m, c), steps (d,), level, converged (d,) bool,
    slow (d,) bool) for the d steps finished at that level: converged when the quadrature
    matches the observed change of f to round-off (or stalled at the round-off floor), not
    converged when `MAX_LEVEL` (or the `deadline`, a time.perf_counter() value) was reached
    first; slow when the last refinement cut the error by less than `SMOOTH_GAIN` (a smooth
    integrand gains about 2^(2 nodes) per level, one with a kink about 2 to 4).
    """
    theta = block[:-1]
    delta = block[1:] - theta
    with torch.no_grad():
        ends = forward(block)
    change = ends[1:] - ends[:-1]
    eps = torch.finfo(block.dtype).eps
    bound = ROUNDOFF_FACTOR * eps * (ends[1:].abs() + ends[:-1].abs()).amax(dim=(1, 2))
    pending = torch.arange(theta.shape[0], device=block.device)
    previous = torch.full_like(bound, torch.inf)
    for level in range(MAX_LEVEL + 1):
        points, weights = gauss_legendre(nodes, block.dtype, level)
        quadrature = sum(w * batched(theta[pending] + s * delta[pending], delta[pending])
                         for s, w in zip(points, weights))
        error = (quadrature - change[pending]).abs().amax(dim=(1, 2))
        stalled = (error > previous[pending] / 2) & (error <= STAGNATION_FACTOR * bound[pending])
        converged = (error <= bound[pending]) | stalled
        late = deadline is not None and time.perf_counter() > deadline
        done = converged | (level == MAX_LEVEL) | late
        slow = error > previous[pending] / SMOOTH_GAIN
        yield quadrature[done], pending[done], level, converged[done], slow[done]
        previous[pending] = error
        pending = pending[~done]
        if pending.numel() == 0:
            break


def _probe_kinks(kinked: Sequence[str], batched, forward, params: torch.Tensor, nodes: int,
                 device: torch.device) -> None:
    """Refuse exact mode on a kinked model whose steps the quadrature cannot resolve.

    Along one step a ReLU network is piecewise polynomial in s, so a Gauss-Legendre rule
    is exact on a step that crosses no kink and converges only slowly (like the piece
    length) on one that does. Up to `PROBE_STEPS` steps spread over the path are refined
    for at most `PROBE_SECONDS`; a step that reaches `MAX_LEVEL` short of round-off, or that
    the time limit cuts off while its error falls slowly (`_refine`'s `slow`), makes
    `NonSmoothExactError` name the activation, the estimated cost and the alternatives. A
    step cut off while converging fast is undecided: the decomposition then goes on.
    """
    steps = params.shape[0] - 1
    chosen = torch.linspace(0, steps - 1, min(PROBE_STEPS, steps)).round().long().unique()
    started = time.perf_counter()
    unresolved, finished, reached = 0, 0, 0
    for k in chosen.tolist():
        for _, where, level, converged, slow in _refine(batched, forward, params[k : k + 2].to(device), nodes,
                                                        deadline=started + PROBE_SECONDS):
            finished += where.numel()
            reached = max(reached, level)
            unresolved += int((~converged & (slow | (level == MAX_LEVEL))).sum())
        if unresolved or time.perf_counter() > started + PROBE_SECONDS:
            break
    if not unresolved:
        return
    per_step = (time.perf_counter() - started) / max(finished, 1)
    raise NonSmoothExactError(
        f"exact=True cannot resolve this model's kinks ({', '.join(kinked)}): {unresolved} of {finished} probed "
        f"steps did not reach round-off by {2**reached} quadrature pieces per step; refining all {steps} steps "
        f"would take at least {per_step * steps:.0f} s and still not be exact. Use exact=False (Theorem 2/3; "
        "the residual is reported), or a smooth activation (GELU, SiLU, Softplus, Tanh) for an exact decomposition")


def _per_sample_terms(
    path: TrainingPath,
    f: FlatFunction,
    chain: structured.Chain | None,
    x: torch.Tensor,
    c: int,
    nodes: int | None,
    levels: torch.Tensor | None,
    stride: int,
    max_memory: int,
    progress_bar: bool | None,
    mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(weighted, path_kernel), both (m, n, c, c): sum_k lr_k K_k(x, x_i)[a, b] l'_i[b] and sum_k lr_k K_k.

    K_k is over the coordinates of `mask` (P,) bool (the chain's kernels skip frozen
    terms; Jacobians are taken of `restricted_function`).

    In exact mode (`nodes`), K_k is the segment-averaged kernel with the rule of `levels[k]`:
    Kbar_k = sum_q w_q K(theta_k + s_q Delta_k on the query side, theta_k on the training side).
    With `stride` s > 1 the kernel is evaluated only at every s-th step and held over the
    block of s steps (the loss derivatives l'_i(theta_k) stay exact at every step).
    With a `chain` the kernels come from `structured` Gram products, else from Jacobians.
    """
    n, m = path.x.shape[0], x.shape[0]
    theta = path.params
    target = prepare_targets(path.loss, path.y, n, c, theta.dtype)
    weighted = x.new_zeros(m, n, c, c)
    path_kernel = x.new_zeros(m, n, c, c)
    itemsize = theta.element_size()
    jacobian_rows = max(1, max_memory // (4 * c * int(mask.sum()) * itemsize))
    everyone = torch.arange(n, device=x.device)
    for k in progress(range(0, path.steps, stride), total=-(-path.steps // stride), desc="per-sample kernel",
                      enabled=progress_bar):
        coefficient = x.new_zeros(n, c)
        lr_sum = x.new_zeros(n)
        for j in range(k, min(k + stride, path.steps)):
            rows = everyone[path.batch(j)]
            lr = path.lrs[j].to(x.device)
            lprime = loss_derivative(path.loss, f(theta[j].to(x.device), path.x[rows]), target[rows])
            coefficient.index_add_(0, rows, lr * lprime)
            lr_sum.index_add_(0, rows, lr.expand(rows.numel()))
        index = torch.nonzero(lr_sum).flatten()
        x_used = path.x[index]
        theta_k = theta[k].to(x.device)
        delta = theta[k + 1].to(x.device) - theta_k
        rule = segment_rule(nodes, levels, k, theta.dtype)
        if chain is not None:
            train_side = structured.side(chain, theta_k, x_used)
            chunk = max(1, max_memory // (4 * index.numel() * c * c * itemsize))
        else:
            J_train = torch.cat([J for _, J in jacobian_chunks(restricted_function(f, theta_k, mask),
                                                               select_columns(theta_k, mask), x_used, jacobian_rows)])
            chunk = jacobian_rows
        for start in range(0, m, chunk):
            xq = x[start : start + chunk]
            if chain is not None:
                K = sum(w * structured.kernel(structured.side(chain, theta_k + s * delta, xq), train_side)
                        for s, w in zip(*rule))
            else:
                J_query = sum(w * jacobian(restricted_function(f, theta_k + s * delta, mask),
                                           select_columns(theta_k + s * delta, mask), xq) for s, w in zip(*rule))
                K = torch.einsum("mcp,bdp->mbcd", J_query, J_train)
            path_kernel[start : start + chunk].index_add_(1, index, K * lr_sum[index, None, None])
            weighted[start : start + chunk].index_add_(1, index, K * coefficient[index][None, :, None, :])
    return weighted, path_kernel


def _selected(f: FlatFunction, outputs: Sequence[int], c: int, scalar: bool, forward_route: bool) -> FlatFunction:
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


def _trainable(path: TrainingPath) -> torch.Tensor:
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


def _additivity(terms: dict[str, torch.Tensor], change: torch.Tensor, *, tolerance: float, warn: bool) -> float:
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


def _forward_models(path: TrainingPath) -> bool:
    """Whether the forward routes model the path's optimizer (no weight decay, dampening, Nesterov, AdamW)."""
    hyper = path.hyper
    return not (float(hyper.get("weight_decay", 0.0)) or float(hyper.get("dampening", 0.0))
                or hyper.get("nesterov") or path.optimizer == "adamw")


def domingos(
    path: TrainingPath,
    x: torch.Tensor,
    *,
    exact: bool = False,
    per_sample: bool = False,
    nodes: int = 3,
    stride: int = 1,
    max_memory: int = DEFAULT_MAX_MEMORY,
    method: str = "auto",
    route: str = "auto",
    outputs: Sequence[int] | None = None,
    progress_bar: bool | None = None,
    dtype: torch.dtype | None = None,
) -> Decomposition:
    """Decompose f(theta_T, x) along a recorded training path (Theorems 2 and 3).

    Args:
        path: a `TrainingPath` from `pathkernel.train`.
        x: query points (m, ...), same example shape and dtype as the training inputs.
        exact: use the segment-averaged tangent kernel, so that the residual is only
            the quadrature error (machine precision for smooth models).
        per_sample: also return per-training-point contributions, the path kernel and
            the weights a_i (one kernel between the queries and the batch per step; for
            "momentum" and "adam", the optimizer's decayed and preconditioned cross-time
            kernel of `pathkernel.buffered`).
        nodes: Gauss-Legendre nodes per piece of a step's segment in exact mode; each
            step is split into 2**level pieces, refined until the quadrature matches the
            observed change of f on that step to round-off.
        stride: per_sample mode evaluates the tangent kernel at every `stride`-th step
            only and holds it over the block (a quadrature over snapshots, T / stride
            kernels instead of T); the loss derivatives stay exact at every step. With
            stride > 1 the per-sample terms are an approximation (their sum no longer
            equals rhs - initial exactly; the gap measures the error); exact=True needs 1.
        max_memory: bytes allowed for kernel blocks in per_sample mode, for the adjoints of
            the reverse route and for blocks of parameter snapshots (about a GiB by default).
        method: "auto" (fully connected chains use `pathkernel.structured`: batched
            forward-mode JVPs and Gram-product kernels; other modules torch.func), or
            force "structured" or "generic".
        route: how per_sample terms are accumulated. "forward": in time order, holding
            optimizer buffers per training point (n x c x P floats for momentum/Adam);
            "reverse": one sweep backwards in time holding adjoints per query point
            (m x c x P floats, `pathkernel.adjoint`; needs stride=1); "auto": "reverse"
            for paths with weight decay, dampening, Nesterov, AdamW or recorded from a
            user's loop (`pathkernel.attribution.Recorder`), else "forward".
        outputs: explain only these outputs (distinct indices into the model's c outputs,
            e.g. [predicted class]); the terms then have len(outputs) in place of c, and
            the reverse route costs one Jacobian-vector product of each step's batch per
            explained output instead of c. Needs route "reverse" (or "auto", which then
            picks it) in per_sample mode and a model with several outputs.
        progress_bar: tqdm bar; None shows it only on an interactive terminal.
        dtype: the arithmetic's dtype, torch.float32 or torch.float64; default the
            model's, float32 for a float16/bfloat16 model (`pathkernel.precision` says what
            exactness means then: the residual is float32 round-off of the float32
            evaluation of the recorded parameters; additivity holds to the half format's
            precision).

    Kernels are over the coordinates the optimizer moved (`TrainingPath.trainable`, the
    parameters with requires_grad=True at training time); the model's requires_grad flags
    must still say the same.

    Returns:
        A `Decomposition`; scalar-output models give (m,) terms, c outputs (m, c). With
        per_sample=True its `additivity_error` is set, and an `AdditivityWarning` is issued
        when it exceeds 1e-8 (float64) or 1e-3 (float32) with stride=1.

    Raises:
        NonSmoothExactError: exact=True on a kinked model (ReLU, ...) whose steps cross
            kinks that the quadrature cannot resolve (decided within about 5 s).
        ValueError: bad arguments, frozen coordinates that moved along the path, or
            requires_grad flags changed since training.
        MemoryError: the per-sample terms cannot fit in the available memory.
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
        reverse = path.hyper.get("recorded") or not _forward_models(path) or (per_sample and outputs is not None)
        route = "reverse" if reverse else "forward"
    if route == "forward" and not _forward_models(path):
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
    mask = _trainable(path)
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
    query_f = f if outputs is None else _selected(f, outputs, c, scalar, per_sample and route != "reverse")
    with torch.no_grad():
        prediction = query_f(path.params[-1].to(x.device), x)
        initial = query_f(path.params[0].to(x.device), x)
    chain = chain_for(model, x, method) if outputs is None else None
    kernel_part, levels = _kernel_part(query_f, chain, path.params, x, nodes if exact else None, progress_bar,
                                       max_memory, kinked_activations(model))
    rhs = initial + kernel_part
    terms = {}
    if per_sample:
        def rule(k: int) -> tuple[torch.Tensor, torch.Tensor]:
            return segment_rule(nodes if exact else None, levels, k, x.dtype)

        if route == "reverse":
            weighted, path_kernel, regularization = reverse_terms(path, f, chain, x, c, rule, max_memory,
                                                                  progress_bar, query_f, mask)
            if float(path.hyper.get("weight_decay", 0.0)):
                terms["regularization"] = regularization[:, 0] if scalar else regularization
        elif path.optimizer in BUFFERED_OPTIMIZERS:
            weighted, path_kernel = buffered_terms(path, f, chain, x, c, rule, max_memory, progress_bar, mask)
        else:
            weighted, path_kernel = _per_sample_terms(
                path, f, chain, x, c, nodes if exact else None, levels, stride, max_memory, progress_bar, mask
            )
        weights = torch.where(path_kernel != 0, weighted / path_kernel, torch.zeros_like(weighted))
        terms.update(per_sample=-weighted.sum(-1), path_kernel=path_kernel, weights=weights)
        if scalar:
            terms.update(per_sample=terms["per_sample"][..., 0], path_kernel=path_kernel[..., 0, 0],
                         weights=weights[..., 0, 0])
        coarser = work if recorded_dtype in HALF_ADDITIVITY_TOLERANCE or torch.finfo(recorded_dtype).eps <= \
            torch.finfo(work).eps else recorded_dtype
        tolerance = HALF_ADDITIVITY_TOLERANCE.get(recorded_dtype, ADDITIVITY_TOLERANCE[coarser])
        terms["additivity_error"] = _additivity(terms, (rhs - initial)[:, 0] if scalar else rhs - initial,
                                                tolerance=tolerance, warn=stride == 1)
    squeeze = (lambda t: t[:, 0]) if scalar else (lambda t: t)
    return Decomposition(
        prediction=squeeze(prediction),
        initial=squeeze(initial),
        rhs=squeeze(rhs),
        residual=squeeze(prediction - rhs),
        exact=exact,
        quadrature_levels=levels,
        **terms,
    )
