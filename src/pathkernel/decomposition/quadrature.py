"""The kernel part of the decomposition, sum_k <g_k(x), Delta_k>, one JVP per step.

With the theorem's g_k = grad f(theta_k, x), or (exact mode) its average over the step's
segment by composite Gauss-Legendre quadrature, refined per step until it matches the
observed change of f to round-off; kinked models are probed first (`probe_kinks`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch.func import jvp, vmap

from pathkernel.decomposition.result import NonSmoothExactError, QuadratureWarning
from pathkernel.functional import FlatFunction, progress
from pathkernel.kernels import DEFAULT_MAX_MEMORY, structured
from pathkernel.validation import integer

ROUNDOFF_FACTOR = 64
STAGNATION_FACTOR = 1e4
MAX_LEVEL = 10
PROBE_STEPS = 8
PROBE_SECONDS = 5.0
SMOOTH_GAIN = 8.0


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


def kernel_part(
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
    `kinked` activations is probed first (`probe_kinks`).
    """
    steps = params.shape[0] - 1
    batched, forward = step_functions(f, chain, x)
    if nodes is not None and kinked:
        probe_kinks(kinked, batched, forward, params, nodes, x.device)
    # steps per batch: at most 4096 query-steps, and the (chunk, P) parameter blocks within max_memory
    chunk = max(1, min(4096 // x.shape[0], max_memory // (8 * params.shape[1] * params.element_size())))
    levels = torch.zeros(steps, dtype=torch.long) if nodes is not None else None
    unconverged = 0
    total = x.new_zeros(x.shape[0], f(params[0].to(x.device), x[:1]).shape[1])
    for start in progress(range(0, steps, chunk), total=-(-steps // chunk), desc="kernel part",
                          enabled=progress_bar):
        block = params[start : min(start + chunk, steps) + 1].to(x.device)  # read once: a replayed path replays it
        theta = block[:-1]
        delta = block[1:] - theta
        if nodes is None:
            total += batched(theta, delta).sum(0)
            continue
        for quadrature, where, level, converged, _ in refine(batched, forward, block, nodes):
            total += quadrature.sum(0)
            levels[start + where.cpu()] = level
            unconverged += int((~converged).sum())
    if unconverged:
        warnings.warn(f"exact=True: {unconverged} of {steps} steps did not reach round-off by {2**MAX_LEVEL} "
                      "quadrature pieces (a kink, e.g. ReLU or SELU, inside a custom forward?); the residual "
                      "measures the error", QuadratureWarning, stacklevel=3)
    return total, levels


def step_functions(f: FlatFunction, chain: structured.Chain | None, x: torch.Tensor):
    """(batched, forward): theta (B, P), delta (B, P) -> <grad f(theta_b, x), delta_b> (B, m, c),
    and theta (B, P) -> f(theta_b, x) (B, m, c); structured for chains, torch.func otherwise."""
    if chain is not None:
        def batched(theta: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
            return structured.directional(chain, theta, x, delta)[1]

        def forward(theta: torch.Tensor) -> torch.Tensor:
            return structured.directional(chain, theta, x)[0]

        return batched, forward
    return vmap(lambda theta, delta: jvp(lambda t: f(t, x), (theta,), (delta,))[1]), vmap(lambda t: f(t, x))


def refine(batched, forward, block: torch.Tensor, nodes: int, deadline: float | None = None):
    """Adaptive segment quadrature of the steps block[b] -> block[b + 1] (see `kernel_part`).

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


def probe_kinks(kinked: Sequence[str], batched, forward, params: torch.Tensor, nodes: int,
                 device: torch.device) -> None:
    """Refuse exact mode on a kinked model whose steps the quadrature cannot resolve.

    Along one step a ReLU network is piecewise polynomial in s, so a Gauss-Legendre rule
    is exact on a step that crosses no kink and converges only slowly (like the piece
    length) on one that does. Up to `PROBE_STEPS` steps spread over the path are refined
    for at most `PROBE_SECONDS`; a step that reaches `MAX_LEVEL` short of round-off, or that
    the time limit cuts off while its error falls slowly (`refine`'s `slow`), makes
    `NonSmoothExactError` name the activation, the estimated cost and the alternatives. A
    step cut off while converging fast is undecided: the decomposition then goes on.
    """
    steps = params.shape[0] - 1
    chosen = torch.linspace(0, steps - 1, min(PROBE_STEPS, steps)).round().long().unique()
    started = time.perf_counter()
    unresolved, finished, reached = 0, 0, 0
    for k in chosen.tolist():
        for _, where, level, converged, slow in refine(batched, forward, params[k : k + 2].to(device), nodes,
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
