"""The tangent kernel of a chain from small Gram matrices (no P-sized Jacobians).

`side(chain, theta, x)` runs the chain forward, storing each affine layer's input
a_{l-1} (n, fan_in) and each run's derivative rho_l'(z_l) (one forward-mode JVP per run),
then the output sensitivities delta_l^o = d f_o / d z_l (n, c, fan_out) backward:

    delta_L = diag(rho_L'(z_L))   (the identity when the chain ends with a Linear layer),
    delta_l = rho_l'(z_l) o (s_{l+1} W_{l+1}^T delta_{l+1}).

Two sides give the (n1, n2, c, c) kernel (`kernel`) and one side its diagonal (`diagonal`):

    K = sum_l (D_l D_l'^T) o (s_l^2 A_{l-1} A_{l-1}'^T [W_l] + t_l^2 [b_l]),

summed over the trainable tensors; each side may use its own flat parameter vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.func import jvp

from pathkernel.kernels.structured.chain import Affine, Chain, input_and_body


@dataclass
class Side:
    """What one side of the kernel needs, per affine layer l: its input a_{l-1} (n, fan_in)
    and the output sensitivities delta_l (n, c, fan_out); with the chain's affine layers
    and rho_L'(z_L) (n, c) when the chain ends with a run (None when f = z_L)."""

    inputs: list[torch.Tensor]
    deltas: list[torch.Tensor]
    affines: list[Affine]
    output_derivative: torch.Tensor | None


def side(chain: Chain, theta: torch.Tensor, x: torch.Tensor) -> Side:
    """Forward pass storing each layer's input a_{l-1} and each run's derivative
    rho_l'(z_l) (one JVP per run), then the backward recursion
    delta_l = rho_l'(z_l) o (s_{l+1} W_{l+1}^T delta_{l+1}) from delta_L = diag(rho_L'(z_L)).

    theta: flat parameters (P,); x: inputs (n, d).
    """
    a, body = input_and_body(chain, x)
    inputs: list[torch.Tensor] = []
    weights: list[torch.Tensor] = []
    derivatives: list[torch.Tensor | None] = []  # rho_l'(z_l) (n, fan_out), None for an empty run
    for layer in body:
        if isinstance(layer, Affine):
            W = theta[layer.weight].view(layer.shape)
            inputs.append(a)
            weights.append(W)
            derivatives.append(None)
            a = layer.weight_scale * (a @ W.T)
            if layer.bias is not None:
                a = a + layer.bias_scale * theta[layer.bias]
        else:
            a, derivatives[-1] = jvp(layer, (a,), (torch.ones_like(a),))
    affines = chain.affines
    n, c = x.shape[0], affines[-1].shape[0]
    out = derivatives[-1]
    delta = torch.eye(c, dtype=x.dtype, device=x.device).expand(n, c, c) if out is None else torch.diag_embed(out)
    deltas = [delta]
    for k in range(len(affines) - 1, 0, -1):
        # layers 0-based here: delta (of layer k) -> the delta of layer k - 1, through W_k
        # (for the last layer, delta is diagonal: the product is W_k with scaled rows)
        if k < len(affines) - 1:
            back = (delta.reshape(n * c, -1) @ weights[k]).reshape(n, c, -1)
        elif out is None:
            back = weights[k].expand(n, c, -1)
        else:
            back = out[:, :, None] * weights[k]
        derivative = derivatives[k - 1]
        scale = affines[k].weight_scale
        delta = back * scale if derivative is None else back * (scale * derivative)[:, None, :]
        deltas.append(delta)
    deltas.reverse()
    return Side(inputs=inputs, deltas=deltas, affines=affines, output_derivative=out)


def _input_gram(layer: Affine, a1: torch.Tensor, a2: torch.Tensor) -> torch.Tensor | None:
    """(n1, n2): s^2 A A'^T [weight trainable] + t^2 [bias trainable]; None when neither."""
    bias = layer.bias is not None and layer.bias_trainable
    if layer.weight_trainable:
        gram = a1 @ a2.T
        if layer.weight_scale != 1.0:
            gram.mul_(layer.weight_scale**2)
        return gram.add_(layer.bias_scale**2) if bias else gram
    if bias:
        return a1.new_full((a1.shape[0], a2.shape[0]), layer.bias_scale**2)
    return None


def kernel(first: Side, second: Side) -> torch.Tensor:
    """(n1, n2, c, c): sum_l (D_l D_l'^T) o (s_l^2 A_{l-1} A_{l-1}'^T [W_l] + t_l^2 [b_l]),
    over the trainable tensors (`pathkernel.kernels.structured`). Both sides come from one chain.

    The last layer's deltas are diagonal (f_o depends on z_L only through z_L[o]), so its
    term only fills the output diagonal, times rho_L'(z_L)[o] rho_L'(z_L')[o] when the chain
    ends with a run; the products are done in place to keep memory at a few (n1, n2).
    """
    n1, c = first.deltas[0].shape[:2]
    n2 = second.deltas[0].shape[0]
    total = first.inputs[0].new_zeros(n1, n2, c, c)
    last = len(first.affines) - 1
    for l, (layer, a1, a2, d1, d2) in enumerate(
        zip(first.affines, first.inputs, second.inputs, first.deltas, second.deltas)
    ):
        gram = _input_gram(layer, a1, a2)
        if gram is None:
            continue
        if l == last:
            outputs = total.diagonal(dim1=2, dim2=3)  # (n1, n2, c) view
            if first.output_derivative is None:
                outputs.add_(gram[:, :, None])
            else:
                outputs.add_(gram[:, :, None] * first.output_derivative[:, None, :]
                             * second.output_derivative[None, :, :])
        elif c == 1:
            total[:, :, 0, 0].add_(gram.mul_(d1[:, 0] @ d2[:, 0].T))
        else:
            total.add_(torch.einsum("icp,jdp->ijcd", d1, d2).mul_(gram[:, :, None, None]))
    return total


def diagonal(one: Side) -> torch.Tensor:
    """(n, c): ``K(x_i, x_i)[o, o] = sum_l ||delta_l^o||^2 (s_l^2 ||a_{l-1}||^2 [W_l] + t_l^2 [b_l])``
    for each example and output, over the trainable tensors."""
    total = one.inputs[0].new_zeros(one.deltas[0].shape[:2])
    for layer, a, d in zip(one.affines, one.inputs, one.deltas):
        bias = layer.bias is not None and layer.bias_trainable
        if not (layer.weight_trainable or bias):
            continue
        norms = a.new_full(a.shape[:1], layer.bias_scale**2 if bias else 0.0)
        if layer.weight_trainable:
            norms += layer.weight_scale**2 * a.pow(2).sum(1)
        total += d.pow(2).sum(-1) * norms[:, None]
    return total
