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
  (`pathkernel.decomposition.buffered`, forward in time, or `pathkernel.decomposition.reverse`,
  backward in time; the
  backward route also covers weight decay, dampening, Nesterov and AdamW, whose weight
  decay is one more "regularization" term).

A path recorded with per-step inputs (`pathkernel.recording.draws`: a diffusion model's noised
points) has the draws as its training points and path.hyper["owners"] mapping each to its
example; the per-sample terms are then summed over each example's draws, (m, n[, c]).

Every kernel is over the coordinates the optimizer moved (`TrainingPath.trainable`: the
parameters with requires_grad=True; frozen ones are constants of f). Every per-sample
decomposition checks its own additivity (`Decomposition.additivity_error`) and warns
when the contributions do not add up to rhs - initial. Exact mode certifies each step's
quadrature against the observed change of f; on a model with kinks (ReLU, ...) whose
steps cross kinks that never converges, and `domingos` refuses within seconds
(`NonSmoothExactError`) instead of spending minutes on an inexact answer.

Modules: `result` (Decomposition, warnings), `quadrature` (the kernel part, exact mode),
`forward` (per-sample terms of GD/SGD), `buffered` (momentum/Adam, forward in time),
`reverse` (every supported optimizer, backward in time), `checks` (the arguments, the
additivity), `distributed` (``client=``: blocks of queries or of steps on Dask workers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from pathkernel.decomposition.buffered import buffered_terms
from pathkernel.decomposition.checks import additivity, prepare
from pathkernel.decomposition.forward import forward_terms
from pathkernel.decomposition.quadrature import gauss_legendre, kernel_part, segment_rule
from pathkernel.decomposition.result import (
    AdditivityWarning,
    Decomposition,
    IncompleteDecompositionError,
    NonSmoothExactError,
    QuadratureWarning,
)
from pathkernel.decomposition.reverse import reverse_terms
from pathkernel.functional import kinked_activations
from pathkernel.kernels import DEFAULT_MAX_MEMORY
from pathkernel.training import TrainingPath

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["AdditivityWarning", "Decomposition", "IncompleteDecompositionError", "NonSmoothExactError",
           "QuadratureWarning", "domingos", "gauss_legendre", "segment_rule"]

BUFFERED_OPTIMIZERS = ("momentum", "adam")


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
    client: Client | None = None,
    split: str = "queries",
    chunks: int | None = None,
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
            kernel of `pathkernel.decomposition.buffered`).
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
        method: "auto" (fully connected chains use `pathkernel.kernels.structured`: batched
            forward-mode JVPs and Gram-product kernels; other modules torch.func), or
            force "structured" or "generic".
        route: how per_sample terms are accumulated. "forward": in time order, holding
            optimizer buffers per training point (n x c x P floats for momentum/Adam);
            "reverse": one sweep backwards in time holding adjoints per query point
            (m x c x P floats, `pathkernel.decomposition.reverse`; needs stride=1); "auto": "reverse"
            for paths with weight decay, dampening, Nesterov, AdamW or recorded from a
            user's loop (`pathkernel.recording.Recorder`), else "forward".
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
        client: a dask.distributed Client: spread the work over its workers, the path sent
            once (`pathkernel.decomposition.distributed`); the result equals the in-process
            one to round-off (1e-12 relative in float64). A disk or replay path is sent by
            reference to its files: record it with `directory=` (a `Recorder` argument) in
            a directory every worker can read. None (default): in this process.
        split: with a client, "queries" (every optimizer and route: blocks of queries, each
            decomposed along the whole path; exact mode's `quadrature_levels` are then the
            per-step maximum over the blocks) or "steps" ("gd" and "sgd" paths only: ranges
            of steps, each decomposing every query; momentum and Adam couple the steps
            through their buffers and stay on the query split).
        chunks: with a client, the number of blocks (default: one per worker process).

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
            requires_grad flags changed since training; with a client, also a disk or
            replay path in a temporary directory or in one some worker cannot read.
        TypeError: `client` is not a dask.distributed Client.
        IncompleteDecompositionError: with a client, blocks that could not be computed
            (workers lost too often); the message names the missing queries or steps.
        MemoryError: the per-sample terms cannot fit in the available memory.
    """
    if client is not None:
        from pathkernel.decomposition.distributed import distributed_domingos

        return distributed_domingos(client, path, x, split=split, chunks=chunks, exact=exact, per_sample=per_sample,
                                    nodes=nodes, stride=stride, max_memory=max_memory, method=method, route=route,
                                    outputs=outputs, progress_bar=progress_bar, dtype=dtype)
    setup = prepare(path, x, exact=exact, per_sample=per_sample, nodes=nodes, stride=stride, method=method,
                    route=route, outputs=outputs, dtype=dtype)
    path, x, f, query_f, chain, c, scalar = (setup.path, setup.x, setup.f, setup.query_f, setup.chain, setup.c,
                                              setup.scalar)
    with torch.no_grad():
        prediction = query_f(path.params[-1].to(x.device), x)
        initial = query_f(path.params[0].to(x.device), x)
    kernel_sum, levels = kernel_part(query_f, chain, path.params, x, nodes if exact else None, progress_bar,
                                     max_memory, kinked_activations(path.model))
    rhs = initial + kernel_sum
    terms = {}
    if per_sample:
        def rule(k: int) -> tuple[torch.Tensor, torch.Tensor]:
            return segment_rule(nodes if exact else None, levels, k, x.dtype)

        if setup.route == "reverse":
            weighted, path_kernel, regularization = reverse_terms(path, f, chain, x, c, rule, max_memory,
                                                                  progress_bar, query_f, setup.mask)
            if float(path.hyper.get("weight_decay", 0.0)):
                terms["regularization"] = regularization[:, 0] if scalar else regularization
        elif path.optimizer in BUFFERED_OPTIMIZERS:
            weighted, path_kernel = buffered_terms(path, f, chain, x, c, rule, max_memory, progress_bar, setup.mask)
        else:
            weighted, path_kernel = forward_terms(
                path, f, chain, x, c, nodes if exact else None, levels, stride, max_memory, progress_bar, setup.mask
            )
        owners = path.hyper.get("owners")
        if owners is not None:  # a recording with draws: each example's terms are the sum over its draws
            n = int(path.hyper["examples"])
            weighted, path_kernel = (t.new_zeros(t.shape[0], n, *t.shape[2:]).index_add_(1, owners.to(t.device), t)
                                     for t in (weighted, path_kernel))
        weights = torch.where(path_kernel != 0, weighted / path_kernel, torch.zeros_like(weighted))
        terms.update(per_sample=-weighted.sum(-1), path_kernel=path_kernel, weights=weights)
        if scalar:
            terms.update(per_sample=terms["per_sample"][..., 0], path_kernel=path_kernel[..., 0, 0],
                         weights=weights[..., 0, 0])
        terms["additivity_error"] = additivity(terms, (rhs - initial)[:, 0] if scalar else rhs - initial,
                                                tolerance=setup.tolerance, warn=stride == 1)
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
