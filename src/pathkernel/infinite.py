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
"""

from __future__ import annotations

import math

import torch

from pathkernel.validation import integer

ACTIVATIONS = ("relu", "erf")


def _relu_expectations(s11: torch.Tensor, s12: torch.Tensor, s22: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """E[relu(u) relu(v)] and E[1{u>0} 1{v>0}] for the covariance (s11, s12, s22)."""
    norms = torch.sqrt(s11 * s22)
    theta = torch.arccos((s12 / norms).clamp(-1.0, 1.0))
    value = norms * (torch.sin(theta) + (math.pi - theta) * torch.cos(theta)) / (2 * math.pi)
    return value, (math.pi - theta) / (2 * math.pi)


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
        x1: inputs (n1, d); x2: inputs (n2, d), default x1.
        depth: number of Linear layers L (as in `MLP`); depth=1 is the linear kernel.
        activation: "relu" or "erf".
        weight_var, bias_var: s_w^2 > 0 and s_b^2 >= 0 of the NTK parameterization.
    """
    integer("depth", depth)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r} has no closed-form NTK here; expected one of {ACTIVATIONS}")
    if weight_var <= 0 or bias_var < 0:
        raise ValueError(f"weight_var={weight_var} must be > 0 and bias_var={bias_var} >= 0")
    for name, x in (("x1", x1), ("x2", x2)):
        if x is not None and (not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.dtype.is_floating_point):
            raise ValueError(f"{name} must be a floating tensor of shape (n, d); got {getattr(x, 'shape', type(x))}")
    x2 = x1 if x2 is None else x2
    if x2.shape[1] != x1.shape[1] or x2.dtype != x1.dtype:
        raise ValueError(f"x1 {tuple(x1.shape)} {x1.dtype} and x2 {tuple(x2.shape)} {x2.dtype} must share d and dtype")
    d = x1.shape[1]
    s12 = weight_var * (x1 @ x2.T) / d + bias_var
    s11 = weight_var * x1.pow(2).sum(1) / d + bias_var
    s22 = weight_var * x2.pow(2).sum(1) / d + bias_var
    theta = s12
    expectations = _relu_expectations if activation == "relu" else _erf_expectations
    for _ in range(depth - 1):
        value, derivative = expectations(s11[:, None], s12, s22[None, :])
        diag1, _ = expectations(s11, s11, s11)
        diag2, _ = expectations(s22, s22, s22)
        s12 = weight_var * value + bias_var
        theta = theta * (weight_var * derivative) + s12
        s11, s22 = weight_var * diag1 + bias_var, weight_var * diag2 + bias_var
    return theta
