"""Tangent kernels of fully connected chains from small Gram matrices (no P-sized Jacobians).

A chain is

    a_0 = rho_0(x),   z_l = s_l W_l a_{l-1} + t_l b_l,   a_l = rho_l(z_l)   (l = 1..L),   f = a_L,

with Linear layers (W_l of shape (fan_out, fan_in), optional bias b_l; s_l = t_l = 1 for
nn.Linear, the NTK scales for `NTKLinear`) and *runs* rho_l: compositions of zero or more
elementwise maps (an empty run is the identity). Because a run acts entry by entry, its
Jacobian is diag(rho_l'(z_l)), and rho_l' (the product of its maps' derivatives, by the
chain rule) comes from one forward-mode JVP of the whole run with tangent ones; no
derivative is written by hand. The leading run rho_0 only transforms the input (nothing
before it is a parameter), so it needs no derivative. The output sensitivities
delta_l^o = d f_o / d z_l (c of them per example, each of size fan_out_l) follow

    delta_L = diag(rho_L'(z_L))   (the identity when the chain ends with a Linear layer),
    delta_l = rho_l'(z_l) o (s_{l+1} W_{l+1}^T delta_{l+1}),

and the gradient of f_o w.r.t. W_l is the outer product s_l delta_l^o a_{l-1}^T (w.r.t.
b_l: t_l delta_l^o). Hence, for the c x c kernel block of x and x',

    K(x, x')[o, o'] = sum_l <delta_l^o(x), delta_l^o'(x')> (s_l^2 <a_{l-1}(x), a_{l-1}(x')> [W_l] + t_l^2 [b_l])

i.e. K = sum_l (D_l D_l'^T) o (s_l^2 A_{l-1} A_{l-1}'^T + t_l^2): a few (n1, n2) matrix
products per layer instead of (n1 x P) @ (P x n2). Each side may use its own flat
parameter vector.

Trainable and frozen parameters: `chain_of(model, parameters="trainable")` records on
each `Affine` whether its weight and its bias have ``requires_grad=True``; `kernel` and
`diagonal` then sum only the terms [W_l], [b_l] of trainable tensors (a layer with both
frozen adds nothing, but its weights still carry the deltas of the layers before it).
``parameters="all"`` counts every parameter. `features` always returns every column of
the flat vector (frozen ones hold their true Jacobian values; callers select columns),
and `directional` is the JVP along a full direction vector (frozen coordinates included).

Recognized models (exact types, so that a subclass with its own forward is never
mistaken for a chain): `pathkernel.MLP`, `pathkernel.LinearModel` and `nn.Sequential`,
nested in any combination, whose leaves are, in any order,

* affine layers: nn.Linear (with or without bias) and `NTKLinear` (consecutive ones
  allowed: the run between them is empty);
* elementwise maps without parameters (`ELEMENTWISE`): ReLU, ReLU6, LeakyReLU, ELU,
  SELU, CELU, GELU (both approximations), SiLU, Mish, Softplus, Softsign, Sigmoid,
  LogSigmoid, Tanh, Tanhshrink, Hardtanh, Hardsigmoid, Hardswish, Hardshrink, Softshrink,
  Threshold and `Erf`, anywhere: before the first affine layer, between two, several in
  a row, after the last (in-place variants too: a leading run is applied to a copy of x,
  so the caller's x is never written);
* identities, which are dropped: nn.Identity, nn.Dropout and nn.AlphaDropout in eval mode,
  nn.Flatten with start_dim and end_dim both 1 or -1 (a no-op on (n, d) activations).

with at least one affine layer, every model parameter belonging to exactly one affine
layer (tied weights are refused) and no forward or forward-pre hook on any module.
Refused (`chain_of` returns None, and callers fall back to the generic torch.func route):
any other module (Softmax, LogSoftmax, PReLU and RReLU, normalizations, convolutions,
reshapes, subclasses of the types above, ...), dropout in training mode, Flatten over the
batch axis. Inputs x are (n, d) (the chain's layers see (n, width) activations).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import jvp

from pathkernel.models import MLP, Erf, LinearModel, NTKLinear

ELEMENTWISE: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Softplus, nn.Softsign, nn.Sigmoid, nn.LogSigmoid, nn.Tanh, nn.Tanhshrink, nn.Hardtanh,
    nn.Hardsigmoid, nn.Hardswish, nn.Hardshrink, nn.Softshrink, nn.Threshold, nn.Identity, Erf,
)
"""Parameter-free modules acting on each entry independently (matched by exact type)."""

AFFINE: tuple[type[nn.Module], ...] = (nn.Linear, NTKLinear)
DROPOUT: tuple[type[nn.Module], ...] = (nn.Dropout, nn.AlphaDropout)
PARAMETER_SETS = ("trainable", "all")


@dataclass(frozen=True)
class Affine:
    """A Linear layer z = s W a + t b: where its weight (fan_out, fan_in) and bias sit in
    the flat vector, its scales s, t, and whether each tensor enters the kernels
    (`bias_trainable` is False when there is no bias)."""

    weight: slice
    shape: tuple[int, int]
    bias: slice | None
    weight_scale: float
    bias_scale: float
    weight_trainable: bool = True
    bias_trainable: bool = True


@dataclass(frozen=True)
class Run:
    """One or more elementwise modules applied in order: rho = sigma_k o ... o sigma_1."""

    modules: tuple[nn.Module, ...]

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        for module in self.modules:
            z = module(z)
        return z


Layer = Affine | Run


@dataclass(frozen=True)
class Chain:
    """Affine layers and the runs between them, in forward order: at least one Affine,
    never two Runs in a row (a leading Run is rho_0, a Run after layer l is rho_l)."""

    layers: tuple[Layer, ...]

    @property
    def affines(self) -> list[Affine]:
        return [layer for layer in self.layers if isinstance(layer, Affine)]


_CONTAINERS = (nn.Sequential, MLP, LinearModel)


def _leaves(module: nn.Module) -> list[nn.Module]:
    """The modules a recognized container applies in order (a non-container is its own leaf)."""
    if type(module) is nn.Sequential:
        children = list(module)
    elif type(module) is MLP:
        children = [module.layers]
    elif type(module) is LinearModel:
        children = [module.linear]
    else:
        return [module]
    return [leaf for child in children for leaf in _leaves(child)]


def _is_identity(module: nn.Module) -> bool:
    """Modules that leave (n, d) activations unchanged: Identity, eval-mode dropout, a
    Flatten of the feature axis alone."""
    kind = type(module)
    if kind is nn.Identity:
        return True
    if kind in DROPOUT:
        return not module.training
    if kind is nn.Flatten:
        return module.start_dim in (1, -1) and module.end_dim in (1, -1)
    return False


def _hooked(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks)


def chain_of(model: nn.Module, parameters: str = "trainable") -> Chain | None:
    """The chain structure of `model`, or None when it is not a recognized chain (see the
    module docstring for what is recognized).

    parameters: "trainable" (the kernels sum over parameters with requires_grad=True) or
    "all" (over every parameter); recorded as `Affine.weight_trainable` / `bias_trainable`.
    """
    if parameters not in PARAMETER_SETS:
        raise ValueError(f"parameters={parameters!r}; expected one of {PARAMETER_SETS}")
    if type(model) not in _CONTAINERS or any(_hooked(m) for m in model.modules()):
        return None
    offsets: dict[int, slice] = {}
    start = 0
    for p in model.parameters():
        offsets[id(p)] = slice(start, start + p.numel())
        start += p.numel()
    every = parameters == "all"
    layers: list[Layer] = []
    run: list[nn.Module] = []
    seen: set[int] = set()
    for module in _leaves(model):
        if type(module) in AFFINE:
            params = [module.weight] + ([module.bias] if module.bias is not None else [])
            if any(id(p) in seen or id(p) not in offsets for p in params):
                return None
            seen.update(id(p) for p in params)
            if run:
                layers.append(Run(tuple(run)))
                run = []
            ntk = type(module) is NTKLinear
            layers.append(Affine(
                weight=offsets[id(module.weight)],
                shape=tuple(module.weight.shape),
                bias=offsets[id(module.bias)] if module.bias is not None else None,
                weight_scale=module.weight_scale if ntk else 1.0,
                bias_scale=module.bias_scale if ntk else 1.0,
                weight_trainable=every or module.weight.requires_grad,
                bias_trainable=module.bias is not None and (every or module.bias.requires_grad),
            ))
        elif _is_identity(module):
            continue
        elif type(module) in ELEMENTWISE:
            run.append(module)
        else:
            return None
    if run:
        layers.append(Run(tuple(run)))
    if not seen or len(seen) != len(offsets):
        return None
    return Chain(tuple(layers))


def _input_and_body(chain: Chain, x: torch.Tensor) -> tuple[torch.Tensor, tuple[Layer, ...]]:
    """a_0 = rho_0(x) (x itself without a leading run) and the layers after rho_0."""
    head, *body = chain.layers
    if isinstance(head, Run):
        return head(x.clone()), tuple(body)  # clone: the run may hold in-place modules
    return x, chain.layers


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
    a, body = _input_and_body(chain, x)
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
    over the trainable tensors (see the module docstring). Both sides come from one chain.

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


def _trainable_columns(chain: Chain) -> dict[int, slice]:
    """Where each trainable tensor's columns sit among the trainable coordinates alone:
    flat start of the tensor -> its slice in the compressed (P_trainable) layout."""
    pieces = []
    for layer in chain.affines:
        pieces.append((layer.weight, layer.weight_trainable))
        if layer.bias is not None:
            pieces.append((layer.bias, layer.bias_trainable))
    columns, start = {}, 0
    for place, trainable in sorted(pieces, key=lambda piece: piece[0].start):
        if trainable:
            width = place.stop - place.start
            columns[place.start] = slice(start, start + width)
            start += width
    return columns


def features(chain: Chain, theta: torch.Tensor, x: torch.Tensor, *, trainable_only: bool = False) -> torch.Tensor:
    """(n, c, P) Jacobian d f(theta, x_i)_o / d theta, assembled from outer products
    s_l delta_l a_{l-1}^T and t_l delta_l: every column in the flat layout (frozen ones with
    their true values), or with `trainable_only` the columns of the chain's trainable tensors
    alone, in flat order (P = their count; nothing is allocated for the frozen ones)."""
    one = side(chain, theta, x)
    n, c = one.deltas[0].shape[:2]
    columns = _trainable_columns(chain) if trainable_only else None
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
    a, body = _input_and_body(chain, x)
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
