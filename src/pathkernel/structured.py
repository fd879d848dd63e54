"""Tangent kernels of fully connected chains from small Gram matrices (no P-sized Jacobians).

A chain is Linear layers z_l = s_l W_l a_{l-1} + t_l b_l with elementwise activations
a_l = sigma(z_l) between them (a_0 = x; s_l = t_l = 1 for nn.Linear, the NTK scales
for `NTKLinear`). The gradient of output o w.r.t. W_l is the outer product
s_l delta_l^o a_{l-1}^T with delta_l^o = d f_o / d z_l, so

    K(x, x')[o, o'] = sum_l <delta_l^o(x), delta_l^o'(x')> (s_l^2 <a_{l-1}(x), a_{l-1}(x')> + t_l^2 [bias])

i.e. K = sum_l (D_l D_l'^T) o (s_l^2 A_{l-1} A_{l-1}'^T + t_l^2): a few (n1, n2) matrix
products per layer instead of (n1 x P) @ (P x n2). Each side may use its own flat
parameter vector. Activation derivatives come from forward-mode autodiff of the
activation module itself (they are elementwise), so no derivative is written by hand.

Recognized models (exact types, so that a subclass with its own forward is never
mistaken for a chain): `pathkernel.MLP`, `pathkernel.LinearModel` and `nn.Sequential`
of nn.Linear / `NTKLinear` and the elementwise activations in `ELEMENTWISE`. Anything
else returns None from `chain_of`, and callers fall back to the generic torch.func route.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import jvp

from pathkernel.models import MLP, Erf, LinearModel, NTKLinear

ELEMENTWISE = (nn.GELU, nn.Tanh, nn.ReLU, nn.Softplus, nn.Sigmoid, nn.Identity, nn.SiLU, nn.ELU,
               nn.LeakyReLU, Erf)


@dataclass(frozen=True)
class Affine:
    """A Linear layer: where its weight (fan_out, fan_in) and bias sit in the flat vector."""

    weight: slice
    shape: tuple[int, int]
    bias: slice | None
    weight_scale: float
    bias_scale: float


Layer = Affine | nn.Module


@dataclass(frozen=True)
class Chain:
    """Affine layers and elementwise activations, in forward order."""

    layers: tuple[Layer, ...]

    @property
    def affines(self) -> list[Affine]:
        return [layer for layer in self.layers if isinstance(layer, Affine)]


def _modules_of(model: nn.Module) -> list[nn.Module] | None:
    if type(model) is MLP:
        return list(model.layers)
    if type(model) is LinearModel:
        return [model.linear]
    if type(model) is nn.Sequential:
        flat: list[nn.Module] = []
        for child in model:
            inner = _modules_of(child) if type(child) is nn.Sequential else [child]
            if inner is None:
                return None
            flat += inner
        return flat
    return None


def chain_of(model: nn.Module) -> Chain | None:
    """The chain structure of `model`, or None when it is not a recognized chain."""
    modules = _modules_of(model)
    if not modules:
        return None
    offsets: dict[int, slice] = {}
    start = 0
    for p in model.parameters():
        offsets[id(p)] = slice(start, start + p.numel())
        start += p.numel()
    layers: list[Layer] = []
    seen: set[int] = set()
    for module in modules:
        if type(module) in (nn.Linear, NTKLinear):
            params = [module.weight] + ([module.bias] if module.bias is not None else [])
            if any(id(p) in seen or id(p) not in offsets for p in params):
                return None
            seen.update(id(p) for p in params)
            ntk = type(module) is NTKLinear
            layers.append(Affine(
                weight=offsets[id(module.weight)],
                shape=tuple(module.weight.shape),
                bias=offsets[id(module.bias)] if module.bias is not None else None,
                weight_scale=module.weight_scale if ntk else 1.0,
                bias_scale=module.bias_scale if ntk else 1.0,
            ))
        elif type(module) in ELEMENTWISE:
            layers.append(module)
        else:
            return None
    if len(seen) != len(offsets) or not isinstance(layers[-1], Affine):
        return None
    return Chain(tuple(layers))


@dataclass
class Side:
    """What one side of the kernel needs: per affine layer l, its input a_{l-1} (n, fan_in)
    and the backpropagated output sensitivities delta_l (n, c, fan_out)."""

    inputs: list[torch.Tensor]
    deltas: list[torch.Tensor]
    scales: list[tuple[float, float, bool]]


def side(chain: Chain, theta: torch.Tensor, x: torch.Tensor) -> Side:
    """Forward pass storing layer inputs and activation derivatives, then the backward
    recursion delta_{l} = sigma'(z_l) * (s_{l+1} W_{l+1}^T delta_{l+1}), delta_L = I."""
    inputs, derivatives, weights = [], [], []
    a = x
    for layer in chain.layers:
        if isinstance(layer, Affine):
            W = theta[layer.weight].view(layer.shape)
            inputs.append(a)
            weights.append(W)
            a = layer.weight_scale * (a @ W.T)
            if layer.bias is not None:
                a = a + layer.bias_scale * theta[layer.bias]
        else:
            a, derivative = jvp(layer, (a,), (torch.ones_like(a),))
            derivatives.append(derivative)
    affines = chain.affines
    n, c = x.shape[0], affines[-1].shape[0]
    delta = torch.eye(c, dtype=x.dtype).expand(n, c, c)
    deltas = [delta]
    for k in range(len(affines) - 1, 0, -1):
        back = delta.reshape(n * c, -1) @ weights[k] if k < len(affines) - 1 else weights[k].expand(n, c, -1)
        delta = affines[k].weight_scale * back.reshape(n, c, -1) * derivatives[k - 1][:, None, :]
        deltas.append(delta)
    deltas.reverse()
    scales = [(layer.weight_scale, layer.bias_scale, layer.bias is not None) for layer in affines]
    return Side(inputs=inputs, deltas=deltas, scales=scales)


def kernel(first: Side, second: Side) -> torch.Tensor:
    """(n1, n2, c, c): sum_l (D_l D_l'^T) o (s_l^2 A_{l-1} A_{l-1}'^T + t_l^2 [bias]).

    The last layer's deltas are the identity (f = z_L), so its term only fills the
    output diagonal; the products are done in place to keep memory at a few (n1, n2).
    """
    n1, c = first.deltas[0].shape[:2]
    n2 = second.deltas[0].shape[0]
    total = first.inputs[0].new_zeros(n1, n2, c, c)
    last = len(first.inputs) - 1
    for l, (a1, a2, d1, d2, (s, t, has_bias)) in enumerate(
        zip(first.inputs, second.inputs, first.deltas, second.deltas, first.scales)
    ):
        gram = a1 @ a2.T
        if s != 1.0:
            gram.mul_(s * s)
        if has_bias:
            gram.add_(t * t)
        if l == last:
            total.diagonal(dim1=2, dim2=3).add_(gram[:, :, None])
        elif c == 1:
            total[:, :, 0, 0].add_(gram.mul_(d1[:, 0] @ d2[:, 0].T))
        else:
            total.add_(torch.einsum("icp,jdp->ijcd", d1, d2).mul_(gram[:, :, None, None]))
    return total


def diagonal(one: Side) -> torch.Tensor:
    """(n, c): K(x_i, x_i)[o, o] for each example and output."""
    total = one.inputs[0].new_zeros(one.deltas[0].shape[:2])
    for a, d, (s, t, has_bias) in zip(one.inputs, one.deltas, one.scales):
        norms = (s * s) * a.pow(2).sum(1) + (t * t if has_bias else 0.0)
        total += d.pow(2).sum(-1) * norms[:, None]
    return total


def features(chain: Chain, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(n, c, P) Jacobian assembled from outer products: s_l delta_l a_{l-1}^T and t_l delta_l."""
    one = side(chain, theta, x)
    n, c = one.deltas[0].shape[:2]
    J = x.new_zeros(n, c, theta.numel())
    for layer, a, d in zip(chain.affines, one.inputs, one.deltas):
        J[:, :, layer.weight] = layer.weight_scale * (d[:, :, :, None] * a[:, None, None, :]).reshape(n, c, -1)
        if layer.bias is not None:
            J[:, :, layer.bias] = layer.bias_scale * d
    return J


def directional(
    chain: Chain, theta: torch.Tensor, x: torch.Tensor, delta: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Outputs, and directional derivatives, for B parameter vectors at once.

    theta: (B, P); x: (n, d); delta: (B, P) or None. Returns f(theta_b, x) (B, n, c) and
    <grad f(theta_b, x), delta_b> (B, n, c) (None without delta), by forward-mode
    propagation through the chain: z = s W a + t b, dz = s (dW a + W da) + t db;
    a' = sigma(z), da' = sigma'(z) dz.
    """
    B = theta.shape[0]
    a = x.expand(B, *x.shape)
    da = None if delta is None else torch.zeros_like(a)
    for layer in chain.layers:
        if isinstance(layer, Affine):
            W = theta[:, layer.weight].view(B, *layer.shape).transpose(1, 2)
            z = layer.weight_scale * (a @ W)
            if layer.bias is not None:
                z = z + layer.bias_scale * theta[:, None, layer.bias]
            if da is not None:
                dW = delta[:, layer.weight].view(B, *layer.shape).transpose(1, 2)
                da = layer.weight_scale * (a @ dW + da @ W)
                if layer.bias is not None:
                    da = da + layer.bias_scale * delta[:, None, layer.bias]
            a = z
        elif da is None:
            a = layer(a)
        else:
            a, derivative = jvp(layer, (a,), (torch.ones_like(a),))
            da = derivative * da
    return a, da
