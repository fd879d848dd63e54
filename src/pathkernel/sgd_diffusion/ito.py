"""The two rates of Ito's formula for a query's output along the SDE: the kernel term and the Ito term.

For dW = -grad L(W) dt + sqrt(lr) A(W) dB_t with A A^T = Sigma_B, Ito's formula applied to
w -> f(w, x) gives
    d f(W_t, x) = [-sum_i l'_i K_{W_t}(x, x_i) + (lr/2) tr(Sigma_B(W_t) grad^2_w f(W_t, x))] dt
                  + sqrt(lr) <grad_w f(W_t, x), A(W_t) dB_t>,
since <grad f(w, x), grad L(w)> = sum_i l'_i <grad f(w, x), grad f(w, x_i)> = sum_i l'_i K_w(x, x_i).
The trace is sum_j a_j^T grad^2 f a_j over the n columns a_j of A: second directional derivatives
(forward over forward mode), never the P x P Hessian.
"""

from __future__ import annotations

import torch
from torch.func import grad, jvp, vmap

from pathkernel.sgd_diffusion.covariance import Model, noise_factor, per_example_gradients
from pathkernel.validation import finite_number


def kernel_and_ito_rates(f: Model, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, queries: torch.Tensor, *,
                         lr: float, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For walkers w (walkers, P) and queries (q, d): the kernel rate sum_i l'_i K_w(x, x_i) and the Ito
    rate (lr/2) tr(Sigma_B(w) grad^2 f(w, x)), each (walkers, q); d E f(W_t, x)/dt = E[-kernel + ito]."""
    finite_number("lr", lr, 0)
    if w.ndim != 2 or queries.ndim != 2 or queries.shape[1] != x.shape[1]:
        raise ValueError(f"w {tuple(w.shape)}, queries {tuple(queries.shape)}: expected (walkers, P), (q, {x.shape[1]})")
    gradients = per_example_gradients(f, w, x, y)  # (walkers, n, P)
    factor = noise_factor(gradients, batch_size)  # (walkers, P, n)

    def output(theta: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        return f(theta, query[None]).reshape(())

    def curvature(theta: torch.Tensor, query: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
        def slope(t: torch.Tensor) -> torch.Tensor:
            return jvp(lambda s: output(s, query), (t,), (direction,))[1]
        return jvp(slope, (theta,), (direction,))[1]  # direction^T grad^2 f direction

    features = vmap(vmap(grad(output), in_dims=(None, 0)), in_dims=(0, None))(w, queries)  # (walkers, q, P)
    kernel = (features * gradients.mean(dim=1)[:, None, :]).sum(-1)
    per_column = vmap(vmap(vmap(curvature, in_dims=(None, None, 0)), in_dims=(None, 0, None)), in_dims=(0, None, 0))
    ito = 0.5 * lr * per_column(w, queries, factor.transpose(1, 2)).sum(-1)  # (walkers, q)
    return kernel, ito
