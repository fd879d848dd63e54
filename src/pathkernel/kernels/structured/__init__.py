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

Modules: `chain` (recognizing a chain: `chain_of`), `gram` (the two sides of a kernel and
their Gram products: `side`, `kernel`, `diagonal`), `jacobian` (`features`, `directional`).
This package is also importable under its former name, `pathkernel.structured`.
"""

from pathkernel.kernels.structured.chain import (
    AFFINE,
    DROPOUT,
    ELEMENTWISE,
    PARAMETER_SETS,
    Affine,
    Chain,
    Layer,
    Run,
    chain_of,
)
from pathkernel.kernels.structured.gram import Side, diagonal, kernel, side
from pathkernel.kernels.structured.jacobian import directional, features

__all__ = [
    "ELEMENTWISE",
    "AFFINE",
    "DROPOUT",
    "PARAMETER_SETS",
    "Affine",
    "Run",
    "Layer",
    "Chain",
    "chain_of",
    "Side",
    "side",
    "kernel",
    "diagonal",
    "features",
    "directional",
]
