"""Neighbourhoods of query points under the tangent kernel and under the Euclidean distance.

Courtois, Morel & Arias (§5) read a trained network through the training points that its
normalized tangent kernel

    Kn_w(x, x') = <phi_w(x), phi_w(x')> / (||phi_w(x)|| ||phi_w(x')||)       (a cosine)

calls closest to a query x, and compare them with the Euclidean nearest neighbours. This
module returns those neighbour sets as index tensors and two scores on them: the Jaccard
index of two sets and their label homogeneity.
"""

from __future__ import annotations

import torch
from sklearn.neighbors import NearestNeighbors
from torch import nn

from pathkernel.kernels import tangent_kernel
from pathkernel.validation import integer


def _check_k(k: int, n: int) -> int:
    integer("k", k)
    if k > n:
        raise ValueError(f"k={k} exceeds the number of training points n={n}")
    return k


def _check_points(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[0] < 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} has shape {shape}; expected a 2D tensor (points, features) with at least one point")


def kernel_neighbours(
    model: nn.Module,
    queries: torch.Tensor,
    x_train: torch.Tensor,
    k: int,
    *,
    params: torch.Tensor | None = None,
    parameters: str = "trainable",
) -> torch.LongTensor:
    """The k training points most similar to each query under the normalized tangent kernel.

    Ranks x_train by Kn_w(q, x_i) = cos(phi_w(q), phi_w(x_i)) (`tangent_kernel(...,
    normalized=True)`), largest first; ties keep the lower index first.

    Args:
        model: a scalar-output module (tangent kernel (m, n)).
        queries: (m, d) query points; x_train: (n, d) training points (model's dtype).
        k: neighbours per query, 1 <= k <= n.
        params: flat parameters w (P,) to evaluate the kernel at; default the model's own.
        parameters: "trainable" (default) or "all", the coordinates of the kernel
            (`pathkernel.tangent_kernel`).

    Returns:
        LongTensor (m, k) of row indices into x_train, most similar first.
    """
    _check_points("queries", queries)
    _check_points("x_train", x_train)
    _check_k(k, x_train.shape[0])
    cosine = tangent_kernel(model, queries, x_train, normalized=True, params=params, parameters=parameters)
    if cosine.dim() != 2:
        raise ValueError(f"the model's tangent kernel has shape {tuple(cosine.shape)}; expected a scalar-output model")
    order = torch.argsort(-cosine, dim=1, stable=True)
    return order[:, :k].contiguous()


def euclidean_neighbours(queries: torch.Tensor, x_train: torch.Tensor, k: int) -> torch.LongTensor:
    """The k training points nearest to each query in Euclidean distance (scikit-learn's
    ``NearestNeighbors``, brute force).

    Args:
        queries: (m, d); x_train: (n, d); k: 1 <= k <= n.

    Returns:
        LongTensor (m, k) of row indices into x_train, nearest first.
    """
    _check_points("queries", queries)
    _check_points("x_train", x_train)
    _check_k(k, x_train.shape[0])
    search = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(x_train.detach().cpu().numpy())
    _, index = search.kneighbors(queries.detach().cpu().numpy())
    return torch.from_numpy(index).long()


def jaccard(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise Jaccard index ``|A_j ∩ B_j| / |A_j ∪ B_j|`` of two index sets.

    Args:
        a, b: integer tensors (m, k) and (m, k'); each row is a set of indices (repeats in a
            row count once).

    Returns:
        float64 tensor (m,) in [0, 1].
    """
    for name, t in (("a", a), ("b", b)):
        if not isinstance(t, torch.Tensor) or t.dim() != 2 or t.dtype.is_floating_point or t.dtype == torch.bool:
            got = f"shape {tuple(t.shape)}, dtype {t.dtype}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a 2D integer tensor of indices (m, k); got {got}")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"a has {a.shape[0]} rows and b has {b.shape[0]}; expected the same number of queries")
    scores = []
    for row_a, row_b in zip(a.tolist(), b.tolist()):
        set_a, set_b = set(row_a), set(row_b)
        union = set_a | set_b
        scores.append(len(set_a & set_b) / len(union) if union else 1.0)
    return torch.tensor(scores, dtype=torch.float64)


def label_homogeneity(
    neighbours: torch.Tensor, labels: torch.Tensor, query_labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Fraction of each query's neighbours that share a label.

    With query_labels: the fraction whose label equals the query's own. Without: the
    fraction carrying the most frequent label among the query's neighbours (1 for a
    label-homogeneous set; its lowest value, 1 / c, for a set split evenly among c labels).

    Args:
        neighbours: integer tensor (m, k) of indices into labels.
        labels: (n,) labels of the training points (any values compared by equality).
        query_labels: optional (m,) labels of the queries.

    Returns:
        float64 tensor (m,) in [0, 1].
    """
    if not isinstance(neighbours, torch.Tensor) or neighbours.dim() != 2 or neighbours.dtype.is_floating_point:
        raise ValueError("neighbours must be a 2D integer tensor of indices (m, k)")
    labels = torch.as_tensor(labels)
    if labels.dim() != 1:
        raise ValueError(f"labels has shape {tuple(labels.shape)}; expected (n,)")
    if neighbours.numel() and (neighbours.min() < 0 or neighbours.max() >= labels.shape[0]):
        raise ValueError(f"neighbours hold indices outside [0, {labels.shape[0]}), the range of labels")
    found = labels[neighbours]
    if query_labels is not None:
        query_labels = torch.as_tensor(query_labels)
        if query_labels.shape != (neighbours.shape[0],):
            raise ValueError(
                f"query_labels has shape {tuple(query_labels.shape)}; expected ({neighbours.shape[0]},), one per query"
            )
        return (found == query_labels[:, None]).double().mean(dim=1)
    values = torch.unique(found)
    counts = torch.stack([(found == v).sum(dim=1) for v in values], dim=1)
    return counts.max(dim=1).values.double() / neighbours.shape[1]


__all__ = ["euclidean_neighbours", "jaccard", "kernel_neighbours", "label_homogeneity"]
