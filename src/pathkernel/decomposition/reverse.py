"""Per-sample Domingos terms by one sweep backwards in time (memory m x c x P, not n x c x P).

Every supported torch.optim step is linear in the gradient "sources" of the current and
past steps. With G_l = sum_i g_l^i + wd theta_l (per-example loss gradients
g_l^i = J_l(x_i)^T l'_i, zero when x_i is not in step l's batch, and the L2 weight decay
that SGD and Adam add to the gradient),

    Delta_k = -lr_k S_k sum_{l <= k} w_{k,l} G_l  -  lr_k wd' theta_k,

with S_k = 1 (SGD) or Adam's diagonal step scale (`TrainingPath.scales`), wd' the
decoupled weight decay of AdamW, and geometric weights w_{k,l} = h mu^(k-l) a_l + e [k = l]:

    SGD, momentum mu, dampening d:   a_0 = 1, a_l = 1 - d, h = 1,  e = 0   (mu = 0: plain SGD);
    SGD with Nesterov:               same a_l, h = mu, e = 1;
    Adam / AdamW:                    mu = beta1, a_l = 1 - beta1, h = 1, e = 0.

The exact step of f is <gbar_k(x), Delta_k> with gbar_k the query gradient averaged over
step k's segment (`pathkernel.decomposition.quadrature`). Exchanging the sums over k and l, source
G_l contributes -<u_l(x), G_l> with the adjoint

    u_l = a_l z_l + e q_l,   z_l = h q_l + mu z_{l+1},   q_k = lr_k S_k gbar_k(x),

computed from the last step back to the first. So example i in step l's batch contributes
-(J_l(x_i) u_l) . l'_i: one Jacobian-vector product of the batch per query output, and
the regularization contributes -wd <u_l, theta_l> (coupled) or -lr_k wd' <gbar_k, theta_k>
(decoupled). Only the query-side vectors (m x c x P) are held, whatever the training-set size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.func import jvp, vmap

from pathkernel.functional import FlatFunction, progress, restricted_function, select_columns
from pathkernel.kernels import structured, trainable_features
from pathkernel.losses import loss_derivative, prepare_targets
from pathkernel.training import ADAM_FAMILY, TrainingPath

Rule = Callable[[int], tuple[torch.Tensor, torch.Tensor]]
DIRECTIONS_PER_JVP = 32


@dataclass(frozen=True)
class UpdateRule:
    """The weights w_{k,l} = carry mu^(k-l) a_l + direct [k = l] of a linear optimizer step.

    Attributes:
        decay: mu (SGD momentum or Adam's beta1; 0 for plain SGD).
        first_gain, gain: a_0 and a_l for l >= 1.
        carry, direct: h and e.
        coupled_decay: weight decay added to the gradient (SGD, Adam).
        decoupled_decay: AdamW's weight decay (theta <- (1 - lr wd) theta).
        preconditioned: whether steps are scaled by `TrainingPath.scales`.
    """

    decay: float
    first_gain: float
    gain: float
    carry: float
    direct: float
    coupled_decay: float
    decoupled_decay: float
    preconditioned: bool


def update_rule(path: TrainingPath) -> UpdateRule:
    """The `UpdateRule` of a recorded path (gd, sgd, momentum, adam, adamw; torch conventions)."""
    hyper = path.hyper
    wd = float(hyper.get("weight_decay", 0.0))
    if path.optimizer in ADAM_FAMILY:
        if path.scales is None:
            raise ValueError("this Adam path has no recorded step scales (TrainingPath.scales)")
        beta1 = float(hyper["betas"][0])
        adamw = path.optimizer == "adamw"
        return UpdateRule(beta1, 1 - beta1, 1 - beta1, 1.0, 0.0, 0.0 if adamw else wd, wd if adamw else 0.0, True)
    mu = float(hyper.get("momentum", 0.0)) if path.optimizer == "momentum" else 0.0
    if mu == 0:
        return UpdateRule(0.0, 1.0, 1.0, 1.0, 0.0, wd, 0.0, False)
    gain = 1 - float(hyper.get("dampening", 0.0))
    nesterov = bool(hyper.get("nesterov", False))
    return UpdateRule(mu, 1.0, gain, mu if nesterov else 1.0, 1.0 if nesterov else 0.0, wd, 0.0, False)


def _directional(f: FlatFunction, theta: torch.Tensor, x: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """(d, n, c): J(theta, x) v for each of the d directions v (rows of `directions`), forward mode."""
    single = lambda v: jvp(lambda t: f(t, x), (theta,), (v,))[1]  # noqa: E731
    return torch.cat([vmap(single)(directions[s : s + DIRECTIONS_PER_JVP])
                      for s in range(0, directions.shape[0], DIRECTIONS_PER_JVP)])


def reverse_terms(
    path: TrainingPath,
    f: FlatFunction,
    chain: structured.Chain | None,
    x: torch.Tensor,
    c: int,
    rule: Rule,
    max_memory: int,
    progress_bar: bool | None,
    query_f: FlatFunction | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(weighted, path_kernel, regularization) by the backward sweep of the module docstring.

    weighted, path_kernel: (m, n, c, c) as in `pathkernel.decomposition.buffered.buffered_terms`
    (path_kernel[j, i, a, b] = sum_l <u_l(x_j)_a, grad f_b(theta_l, x_i)> over the steps l
    whose batch held x_i; weighted the same times l'_{i, b}(theta_l)); regularization:
    (m, c), the weight-decay contribution (zero without weight decay). The query gradient
    of step k is averaged over its segment with `rule(k)`. Queries are processed in
    chunks so that the four (chunk, c, P) adjoint buffers fit in `max_memory` bytes.
    `query_f` (default f): the query-side function when only some outputs are explained,
    theta, x -> (m, c_q); then the adjoints are (chunk, c_q, P), one JVP of the batch per
    explained output, and weighted, path_kernel are (m, n, c_q, c), regularization (m, c_q).
    Adjoints, features and scales are over the coordinates of `mask` (P,) bool (default
    all): the ones the optimizer moves.
    """
    update = update_rule(path)
    query_f = f if query_f is None else query_f
    n, m = path.x.shape[0], x.shape[0]
    theta = path.params
    mask = torch.ones(theta.shape[1], dtype=torch.bool) if mask is None else mask

    def select(t: torch.Tensor) -> torch.Tensor:
        return select_columns(t, mask)

    P = int(mask.sum())
    target = prepare_targets(path.loss, path.y, n, c, theta.dtype)
    with torch.no_grad():
        cq = query_f(theta[0].to(x.device), x[:1]).shape[1]
    queries_per_chunk = max(1, max_memory // (4 * cq * P * theta.element_size()))
    if chain is not None and query_f is not f:
        raise ValueError("explaining some outputs only goes through torch.func (chain=None)")

    base = theta[0].to(x.device)  # frozen coordinates are constant along the path
    g, g_query = restricted_function(f, base, mask), restricted_function(query_f, base, mask)

    def features(t: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        return trainable_features(chain, g_query, t, xs, mask, queries_per_chunk)

    weighted = x.new_zeros(m, n, cq, c)
    path_kernel = x.new_zeros(m, n, cq, c)
    regularization = x.new_zeros(m, cq)
    everyone = torch.arange(n, device=x.device)
    for start in range(0, m, queries_per_chunk):
        xq = x[start : start + queries_per_chunk]
        q_rows = slice(start, start + xq.shape[0])
        z = x.new_zeros(xq.shape[0], cq, P)
        for k in progress(reversed(range(path.steps)), total=path.steps, desc="per-sample (reverse)",
                          enabled=progress_bar):
            theta_k = theta[k].to(x.device, copy=True)
            delta = theta[k + 1].to(x.device) - theta_k
            points, weights = rule(k)
            # in place: every (chunk, c, P) temporary of a 1M-parameter model is tens of MB
            query = torch.zeros_like(z)
            for s, w in zip(points.tolist(), weights.tolist()):
                query.add_(features(torch.add(theta_k, delta, alpha=s), xq), alpha=w)
            lr = path.lrs[k].to(x.device)
            if update.decoupled_decay:
                regularization[q_rows] -= lr * update.decoupled_decay * (query @ select(theta_k))
            q = (query.mul_(select(path.scales[k].to(x.device))).mul_(lr) if update.preconditioned
                 else query.mul_(lr))
            z.mul_(update.decay).add_(q, alpha=update.carry)
            gain = update.first_gain if k == 0 else update.gain
            u = z if gain == 1 else z * gain
            if update.direct:
                u = u.add(q, alpha=update.direct)
            if update.coupled_decay:
                regularization[q_rows] -= update.coupled_decay * (u @ select(theta_k))
            rows = everyone[path.batch(k)]
            xb = path.x[rows]
            with torch.no_grad():
                lprime = loss_derivative(path.loss, f(theta_k, xb), target[rows])
            along = _directional(g, select(theta_k), xb, u.reshape(-1, P)).reshape(xq.shape[0], cq, rows.numel(), c)
            along = along.permute(0, 2, 1, 3)
            path_kernel[q_rows].index_add_(1, rows, along)
            weighted[q_rows].index_add_(1, rows, along * lprime[None, :, None, :])
    return weighted, path_kernel, regularization
