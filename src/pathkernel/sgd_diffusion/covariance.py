"""The mini-batch gradient covariance Sigma_B(w), exactly, from per-example gradients (torch.func).

For the mean squared error L(w) = (1/n) sum_i 1/2 (f(w, x_i) - y_i)^2 the gradient of example i is
g_i(w) = (f(w, x_i) - y_i) grad_w f(w, x_i) = n l'_i grad_w f(w, x_i), and grad L = mean_i g_i.
Over one uniformly drawn i, g_i has covariance Sigma_1 = (1/n) sum_i (g_i - grad L)(g_i - grad L)^T;
the mean of a batch of B distinct examples drawn uniformly has covariance
Sigma_B = ((n - B) / (n - 1)) Sigma_1 / B (sampling without replacement from a finite population).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import grad, vmap

from pathkernel.validation import integer

#: f(w, x) -> (m,) for flat parameters w (P,) and inputs x (m, d): a scalar-output model
Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> None:
    if w.ndim not in (1, 2):
        raise ValueError(f"w has shape {tuple(w.shape)}; expected (P,) or (walkers, P)")
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)}: expected x (n, d) and y (n,)")


def per_example_gradients(f: Model, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """g_i(w) = (f(w, x_i) - y_i) grad_w f(w, x_i) for every example: (n, P) for w (P,), or
    (walkers, n, P) for a batch of parameter vectors w (walkers, P)."""
    _check(w, x, y)

    def loss(theta: torch.Tensor, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        return 0.5 * (f(theta, xi[None]).reshape(()) - yi) ** 2

    per_example = vmap(grad(loss), in_dims=(None, 0, 0))
    return per_example(w, x, y) if w.ndim == 1 else vmap(per_example, in_dims=(0, None, None))(w, x, y)


def _correction(n: int, batch_size: int) -> float:
    """(n - B) / ((n - 1) B): Sigma_B = this * Sigma_1."""
    integer("n", n, 2)
    integer("batch_size", batch_size, 1, n)
    return (n - batch_size) / ((n - 1) * batch_size)


def batch_covariance(gradients: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Sigma_B from per-example gradients (..., n, P): ((n - B)/(n - 1)) Sigma_1 / B, shape (..., P, P)."""
    centred = gradients - gradients.mean(dim=-2, keepdim=True)
    n = gradients.shape[-2]
    return _correction(n, batch_size) * centred.transpose(-1, -2) @ centred / n


def noise_factor(gradients: torch.Tensor, batch_size: int) -> torch.Tensor:
    """A factor of Sigma_B: A (..., P, n) with A A^T = Sigma_B, A = sqrt((n - B)/((n - 1) B n)) (G - mean G)^T.

    A xi with xi ~ N(0, I_n) has the law of Sigma_B^{1/2} xi' with xi' ~ N(0, I_P) (both Gaussian with
    covariance Sigma_B), so the SDE driven by A dB_t (n Brownian motions) has the law of the SDE driven
    by Sigma_B^{1/2} dB_t (Ito's generator sees only A A^T), without a P x P square root.
    """
    centred = gradients - gradients.mean(dim=-2, keepdim=True)
    n = gradients.shape[-2]
    return (_correction(n, batch_size) / n) ** 0.5 * centred.transpose(-1, -2)
