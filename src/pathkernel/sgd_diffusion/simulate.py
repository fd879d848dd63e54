"""SGD and its diffusion approximation, simulated for an ensemble of independent walkers.

SGD with learning rate lr and batches of B distinct examples drawn uniformly at every step:
    w_{k+1} = w_k - lr * mean_{i in B_k} g_i(w_k).
Its diffusion approximation (Li, Tai & E, first weak order; time t = k lr):
    dW = -grad L(W) dt + sqrt(lr) Sigma_B(W)^{1/2} dB_t,
simulated by Euler-Maruyama with step dt:
    W' = W - dt grad L(W) + sqrt(lr dt) A(W) xi,   xi ~ N(0, I_n),  A A^T = Sigma_B (`noise_factor`).
Every random draw comes from the explicit `generator` (on the CPU), so a seed fixes the ensemble.
"""

from __future__ import annotations

import torch

from pathkernel.sgd_diffusion.covariance import Model, _correction, noise_factor, per_example_gradients
from pathkernel.validation import finite_number, integer


def _walkers(w: torch.Tensor) -> torch.Tensor:
    if w.ndim != 2:
        raise ValueError(f"w has shape {tuple(w.shape)}; expected (walkers, P)")
    return w


def _generator(generator: object) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator={generator!r} must be a torch.Generator (seeded by the caller)")
    return generator


def em_step(f: Model, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *, lr: float, batch_size: int, dt: float,
            generator: torch.Generator) -> torch.Tensor:
    """One Euler-Maruyama step of every walker w (walkers, P) -> (walkers, P)."""
    finite_number("lr", lr, 0, open_low=True)
    finite_number("dt", dt, 0, open_low=True)
    _correction(x.shape[0], batch_size)
    gradients = per_example_gradients(f, _walkers(w), x, y)  # (walkers, n, P)
    xi = torch.randn(w.shape[0], x.shape[0], 1, generator=_generator(generator), dtype=w.dtype).to(w.device)
    noise = (noise_factor(gradients, batch_size) @ xi)[..., 0]
    return w - dt * gradients.mean(dim=1) + (lr * dt) ** 0.5 * noise


def euler_maruyama(f: Model, w0: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *, lr: float, batch_size: int,
                   time: float, steps: int, walkers: int, generator: torch.Generator) -> torch.Tensor:
    """`walkers` Euler-Maruyama paths of the SDE from w0 (P,) to `time` in `steps` steps: W_time (walkers, P)."""
    finite_number("time", time, 0, open_low=True)
    integer("steps", steps)
    w = w0.detach()[None].repeat(integer("walkers", walkers), 1)
    for _ in range(steps):
        w = em_step(f, w, x, y, lr=lr, batch_size=batch_size, dt=time / steps, generator=generator)
    return w


def sgd_step(f: Model, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *, lr: float, batch_size: int,
             generator: torch.Generator) -> torch.Tensor:
    """One SGD step of every walker (walkers, P), each on its own uniform batch of B distinct examples."""
    finite_number("lr", lr, 0, open_low=True)
    n = x.shape[0]
    _correction(n, batch_size)
    gradients = per_example_gradients(f, _walkers(w), x, y)  # (walkers, n, P)
    batches = torch.rand(w.shape[0], n, generator=_generator(generator)).argsort(dim=1)[:, :batch_size].to(w.device)
    chosen = gradients.gather(1, batches[..., None].expand(-1, -1, w.shape[1]))
    return w - lr * chosen.mean(dim=1)


def sgd_ensemble(f: Model, w0: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *, lr: float, batch_size: int,
                 steps: int, walkers: int, generator: torch.Generator) -> torch.Tensor:
    """`walkers` independent SGD runs of `steps` steps from w0 (P,): w_steps (walkers, P)."""
    integer("steps", steps)
    w = w0.detach()[None].repeat(integer("walkers", walkers), 1)
    for _ in range(steps):
        w = sgd_step(f, w, x, y, lr=lr, batch_size=batch_size, generator=generator)
    return w
