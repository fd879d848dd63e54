"""The Jacobian of a chain, explicit or along a direction.

* `features`: the (n, c, P) Jacobian d f(theta, x_i)_o / d theta assembled from the outer
  products s_l delta_l a_{l-1}^T (weights) and t_l delta_l (biases) of `gram.side`.
* `directional`: f(theta_b, x) and <grad f(theta_b, x), delta_b> for B parameter vectors at
  once, by forward-mode propagation through the chain (no Jacobian is formed).
"""

from __future__ import annotations

import torch
from torch.func import jvp

from pathkernel.kernels.structured.chain import Affine, Chain, input_and_body, trainable_columns
from pathkernel.kernels.structured.gram import side


def features(chain: Chain, theta: torch.Tensor, x: torch.Tensor, *, trainable_only: bool = False) -> torch.Tensor:
    """(n, c, P) Jacobian d f(theta, x_i)_o / d theta, assembled from outer products
    s_l delta_l a_{l-1}^T and t_l delta_l: every column in the flat layout (frozen ones with
    their true values), or with `trainable_only` the columns of the chain's trainable tensors
    alone, in flat order (P = their count; nothing is allocated for the frozen ones)."""
    one = side(chain, theta, x)
    n, c = one.deltas[0].shape[:2]
    columns = trainable_columns(chain) if trainable_only else None
    width = theta.numel() if columns is None else sum(place.stop - place.start for place in columns.values())
    J = x.new_zeros(n, c, width)

    def place(where: slice, trainable: bool) -> slice | None:
        if columns is None:
            return where
        return columns[where.start] if trainable else None

    for layer, a, d in zip(one.affines, one.inputs, one.deltas):
        target = place(layer.weight, layer.weight_trainable)
        if target is not None:
            J[:, :, target] = layer.weight_scale * (d[:, :, :, None] * a[:, None, None, :]).reshape(n, c, -1)
        if layer.bias is not None:
            target = place(layer.bias, layer.bias_trainable)
            if target is not None:
                J[:, :, target] = layer.bias_scale * d
    return J


def directional(
    chain: Chain, theta: torch.Tensor, x: torch.Tensor, delta: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Outputs, and directional derivatives, for B parameter vectors at once.

    theta: (B, P); x: (n, d); delta: (B, P) or None. Returns f(theta_b, x) (B, n, c) and
    <grad f(theta_b, x), delta_b> (B, n, c) (None without delta), by forward-mode
    propagation through the chain: z = s W a + t b, dz = s (dW a + W da) + t db;
    a' = rho(z), da' = rho'(z) o dz (one JVP per run). The leading run rho_0 is applied
    once to x, which is the same for every b, with da_0 = 0.
    """
    B = theta.shape[0]
    a, body = input_and_body(chain, x)
    a = a.expand(B, *a.shape)
    da = None  # zero before the first affine layer
    for layer in body:
        if isinstance(layer, Affine):
            W = theta[:, layer.weight].view(B, *layer.shape).transpose(1, 2)
            z = layer.weight_scale * (a @ W)
            if layer.bias is not None:
                z = z + layer.bias_scale * theta[:, None, layer.bias]
            if delta is not None:
                dz = a @ delta[:, layer.weight].view(B, *layer.shape).transpose(1, 2)
                if da is not None:
                    dz = dz + da @ W
                da = layer.weight_scale * dz
                if layer.bias is not None:
                    da = da + layer.bias_scale * delta[:, None, layer.bias]
            a = z
        elif delta is None:
            a = layer(a)
        else:
            a, da = jvp(layer, (a,), (da,))
    return a, da
