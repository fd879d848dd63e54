"""The integral operator of a kernel on a sample, its spectrum, and what it cannot reach.

A kernel K and a sample z_1..z_m of the input distribution mu with quadrature weights
w_l (w_l = 1/m for an i.i.d. sample or a uniform grid) give the discretized operator

    (T g)(z_j) = sum_l w_l K(z_j, z_l) g(z_l)         on L2(mu_m), <g, h> = sum_l w_l g_l h_l,

self-adjoint when K is symmetric. With W = diag(w) and W^(1/2) K W^(1/2) = U diag(lambda) U^T
(eigenvalues in decreasing order), phi_j = W^(-1/2) u_j are T's eigenfunctions, orthonormal in
L2(mu_m), and lambda_j its eigenvalues (`Spectrum`).

A model whose change is a kernel expansion over training inputs x_1..x_n, f - f_0 in
H_X = span{K(., x_i)}, cannot learn what lies outside H_X: its error against a target y is at
least ||(I - Pi_X)(y - f_0)||^2, Pi_X the L2(mu_m) orthogonal projection onto H_X
(`unreachable_energy`, a weighted least-squares residual). When the x_i are sample points,
K(., x_i) = T(e_i / w_i) lies in the range of T, so H_X is inside range(T) and that energy is at
least the energy of y - f_0 in T's null space (`Spectrum.energy_outside` at the rank of T).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: relative size below which an eigenvalue counts as zero (the kernel's rank), times m
RANK_RTOL = 1e-10


@dataclass(frozen=True)
class Spectrum:
    """The eigen-decomposition of the operator T of a kernel on a weighted sample (module docstring).

    Attributes:
        eigenvalues: (m,) lambda_1 >= ... >= lambda_m of T.
        eigenfunctions: (m, m); column j is phi_j on the sample, orthonormal in L2(mu_m).
        weights: (m,) the quadrature weights w_l (positive, summing to 1).
    """

    eigenvalues: torch.Tensor
    eigenfunctions: torch.Tensor
    weights: torch.Tensor

    @property
    def rank(self) -> int:
        """The number of eigenvalues above ``RANK_RTOL * m * lambda_1`` (T's numerical rank)."""
        top = self.eigenvalues[0].clamp(min=0)
        return int((self.eigenvalues > RANK_RTOL * len(self.eigenvalues) * top).sum())

    def coefficients(self, g: torch.Tensor) -> torch.Tensor:
        """<g, phi_j> in L2(mu_m) for every j: g (m,) or (m, c) -> (m,) or (m, c)."""
        g = _on_sample(g, len(self.weights), "g").to(self.weights.dtype)
        weighted = g * (self.weights if g.dim() == 1 else self.weights[:, None])
        return self.eigenfunctions.T @ weighted

    def energy_outside(self, g: torch.Tensor) -> torch.Tensor:
        """(m + 1,): entry k is ||g - sum_{j <= k} <g, phi_j> phi_j||^2_mu, the energy of g outside T's
        k leading eigenspaces (entry 0: ||g||^2_mu; entry m: 0 up to round-off; entry `rank`: the
        energy in T's null space). For (m, c) targets, summed over the c outputs."""
        energy = self.coefficients(g) ** 2
        if energy.dim() == 2:
            energy = energy.sum(dim=1)
        tail = torch.flip(torch.cumsum(torch.flip(energy, [0]), 0), [0])
        return torch.cat([tail, tail.new_zeros(1)])

    def null_energy(self, g: torch.Tensor) -> float:
        """The energy of g in T's null space: ``energy_outside(g)[rank]``."""
        return float(self.energy_outside(g)[self.rank])


def _on_sample(g: torch.Tensor, m: int, name: str) -> torch.Tensor:
    if not isinstance(g, torch.Tensor) or g.dim() not in (1, 2) or g.shape[0] != m:
        shape = tuple(g.shape) if isinstance(g, torch.Tensor) else type(g).__name__
        raise ValueError(f"{name} has shape {shape}; expected ({m},) or ({m}, c), its values on the sample")
    if not torch.isfinite(g).all():
        raise ValueError(f"{name} has NaN or inf values")
    return g


def _weights(weights: torch.Tensor | None, m: int, like: torch.Tensor) -> torch.Tensor:
    if weights is None:
        return torch.full((m,), 1.0 / m, dtype=like.dtype, device=like.device)
    weights = torch.as_tensor(weights, dtype=like.dtype, device=like.device)
    if weights.shape != (m,) or not torch.isfinite(weights).all() or (weights <= 0).any():
        raise ValueError(f"weights must be ({m},) positive and finite, one per sample point; got shape "
                         f"{tuple(weights.shape)}")
    if abs(float(weights.sum()) - 1.0) > 1e-9:
        raise ValueError(f"weights sum to {float(weights.sum())!r}; expected 1 (a probability measure)")
    return weights


def integral_operator(kernel: torch.Tensor, weights: torch.Tensor | None = None, *,
                      symmetric_tol: float = 1e-10) -> Spectrum:
    """The spectrum of (T g)(z_j) = sum_l w_l K(z_j, z_l) g(z_l) for a kernel matrix on a sample.

    Args:
        kernel: (m, m) K(z_j, z_l), symmetric (a tangent kernel, Domingos' path kernel). A kernel
            whose asymmetry ||K - K^T||_F / ||K||_F exceeds `symmetric_tol` is refused: pass its
            symmetric part (K + K^T) / 2 knowingly (the segment-averaged kernel is not symmetric).
        weights: (m,) quadrature weights, positive, summing to 1; default 1/m.
    Returns:
        `Spectrum`, eigenvalues in decreasing order.
    """
    if not isinstance(kernel, torch.Tensor) or kernel.dim() != 2 or kernel.shape[0] != kernel.shape[1]:
        shape = tuple(kernel.shape) if isinstance(kernel, torch.Tensor) else type(kernel).__name__
        raise ValueError(f"kernel has shape {shape}; expected (m, m), the kernel on the sample")
    if not torch.isfinite(kernel).all():
        raise ValueError("kernel has NaN or inf entries")
    asymmetry = float((kernel - kernel.T).norm() / kernel.norm().clamp(min=torch.finfo(kernel.dtype).tiny))
    if asymmetry > symmetric_tol:
        raise ValueError(f"kernel is not symmetric (relative asymmetry {asymmetry:.2e} > symmetric_tol="
                         f"{symmetric_tol:g}); pass (K + K.T) / 2 to study its symmetric part")
    w = _weights(weights, kernel.shape[0], kernel)
    root = w.sqrt()
    values, vectors = torch.linalg.eigh(root[:, None] * (kernel + kernel.T) / 2 * root[None, :])
    order = torch.argsort(values, descending=True)
    return Spectrum(eigenvalues=values[order], eigenfunctions=vectors[:, order] / root[:, None], weights=w)


def unreachable_energy(features: torch.Tensor, g: torch.Tensor, weights: torch.Tensor | None = None) -> float:
    """||(I - Pi) g||^2_mu: the energy of g outside the span of the columns of `features`.

    Args:
        features: (m, n) the functions spanning the reachable set on the sample, e.g. K(z_j, x_i)
            for the training inputs x_i (H_X of the module docstring).
        g: (m,) or (m, c) a function on the sample (y - f_0: the part of the target still to learn).
        weights: (m,) quadrature weights of mu_m (default 1/m).
    Returns:
        min over h in span of ||g - h||^2_mu (summed over outputs), by weighted least squares.
    """
    if not isinstance(features, torch.Tensor) or features.dim() != 2:
        raise ValueError(f"features must be an (m, n) tensor; got {getattr(features, 'shape', type(features).__name__)}")
    m = features.shape[0]
    g = _on_sample(g, m, "g").to(features.dtype)
    w = _weights(weights, m, features)
    root = w.sqrt()
    column = g if g.dim() == 2 else g[:, None]
    a, b = root[:, None] * features, root[:, None] * column
    coefficients = torch.linalg.lstsq(a.cpu(), b.cpu(), driver="gelsd").solution.to(b.device)
    return float(((b - a @ coefficients) ** 2).sum())
