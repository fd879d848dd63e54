"""The underdamped (momentum) diffusion and the curvature term of its Domingos theorem.

    dW = V dt,   dV = -gamma V dt - grad L(W) dt + sqrt(lr) Sigma_B(W)^{1/2} dB_t,   V_0 = 0,

simulated by Euler-Maruyama: W' = W + dt V, V' = (1 - gamma dt) V - dt grad L(W) + sqrt(lr dt) A(W) xi
(A A^T = Sigma_B, `noise_factor`). `underdamped_step` also returns the noise increment, so a caller
can split V = -D + N exactly: D' = (1 - gamma dt) D + dt grad L(W) (the filtered gradients, whose
pairing with grad f(W, x) is the memory-weighted kernel term) and N' = (1 - gamma dt) N + noise.
"""

from __future__ import annotations

import torch
from torch.func import jvp, vmap

from pathkernel.sgd_diffusion.covariance import Model, _correction, noise_factor, per_example_gradients
from pathkernel.validation import finite_number


def underdamped_step(f: Model, w: torch.Tensor, v: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *, lr: float,
                     batch_size: int, gamma: float, dt: float,
                     generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One Euler-Maruyama step of every walker (w, v each (walkers, P)): (w', v', grad L(w), noise), the
    last two (walkers, P) with v' = (1 - gamma dt) v - dt grad L(w) + noise."""
    finite_number("lr", lr, 0)
    finite_number("gamma", gamma, 0)
    finite_number("dt", dt, 0, open_low=True)
    _correction(x.shape[0], batch_size)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator={generator!r} must be a torch.Generator (seeded by the caller)")
    if w.ndim != 2 or v.shape != w.shape:
        raise ValueError(f"w {tuple(w.shape)} and v {tuple(v.shape)}: expected both (walkers, P)")
    gradients = per_example_gradients(f, w, x, y)
    xi = torch.randn(w.shape[0], x.shape[0], 1, generator=generator, dtype=w.dtype).to(w.device)
    noise = (lr * dt) ** 0.5 * (noise_factor(gradients, batch_size) @ xi)[..., 0]
    grad_l = gradients.mean(dim=1)
    return w + dt * v, (1 - gamma * dt) * v - dt * grad_l + noise, grad_l, noise


def mixed_curvature(f: Model, w: torch.Tensor, queries: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """u^T grad^2_w f(w, x) v for walkers w, u, v (walkers, P) and queries (q, d): (walkers, q), by forward
    over forward mode (never the Hessian)."""

    def one(theta: torch.Tensor, query: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        def slope(t: torch.Tensor) -> torch.Tensor:
            return jvp(lambda s: f(s, query[None]).reshape(()), (t,), (a,))[1]
        return jvp(slope, (theta,), (b,))[1]

    return vmap(vmap(one, in_dims=(None, 0, None, None)), in_dims=(0, None, 0, 0))(w, queries, u, v)
