"""The analytic infinite-width neural tangent kernel of a fully connected network.

For `MLP(in_dim, width, depth, activation=..., parameterization="ntk", weight_var=s_w^2,
bias_var=s_b^2)`, where layer l computes sqrt(s_w^2 / fan_in) W a + s_b b with all
entries N(0, 1), the tangent kernel converges as width -> infinity (Jacot et al. 2018)
to Theta^(L) given by the recursion over the L Linear layers

    Sigma^(1)(x, x') = s_w^2 <x, x'> / d + s_b^2,              Theta^(1) = Sigma^(1),
    Sigma^(l+1) = s_w^2 E[sigma(u) sigma(v)] + s_b^2,
    Sigmadot^(l+1) = s_w^2 E[sigma'(u) sigma'(v)],
    Theta^(l+1) = Theta^(l) Sigmadot^(l+1) + Sigma^(l+1),

with (u, v) centred Gaussian of covariance [[Sigma^(l)(x, x), Sigma^(l)(x, x')],
[Sigma^(l)(x, x'), Sigma^(l)(x', x')]]. The expectations have closed forms for ReLU
(arc-cosine kernels, Cho & Saul 2009) and erf (Williams 1997).

Degenerate covariances. With bias_var = 0 an input at the origin has Sigma^(l)(x, x) = 0
at every layer: all its pre-activations are exactly 0. The arc-cosine formula then reads
0/0; `_relu_expectations` uses the exact value of the degenerate Gaussian instead:
E[relu(u) relu(v)] = 0 and E[relu'(u) relu'(v)] = relu'(0) E[relu'(v)] = 0, with
relu'(0) = 0, the convention of torch's ReLU backward. So Theta(0, x') = 0 for every x',
as the finite-width tangent kernel is exactly: every tangent feature of the origin
vanishes (a weight's gradient is the backpropagated error times the layer's input, and
those inputs are x = 0 and relu(0) = 0; a bias's gradient carries the factor
sqrt(bias_var) = 0). The erf forms have no singularity (their denominators are >= 1) and
also give Theta(0, x') = 0, since erf(0) = 0.
"""

from __future__ import annotations

import math

import torch

from pathkernel.validation import finite_number, integer

ACTIVATIONS = ("relu", "erf")


def _relu_expectations(s11: torch.Tensor, s12: torch.Tensor, s22: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """E[relu(u) relu(v)] and E[1{u>0} 1{v>0}] for the covariance (s11, s12, s22).

    Where s11 or s22 is 0 (an input at the origin with bias_var = 0) that unit is
    identically 0 and both expectations are exactly 0: relu(0) = 0, and 1{0 > 0} = 0 is
    relu'(0) = 0, the value torch's ReLU backward uses, so the limit matches the
    finite-width tangent kernel there (the arc-cosine formula alone would give 0/0 = NaN).
    """
    root11, root22 = torch.sqrt(s11), torch.sqrt(s22)  # product of roots: no underflow of s11 * s22
    degenerate = (s11 == 0) | (s22 == 0)
    norms = root11 * root22
    cosine = torch.where(degenerate, torch.zeros_like(s12), s12 / torch.where(degenerate, 1.0, norms))
    theta = torch.arccos(cosine.clamp(-1.0, 1.0))
    value = norms * (torch.sin(theta) + (math.pi - theta) * torch.cos(theta)) / (2 * math.pi)
    derivative = (math.pi - theta) / (2 * math.pi)
    zero = torch.zeros_like(value)
    return torch.where(degenerate, zero, value), torch.where(degenerate, zero, derivative)


def _erf_expectations(s11: torch.Tensor, s12: torch.Tensor, s22: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """E[erf(u) erf(v)] and E[erf'(u) erf'(v)] for the covariance (s11, s12, s22)."""
    scale = (1 + 2 * s11) * (1 + 2 * s22)
    value = (2 / math.pi) * torch.arcsin(2 * s12 / torch.sqrt(scale))
    return value, (4 / math.pi) / torch.sqrt(scale - 4 * s12**2)


def infinite_ntk(
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    depth: int,
    activation: str = "relu",
    weight_var: float = 1.0,
    bias_var: float = 0.0,
) -> torch.Tensor:
    """Theta^(depth)(x1_i, x2_j), the width -> infinity limit of the NTK, shape (n1, n2).

    Args:
        x1: inputs (n1, d), finite, floating; x2: inputs (n2, d), default x1.
        depth: number of Linear layers L (as in `MLP`); depth=1 is the linear kernel.
        activation: "relu" or "erf".
        weight_var, bias_var: s_w^2 > 0 and s_b^2 >= 0 of the NTK parameterization (finite).

    An input at the origin with bias_var = 0 has kernel 0 against every input (see the
    module docstring: relu'(0) = 0, as in torch).

    Raises:
        ValueError: a bad argument (named, with what was expected): NaN or inf in x1 or x2,
            a non-finite or out-of-range weight_var / bias_var, a bool where a number is
            expected; or a kernel that overflows the inputs' dtype (inputs or depth too large).
    """
    integer("depth", depth)
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r} has no closed-form NTK here; expected one of {ACTIVATIONS}")
    weight_var = finite_number("weight_var", weight_var, 0, open_low=True)
    bias_var = finite_number("bias_var", bias_var, 0)
    for name, x in (("x1", x1), ("x2", x2)):
        if x is None:
            continue
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.dtype.is_floating_point:
            raise ValueError(f"{name} must be a floating tensor of shape (n, d); got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}"
                             f"{' ' + str(x.dtype) if isinstance(x, torch.Tensor) else ''}")
        if x.shape[1] < 1:
            raise ValueError(f"{name} has shape {tuple(x.shape)}; expected d >= 1 input features")
        if not torch.isfinite(x).all():
            bad = x[~torch.isfinite(x)].flatten()[0].item()
            raise ValueError(f"{name} holds a non-finite value ({bad}); expected finite inputs")
    x2 = x1 if x2 is None else x2
    if x2.shape[1] != x1.shape[1] or x2.dtype != x1.dtype:
        raise ValueError(f"x1 {tuple(x1.shape)} {x1.dtype} and x2 {tuple(x2.shape)} {x2.dtype} must share d and dtype")
    d = x1.shape[1]
    s12 = weight_var * (x1 @ x2.T) / d + bias_var
    s11 = weight_var * x1.pow(2).sum(1) / d + bias_var
    s22 = weight_var * x2.pow(2).sum(1) / d + bias_var
    for name, s in (("x1", s11), ("x2", s22)):
        if not torch.isfinite(s).all():
            raise ValueError(f"{name} is too large: weight_var * ||x||^2 / d overflows {x1.dtype}; rescale the inputs")
    theta = s12
    expectations = _relu_expectations if activation == "relu" else _erf_expectations
    for _ in range(depth - 1):
        value, derivative = expectations(s11[:, None], s12, s22[None, :])
        diag1, _ = expectations(s11, s11, s11)
        diag2, _ = expectations(s22, s22, s22)
        s12 = weight_var * value + bias_var
        theta = theta * (weight_var * derivative) + s12
        s11, s22 = weight_var * diag1 + bias_var, weight_var * diag2 + bias_var
    if not torch.isfinite(theta).all():
        raise ValueError(f"the kernel overflows {x1.dtype} (depth={depth}, weight_var={weight_var}, "
                         f"bias_var={bias_var}, largest |x| {max(x1.abs().max().item(), x2.abs().max().item()):.3g}); "
                         f"expected inputs and depth small enough for a finite kernel: rescale or use float64")
    return theta
