"""The public tangent features and kernel (`tangent_features`, `tangent_kernel`): argument
checks, the choice of route (`chain_for`) and the structured route's row blocks."""

from __future__ import annotations

import torch
from torch import nn

from pathkernel.functional import (
    FlatFunction,
    check_allocation,
    check_deterministic,
    check_inputs,
    flat_function,
    model_dtype,
    output_dim,
    parameter_mask,
    restricted_function,
    select_columns,
)
from pathkernel.kernels import structured
from pathkernel.kernels.checks import check_normalizable, check_params
from pathkernel.kernels.generic import generic_kernel, jacobian_chunks, rows_per_chunk
from pathkernel.precision import cast_model, working_dtype

DEFAULT_MAX_MEMORY = 1 << 30
METHODS = ("auto", "structured", "generic")


def chain_for(model: nn.Module, x: torch.Tensor, method: str, parameters: str = "trainable") -> structured.Chain | None:
    """The structured chain to use for `model` on inputs `x`, or None for the generic route.

    method: "auto" (structured when the model is a recognized chain and x is (n, d)),
    "structured" (required: raise otherwise) or "generic". parameters: "trainable" or
    "all", the coordinates the chain's kernels sum over.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}; expected one of {METHODS}")
    if method == "generic":
        return None
    chain = structured.chain_of(model, parameters=parameters) if x.dim() == 2 else None
    if chain is None and method == "structured":
        raise ValueError(
            f"method='structured' needs an MLP, LinearModel or nn.Sequential of Linear layers and "
            f"elementwise activations on (n, d) inputs; got {type(model).__name__} on inputs {tuple(x.shape)}"
        )
    return chain


def trainable_features(chain: structured.Chain | None, g: FlatFunction, theta: torch.Tensor, x: torch.Tensor,
                       mask: torch.Tensor, rows: int) -> torch.Tensor:
    """(n, c, P) tangent features over the coordinates of `mask` at flat parameters theta (P_all,):
    from the chain's outer products (its trainable tensors are `mask`'s), or as Jacobians of
    g, the model as a function of those coordinates (`functional.restricted_function`), in
    chunks of `rows` examples."""
    if chain is not None:
        return structured.features(chain, theta, x, trainable_only=True)
    return torch.cat([J for _, J in jacobian_chunks(g, select_columns(theta, mask), x, rows)])


def tangent_features(
    model: nn.Module,
    x: torch.Tensor,
    *,
    params: torch.Tensor | None = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
    method: str = "auto",
    parameters: str = "trainable",
) -> torch.Tensor:
    """Tangent features phi_w(x_i) = d f(w, x_i) / dw over the selected parameters.

    Args:
        model: any module mapping (n, ...) inputs to (n,), (n, 1) or (n, c) outputs.
        x: inputs (n, ...), same dtype as the model.
        params: flat parameters (P_all,) of every coordinate, frozen ones included
            (`parameters_to_vector(model.parameters())` layout), to evaluate at; default
            the model's own.
        max_memory: bytes allowed for intermediate Jacobian chunks.
        method: "auto", "structured" or "generic" (see `chain_for`).
        parameters: "trainable" (requires_grad=True; default) or "all": the columns.

    Returns:
        (n, P) for a scalar-output model, (n, c, P) for c outputs, P the number of
        selected coordinates, in flat-vector order.
    """
    check_inputs(model, x)
    check_deterministic(model, "tangent_features")
    theta = check_params(model, params, "params")
    work = working_dtype(model_dtype(model))
    model, x, theta = cast_model(model, work), x.to(work), theta.to(work)
    mask = parameter_mask(model, parameters)
    c, scalar = output_dim(model, x)
    check_allocation("tangent_features", (x.shape[0], c, int(mask.sum())), theta.dtype, theta.device)
    chain = chain_for(model, x, method, parameters)
    chunk = rows_per_chunk(x.shape[0], c * int(mask.sum()) * theta.element_size(), max_memory)
    features = trainable_features(chain, restricted_function(flat_function(model), theta, mask), theta, x.detach(),
                                  mask, chunk)
    return features[:, 0, :] if scalar else features


def tangent_kernel(
    model: nn.Module,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    normalized: bool = False,
    params: torch.Tensor | None = None,
    params2: torch.Tensor | None = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
    method: str = "auto",
    parameters: str = "trainable",
) -> torch.Tensor:
    """Tangent kernel K(x1_i, x2_j) = <phi_{w}(x1_i), phi_{w'}(x2_j)>, over the selected parameters.

    Args:
        model: any module mapping (n, ...) inputs to (n,), (n, 1) or (n, c) outputs.
        x1: inputs (n1, ...); x2: inputs (n2, ...), default x1.
        normalized: return the cosine form K_ab / sqrt(K_aa(x, x) K_bb(x', x')).
        params: flat parameters w (P_all,) for the x1 side, every coordinate (frozen ones
            included); default the model's own.
        params2: flat parameters w' for the x2 side; default `params`.
        max_memory: bytes allowed for intermediate blocks (the result itself is extra).
        method: "auto" (structured route for fully connected chains, else generic),
            "structured" or "generic".
        parameters: "trainable" (requires_grad=True; default) or "all": the coordinates
            the inner product runs over.

    Returns:
        (n1, n2) for a scalar-output model, (n1, n2, c, c) for c outputs.

    Raises:
        ValueError: normalized=True at a point where the gradient vanishes (K(x, x) = 0).
        MemoryError: the result cannot fit in the available memory (checked first).
    """
    check_inputs(model, x1, "x1")
    check_deterministic(model, "tangent_kernel")
    x2_given = x2 is not None
    if x2_given:
        check_inputs(model, x2, "x2")
        if x2.shape[1:] != x1.shape[1:]:
            raise ValueError(f"x1 examples have shape {tuple(x1.shape[1:])} but x2 examples {tuple(x2.shape[1:])}")
    else:
        x2 = x1
    theta1 = check_params(model, params, "params")
    theta2 = theta1 if params2 is None else check_params(model, params2, "params2")
    work = working_dtype(model_dtype(model))
    model, x1, x2 = cast_model(model, work), x1.to(work), x2.to(work)
    theta1, theta2 = theta1.to(work), theta2.to(work)
    mask = parameter_mask(model, parameters)
    c, scalar = output_dim(model, x1)
    check_allocation("tangent_kernel", (x1.shape[0], x2.shape[0], c, c), theta1.dtype, theta1.device)
    chain = chain_for(model, x1, method, parameters)
    if chain is not None:
        kernel = _structured_kernel(chain, theta1, x1.detach(), theta2, x2.detach(), c, max_memory,
                                    normalized=normalized)
    else:
        f = flat_function(model)
        kernel = generic_kernel(restricted_function(f, theta1, mask), select_columns(theta1, mask), x1.detach(),
                                 restricted_function(f, theta2, mask), select_columns(theta2, mask), x2.detach(),
                                 c, max_memory,
                                 symmetric=not x2_given and params2 is None, normalized=normalized)
    return kernel[:, :, 0, 0] if scalar else kernel


def _structured_kernel(
    chain: structured.Chain,
    theta1: torch.Tensor,
    x1: torch.Tensor,
    theta2: torch.Tensor,
    x2: torch.Tensor,
    c: int,
    max_memory: int,
    *,
    normalized: bool,
) -> torch.Tensor:
    """(n1, n2, c, c) by `structured.kernel`, x1 in row blocks so that the per-layer
    (rows, n2) Gram products stay within `max_memory`."""
    n1, n2 = x1.shape[0], x2.shape[0]
    second = structured.side(chain, theta2, x2)
    rows = max(1, max_memory // (4 * n2 * c * c * x1.element_size()))
    kernel = x1.new_empty(n1, n2, c, c)
    diag1 = x1.new_empty(n1, c)
    for start in range(0, n1, rows):
        block = slice(start, min(start + rows, n1))
        first = structured.side(chain, theta1, x1[block])
        kernel[block] = structured.kernel(first, second)
        if normalized:
            diag1[block] = structured.diagonal(first)
    if normalized:
        diag2 = structured.diagonal(second)
        check_normalizable(diag1, "x1")
        check_normalizable(diag2, "x2")
        kernel = kernel / torch.sqrt(diag1[:, None, :, None] * diag2[None, :, None, :])
    return kernel
