"""Per-sample Domingos terms for optimizers with memory: heavy-ball momentum and Adam.

Their step mixes the gradients of all past steps. With per-example gradients
g_j^i = J_j(x_i)^T l'_i(theta_j) (zero when x_i is not in step j's batch), torch's rules
(`torch.optim.SGD(momentum=mu)`, no dampening, and `torch.optim.Adam`) give

    momentum: Delta_k = -lr_k sum_i B_k^i,          B_k^i = mu B_{k-1}^i + g_k^i,
    Adam:     Delta_k = -lr_k P_k^{-1} sum_i M_k^i / (1 - beta1^(k+1)),
              M_k^i = beta1 M_{k-1}^i + (1 - beta1) g_k^i,
              P_k = sqrt(v_k / (1 - beta2^(k+1))) + eps,  v_k = beta2 v_{k-1} + (1 - beta2) g_k^2,

with g_k = sum_i g_k^i the batch gradient. So the first-order term of step k splits over
training points as -lr_k <grad f(theta_k, x), S_k buffer_k^i> with the diagonal scaling
S_k (1 for momentum, P_k^{-1} / (1 - beta1^(k+1)) for Adam): a kernel between the query
at step k and training point i at every earlier step j, the preconditioned cross-time
tangent kernel <grad f(theta_k, x), S_k grad f(theta_j, x_i)>. The buffers hold, per
training point and output, the decayed sums of its tangent features (n x c x P floats).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pathkernel.functional import FlatFunction, progress, restricted_function
from pathkernel.kernels import structured, trainable_features
from pathkernel.losses import loss_derivative, prepare_targets
from pathkernel.training import TrainingPath

Rule = Callable[[int], tuple[torch.Tensor, torch.Tensor]]


def buffered_terms(
    path: TrainingPath,
    f: FlatFunction,
    chain: structured.Chain | None,
    x: torch.Tensor,
    c: int,
    rule: Rule,
    max_memory: int,
    progress_bar: bool | None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(weighted, path_kernel), both (m, n, c, c), for a "momentum" or "adam" path.

    path_kernel[j, i, a, b] = sum_k lr_k <grad f_a(theta_k, x_j), S_k A_k^{i, b}> with
    A_k^{i, b} the optimizer-decayed sum of grad f_b(theta_l, x_i) over the steps l <= k
    whose batch held x_i; `weighted` is the same with each grad f_b(theta_l, x_i) weighted
    by l'_{i, b}(theta_l). The query gradient is averaged over step k's segment with
    `rule(k)` (points, weights) on [0, 1] (the single point 0 for the plain theorem).
    Tangent features are over the coordinates of `mask` (P,) bool (default all): the
    ones the optimizer moves.
    """
    n, m = path.x.shape[0], x.shape[0]
    theta = path.params
    mask = torch.ones(theta.shape[1], dtype=torch.bool) if mask is None else mask
    P = int(mask.sum())
    target = prepare_targets(path.loss, path.y, n, c, theta.dtype)
    rows_per_chunk = max(1, max_memory // (4 * c * P * theta.element_size()))
    g = restricted_function(f, theta[0].to(x.device), mask)  # frozen coordinates are constant along the path

    def features(t: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        return trainable_features(chain, g, t, xs, mask, rows_per_chunk)

    adam = path.optimizer == "adam"
    decay = path.hyper["betas"][0] if adam else path.hyper["momentum"]
    gain = 1 - decay if adam else 1.0
    features_sum = x.new_zeros(n, c, P)
    loss_sum = x.new_zeros(n, c, P)
    second_moment = x.new_zeros(P)
    weighted = x.new_zeros(m, n, c, c)
    path_kernel = x.new_zeros(m, n, c, c)
    everyone = torch.arange(n, device=x.device)
    for k in progress(range(path.steps), total=path.steps, desc=f"per-sample ({path.optimizer})",
                      enabled=progress_bar):
        rows = everyone[path.batch(k)]
        theta_k = theta[k].to(x.device)
        J = features(theta_k, path.x[rows])
        lprime = loss_derivative(path.loss, f(theta_k, path.x[rows]), target[rows])
        features_sum.mul_(decay).index_add_(0, rows, gain * J)
        loss_sum.mul_(decay).index_add_(0, rows, gain * lprime[:, :, None] * J)
        scale = path.lrs[k].to(x.device)
        if adam:
            beta1, beta2 = path.hyper["betas"]
            gradient = torch.einsum("bcp,bc->p", J, lprime)
            second_moment.mul_(beta2).add_((1 - beta2) * gradient * gradient)
            denominator = torch.sqrt(second_moment / (1 - beta2 ** (k + 1))) + path.hyper["eps"]
            scale = scale / (1 - beta1 ** (k + 1)) / denominator
        delta = theta[k + 1].to(x.device) - theta_k
        points, weights = rule(k)
        for start in range(0, m, rows_per_chunk):
            xq = x[start : start + rows_per_chunk]
            query = sum(w * features(theta_k + s * delta, xq) for s, w in zip(points, weights)) * scale
            path_kernel[start : start + rows_per_chunk] += torch.einsum("map,ibp->miab", query, features_sum)
            weighted[start : start + rows_per_chunk] += torch.einsum("map,ibp->miab", query, loss_sum)
    return weighted, path_kernel
