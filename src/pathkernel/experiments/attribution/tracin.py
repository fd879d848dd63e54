"""TracIn-CP (Pruthi et al. 2020; Captum's ``TracInCP``) and its comparison with the exact contributions.

    TracIn(x, z_i) = - sum_c eta_c <grad f_a(theta_c, x), grad l(theta_c; z_i)>,

with l the per-example cross-entropy and eta_c = (sum of the learning rates of the steps the
checkpoint stands for) / n; the sign makes it an estimate of the contribution to f_a.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from torch import nn
from torch.func import functional_call, grad, vmap

from pathkernel.functional import flat_function
from pathkernel.training import TrainingPath
from pathkernel.validation import integer


def tracin_cp(model: nn.Module, checkpoints: torch.Tensor, eta: torch.Tensor, x_train: torch.Tensor,
              y_train: torch.Tensor, queries: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """(m, n) TracIn-CP estimate of each training example's contribution to f_{outputs_j}(x_j).

    -sum_c eta_c <grad f_a(theta_c, x_j), grad l(theta_c; x_i, y_i)> with l the per-example
    cross-entropy; checkpoints (C, P) flat parameters, eta (C,) their weights. Computed on the
    device of the queries (the model's): checkpoints stored on the CPU are moved there.
    """
    checkpoints, eta = checkpoints.to(queries.device), eta.to(queries.device)
    f = flat_function(model)
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]

    def example_loss(theta: torch.Tensor, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        params = {n: t.view(s) for n, t, s in zip(names, theta.split(sizes), shapes)}
        return F.cross_entropy(functional_call(model, params, (xi[None],)), yi[None])

    def query_output(theta: torch.Tensor, xj: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        return f(theta, xj[None])[0] @ onehot

    selectors = F.one_hot(outputs, f(checkpoints[0], queries[:1]).shape[1]).to(queries.dtype)
    scores = queries.new_zeros(queries.shape[0], x_train.shape[0])
    for theta, weight in zip(checkpoints, eta):
        train_grads = vmap(grad(example_loss), in_dims=(None, 0, 0))(theta, x_train, y_train)
        query_grads = vmap(grad(query_output), in_dims=(None, 0, 0))(theta, queries, selectors)
        scores -= weight * query_grads @ train_grads.T
    return scores


def checkpoint_schedule(path: TrainingPath, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices (C,), eta (C,)): C evenly spaced snapshots theta_k (block starts) and their weights
    eta_c = (sum of lr over the block of steps) / n."""
    integer("count", count, 1, path.steps)
    edges = np.linspace(0, path.steps, count + 1).round().astype(int)
    eta = torch.stack([path.lrs[a:b].sum() for a, b in zip(edges[:-1], edges[1:])]) / path.x.shape[0]
    return torch.from_numpy(edges[:-1]), eta


def compare_tracin(path: TrainingPath, queries: torch.Tensor, outputs: torch.Tensor, exact: torch.Tensor,
                   counts: tuple[int, ...], k: int) -> dict[str, np.ndarray]:
    """Spearman, top-k proponent overlap, sign agreement, time and sum ratio of TracIn-CP for each C."""
    rows = {key: [] for key in ("spearman", "overlap", "sign", "seconds", "ratio")}
    scores = None
    exact_np = exact.cpu().numpy()
    top_exact = [set(np.argsort(-e)[:k]) for e in exact_np]
    for count in counts:
        start = time.perf_counter()
        index, eta = checkpoint_schedule(path, count)
        scores = tracin_cp(path.model, path.params[index], eta, path.x, path.y, queries, outputs)
        s = scores.cpu().numpy()  # waits for the device: the time includes the computation
        rows["seconds"].append(time.perf_counter() - start)
        rows["spearman"].append(np.mean([spearmanr(a, b).statistic for a, b in zip(s, exact_np)]))
        rows["overlap"].append(np.mean([len(set(np.argsort(-a)[:k]) & t) / k for a, t in zip(s, top_exact)]))
        rows["sign"].append(float(np.mean(np.sign(s) == np.sign(exact_np))))
        rows["ratio"].append(float(np.mean(s.sum(1) / exact_np.sum(1))))
    return {key: np.array(value) for key, value in rows.items()} | {"tracin": scores.cpu().numpy()}
