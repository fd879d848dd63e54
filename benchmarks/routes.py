"""Reference routes to an empirical NTK, written as their sources describe them.

* `naive`: one backward pass per example (scalar output), stacked into J, K = J J^T.
* `jacobian_contraction`: PyTorch's NTK tutorial, vmap(jacrev) per-parameter Jacobians
  contracted with einsum and summed over parameters.
* `ntk_vector_products`: PyTorch's NTK tutorial, each entry by vjp then jvp against the
  identity basis of the output, vmapped over x2; one row of x1 at a time (all rows at once
  needs tens of GB at n = 1000).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, jacrev, jvp, vjp, vmap


def naive(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    params = list(model.parameters())

    def jac(x: torch.Tensor) -> torch.Tensor:
        rows = []
        for xi in x:
            grads = torch.autograd.grad(model(xi[None]).sum(), params)
            rows.append(torch.cat([g.reshape(-1) for g in grads]))
        return torch.stack(rows)

    return jac(x1) @ jac(x2).T


def _fnet_single(model: nn.Module):
    params = {k: v.detach() for k, v in model.named_parameters()}

    def fnet(p, x):
        return functional_call(model, p, (x[None],))[0]

    return fnet, params


def jacobian_contraction(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    fnet, params = _fnet_single(model)
    jac1 = vmap(jacrev(fnet), (None, 0))(params, x1)
    jac2 = vmap(jacrev(fnet), (None, 0))(params, x2)
    blocks = [torch.einsum("Naf,Mbf->NMab", j1.flatten(2), j2.flatten(2)) for j1, j2 in
              zip(jac1.values(), jac2.values())]
    return torch.stack(blocks).sum(0)[..., 0, 0]


def ntk_vector_products(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    fnet, params = _fnet_single(model)

    def get_ntk(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        output, vjp_fn = vjp(lambda p: fnet(p, a), params)

        def get_ntk_slice(vec: torch.Tensor) -> torch.Tensor:
            return jvp(lambda p: fnet(p, b), (params,), vjp_fn(vec))[1]

        basis = torch.eye(output.numel(), dtype=output.dtype).view(output.numel(), -1)
        return vmap(get_ntk_slice)(basis)

    row = vmap(get_ntk, (None, 0))
    return torch.stack([row(a, x2) for a in x1])[..., 0, 0]
