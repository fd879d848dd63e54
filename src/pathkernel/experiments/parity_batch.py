"""Many parity networks at once: sequences to score them on, w* + sigma eps starts, and
training G networks of one architecture together (the chapter "Planar topology in 1D":
`parity_1d` and `parity_rates`, whose Configs these functions read: n, k_eval, eval_size,
optimizer, lr, steps)."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from torch.func import functional_call, stack_module_state, vmap

from pathkernel.data.planar1d import omega, omega_all, prefix_parity
from pathkernel.functional import flat_parameters


def evaluation_sets(config: Any, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(x, prefix parity) on Omega_{n,k'} for each k' in k_eval: enumerated or sampled."""
    sets = []
    for k in config.k_eval:
        small = math.comb(config.n, k) <= config.eval_size
        x = omega_all(config.n, k) if small else omega(config.n, k, config.eval_size, seed=10_000 + seed)
        sets.append((x, prefix_parity(x)))
    return sets


def pixel_errors(model: torch.nn.Module, sets: list[tuple[torch.Tensor, torch.Tensor]]) -> np.ndarray:
    """(K,) fraction of wrong pixels of (model(x) > 1/2) against the prefix parity on each set
    (x evaluated 512 rows at a time: the prefix network of S1 holds n windows per row)."""
    with torch.no_grad():
        return np.array([torch.cat([(model(c) > 0.5).double() != t for c, t in zip(x.split(512), y.split(512))])
                         .double().mean().item() for x, y in sets])


def perturbed(model: torch.nn.Module, sigma: float, seed: int) -> torch.nn.Module:
    """Set a parity network's parameters (`set_exact_weights`) to w* + sigma * eps, eps ~ N(0, I) seeded."""
    model.set_exact_weights()
    theta = flat_parameters(model)
    eps = torch.randn(theta.shape, generator=torch.Generator().manual_seed(seed), dtype=theta.dtype).to(theta.device)
    torch.nn.utils.vector_to_parameters(theta + sigma * eps, model.parameters())
    return model


def train_together(models: list[torch.nn.Module], x: torch.Tensor, y: torch.Tensor, config: Any) -> np.ndarray:
    """Train G networks of one architecture at once, each on its own data; returns (G, steps) losses.

    x, y: (G, N, n). The parameters are stacked (`torch.func.stack_module_state`) and the
    forward is vmapped; the summed loss separates over the networks and the optimizer
    (`config.optimizer`: "adam" or "gd", constant lr) acts elementwise, so each network
    follows the path that `pathkernel.train` gives it alone (full batch, the loss
    mean_i 1/2 ||f(x_i) - y_i||^2); tests/test_parity_1d.py checks it. The trained
    parameters are written back into `models`.
    """
    params, buffers = stack_module_state(models)
    template = copy.deepcopy(models[0]).to("meta")
    forward = vmap(lambda p, b, xs: functional_call(template, (p, b), (xs,)))
    optimizer = (torch.optim.Adam if config.optimizer == "adam" else torch.optim.SGD)(params.values(), lr=config.lr)
    losses = np.zeros((len(models), config.steps))
    for step in range(config.steps):
        optimizer.zero_grad(set_to_none=True)
        loss = 0.5 * (forward(params, buffers, x) - y).pow(2).sum(-1).mean(-1)
        loss.sum().backward()
        optimizer.step()
        losses[:, step] = loss.detach().cpu().numpy()
    with torch.no_grad():
        for g, model in enumerate(models):
            for name, p in model.named_parameters():
                p.copy_(params[name][g])
    return losses
