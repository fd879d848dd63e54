"""Per-sample terms of gradient descent and SGD, forward in time, one kernel per step."""

from __future__ import annotations

import torch

from pathkernel.decomposition.quadrature import segment_rule
from pathkernel.functional import FlatFunction, progress, restricted_function, select_columns
from pathkernel.kernels import jacobian, structured, trainable_features
from pathkernel.losses import loss_derivative, prepare_targets
from pathkernel.training import TrainingPath


def forward_terms(
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
    g = restricted_function(f, theta[0].to(x.device), mask)  # frozen coordinates are constant along the path
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
            J_train = trainable_features(None, g, theta_k, x_used, mask, jacobian_rows)
            chunk = jacobian_rows
        for start in range(0, m, chunk):
            xq = x[start : start + chunk]
            if chain is not None:
                K = sum(w * structured.kernel(structured.side(chain, theta_k + s * delta, xq), train_side)
                        for s, w in zip(*rule))
            else:
                J_query = sum(w * jacobian(g, select_columns(theta_k + s * delta, mask), xq) for s, w in zip(*rule))
                K = torch.einsum("mcp,bdp->mbcd", J_query, J_train)
            path_kernel[start : start + chunk].index_add_(1, index, K * lr_sum[index, None, None])
            weighted[start : start + chunk].index_add_(1, index, K * coefficient[index][None, :, None, :])
    return weighted, path_kernel
