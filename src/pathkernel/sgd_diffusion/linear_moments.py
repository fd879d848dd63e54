"""Exact first and second moments of SGD, of its SDE and of gradient flow for linear regression.

Model f(w, x) = <w, x>, loss L(w) = (1/2n) sum_i (<w, x_i> - y_i)^2 = 1/2 w^T H w - b^T w + c0 with
H = X^T X / n, b = X^T y / n. Example i's gradient g_i(w) = x_i (<x_i, w> - y_i) is affine in w, so:

* SGD (a fresh uniform batch S of B distinct examples per step): w' = A_S w + c_S with
  A_S = I - lr H_S, c_S = lr b_S independent of w, hence m' = E_S[A_S m + c_S] and
  M' = E_S[A_S M A_S^T + A_S m c_S^T + c_S m^T A_S^T + c_S c_S^T] for m = E w, M = E w w^T,
  the expectation an exact average over all C(n, B) batches (`sgd_moments`).
* The SDE dW = -(H W - b) dt + sqrt(lr) Sigma_B(W)^{1/2} dB_t: with D_i = x_i x_i^T - H and
  e_i = x_i y_i - b, g_i - grad L = D_i w - e_i, so Ito's formula gives the closed linear system
  dm/dt = -H m + b, dM/dt = -H M - M H + b m^T + m b^T + lr E Sigma_B(W),
  E Sigma_B(W) = (n - B)/((n - 1) B n) sum_i (D_i M D_i - D_i m e_i^T - e_i m^T D_i + e_i e_i^T),
  solved by one matrix exponential (`sde_moments`); without the lr term it is gradient flow
  (`flow_moments`, M = m m^T).
"""

from __future__ import annotations

import itertools
import math

import torch

from pathkernel.sgd_diffusion.covariance import _correction
from pathkernel.validation import finite_number, integer

#: the most batches `sgd_moments` averages over
MAX_SUBSETS = 100_000


def _data(x: torch.Tensor, y: torch.Tensor, w0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if x.ndim != 2 or y.shape != (x.shape[0],) or w0.shape != (x.shape[1],):
        raise ValueError(f"x {tuple(x.shape)}, y {tuple(y.shape)}, w0 {tuple(w0.shape)}: expected (n, P), (n,), (P,)")
    return x.T @ x / x.shape[0], x.T @ y / x.shape[0]


def sgd_moments(x: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, *, lr: float, batch_size: int,
                steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """E w_steps (P,) and E w_steps w_steps^T (P, P) of SGD from w0, exactly (an average over every batch)."""
    finite_number("lr", lr, 0, open_low=True)
    integer("steps", steps, 0)
    _data(x, y, w0)
    n = x.shape[0]
    _correction(n, batch_size)
    if math.comb(n, batch_size) > MAX_SUBSETS:
        raise ValueError(f"n={n}, batch_size={batch_size}: {math.comb(n, batch_size)} batches > {MAX_SUBSETS}")
    subsets = torch.tensor(list(itertools.combinations(range(n), batch_size)), device=x.device)
    xs, ys = x[subsets], y[subsets]  # (S, B, P), (S, B)
    a = torch.eye(x.shape[1], dtype=x.dtype, device=x.device) - lr * xs.transpose(1, 2) @ xs / batch_size
    c = lr * (xs.transpose(1, 2) @ ys[..., None])[..., 0] / batch_size  # (S, P)
    m, second = w0.clone(), torch.outer(w0, w0)
    for _ in range(steps):
        am = a @ m
        cross = am[:, :, None] * c[:, None, :]
        second = (a @ second @ a.transpose(1, 2) + cross + cross.transpose(1, 2) + c[:, :, None] * c[:, None, :]).mean(0)
        m = (am + c).mean(0)
    return m, second


def _moment_system(x: torch.Tensor, y: torch.Tensor, noise: float) -> torch.Tensor:
    """The matrix G of d z/dt = G z for z = (m, vec M, 1), (P + P^2 + 1, P + P^2 + 1); `noise` multiplies
    E Sigma_B (lr (n - B)/((n - 1) B), or 0 for gradient flow)."""
    h, b = x.T @ x / x.shape[0], x.T @ y / x.shape[0]
    p = x.shape[1]
    d = x[:, :, None] * x[:, None, :] - h  # (n, P, P)
    e = x * y[:, None] - b  # (n, P)

    def rate(z: torch.Tensor) -> torch.Tensor:
        m, second, one = z[:p], z[p:p + p * p].reshape(p, p), z[-1]
        dm = -h @ m + b * one
        de = (d @ m)[:, :, None] * e[:, None, :]
        sigma = (d @ second @ d - de - de.transpose(1, 2) + one * e[:, :, None] * e[:, None, :]).mean(0)
        bm = b[:, None] * m[None, :]
        dsecond = -h @ second - second @ h + bm + bm.T + noise * sigma
        return torch.cat([dm, dsecond.reshape(-1), torch.zeros(1, dtype=z.dtype, device=z.device)])

    basis = torch.eye(p + p * p + 1, dtype=x.dtype, device=x.device)
    return torch.stack([rate(column) for column in basis], dim=1)


def _solve(x: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, time: float, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    finite_number("time", time, 0)
    _data(x, y, w0)
    p = x.shape[1]
    z0 = torch.cat([w0, torch.outer(w0, w0).reshape(-1), torch.ones(1, dtype=x.dtype, device=x.device)])
    z = torch.linalg.matrix_exp(time * _moment_system(x, y, noise)) @ z0
    return z[:p], z[p:p + p * p].reshape(p, p)


def sde_moments(x: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, *, lr: float, batch_size: int,
                time: float) -> tuple[torch.Tensor, torch.Tensor]:
    """E W_time (P,) and E W_time W_time^T (P, P) of the SDE from w0, exactly (a matrix exponential)."""
    finite_number("lr", lr, 0, open_low=True)
    return _solve(x, y, w0, time, lr * _correction(x.shape[0], batch_size))


def flow_moments(x: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, *, time: float) -> tuple[torch.Tensor, torch.Tensor]:
    """w(time) (P,) of gradient flow from w0 and w w^T (P, P): the SDE without its noise."""
    return _solve(x, y, w0, time, 0.0)


def expected_loss(x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """E L(W) = 1/2 tr(H E[W W^T]) - b^T E W + mean(y^2)/2 from the first two moments."""
    h, b = x.T @ x / x.shape[0], x.T @ y / x.shape[0]
    return 0.5 * (h * second).sum() - b @ mean + 0.5 * (y ** 2).mean()
