"""The theorem of the chapter "What a kernel machine cannot learn", checked on a fixed kernel.

The linearized network f_lin(w, x) = f(w_0, x) + <grad f(w_0, x), w - w_0> (`Linearized`) has
the fixed tangent kernel K = K_{w_0}. Trained by gradient descent on the mean squared error
over training inputs X inside the grid S, its change is a kernel expansion over X, so its test
error on S is at least the energy of y - f_0 outside H_X = span{K(., x_i)}
(`pathkernel.unreachable_energy`), which is at least the energy in the null space of K's
operator. With X = S the error is the spectral formula
sum_j (1 - lr lambda_j)^(2k) <y - f_0, phi_j>^2, decreasing to the null-space energy: after k
steps the eigenspaces with 2 lr k lambda_j >= 1 are learned, the rest not yet (`learned`), and the
error follows the energy of y - f_0 outside the learned ones. (The tangent kernel of a smooth
network has no exact null space, only eigenvalues that fall below round-off; the limit itself is
tested on a polynomial kernel of finite rank in tests/test_kernel_operator.py.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.null_space.tasks import check_rate, task
from pathkernel.kernels import integral_operator, tangent_features, tangent_kernel, unreachable_energy
from pathkernel.linearized import Linearized
from pathkernel.models import MLP
from pathkernel.training import train


@dataclass(frozen=True)
class Config(Presets):
    """m: grid points of [-1, 1]; train_every: the training inputs X are every train_every-th grid
    point; the linearized GELU MLP (width, depth) is trained by gradient descent (lr, steps) on
    the square wave, once on X and once on all of S."""

    scale: str
    m: int
    width: int
    steps: int
    train_every: int = 4
    depth: int = 3
    lr: float = 0.5
    target: str = "square"

    sources: ClassVar[dict[str, str]] = {
        "m": "ours: Guo et al. state the null-space remark without an experiment",
        "width": "ours: wide enough for a smooth kernel, small enough for 90 s",
        "steps": "ours: long enough for the modes above lambda ~ 1/(lr steps) to be learned",
        "train_every": "ours: a quarter of the grid as training inputs",
        "depth": "ours: the book's three-layer MLP",
        "lr": "ours: below 2 / lambda_1, so gradient descent converges; lambda_1 grows like the width, so the rate "
              "shrinks like 1 / width (0.5 at width 64, 0.125 at 256)",
        "target": "ours: a square wave has energy in every eigenspace",
    }

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", m=96, width=64, steps=400)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", m=400, width=256, steps=4000, lr=0.125)


@dataclass
class Result:
    """Test errors ||f_k - y||^2_mu on the grid at every step k (steps + 1,), trained on X
    (errors_subset) and on all of S (errors_full); bound = the energy of y - f_0 outside H_X;
    learned: (steps + 1,) the number of eigenspaces with 2 lr k lambda_j >= 1 at step k, and
    outside_learned the energy of y - f_0 outside them (steps + 1,); formula_full: the spectral formula for the run on S, formula_gap its largest relative gap to
    errors_full; eigenvalues: K's operator on S (m,); energy_outside: of y - f_0, (m + 1,)."""

    config: Config
    errors_subset: np.ndarray
    errors_full: np.ndarray
    bound: float
    learned: np.ndarray
    outside_learned: np.ndarray
    formula_full: np.ndarray
    formula_gap: float
    eigenvalues: np.ndarray
    energy_outside: np.ndarray
    n_train: int


def errors_along(model: Linearized, features: torch.Tensor, initial: torch.Tensor, target: torch.Tensor,
                 params: torch.Tensor) -> torch.Tensor:
    """||f_lin(w_k, S) - y||^2_mu for every row w_k of params (steps + 1, P): one product with the
    Jacobian on S, features (m, P)."""
    predictions = initial[None, :] + (params - model.w0[None, :]) @ features.T
    return ((predictions - target[None, :]) ** 2).mean(dim=1)


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    device = check_device(device)
    sample, target, train_idx = task(config.target, config.m, config.train_every)
    sample, target = sample.to(device), target.to(device)
    network = MLP(1, config.width, config.depth, activation="gelu", seed=seed, dtype=torch.float64).to(device)
    kernel = tangent_kernel(network, sample)
    features = tangent_features(network, sample)
    with torch.no_grad():
        initial = network(sample)[:, 0]
    todo = target - initial
    check_rate(config.lr, kernel)
    errors = {}
    for name, indices in (("subset", train_idx.to(device)), ("full", torch.arange(config.m, device=device))):
        model = Linearized(network).cache(sample[indices])
        path = train(model, sample[indices], target[indices, None], lr=config.lr, steps=config.steps)
        errors[name] = errors_along(model, features, initial, target, path.params)
    spectrum = integral_operator(kernel)
    c2 = spectrum.coefficients(todo) ** 2
    k = torch.arange(config.steps + 1, dtype=torch.float64, device=device)[:, None]
    formula = ((1 - config.lr * spectrum.eigenvalues[None, :]) ** (2 * k) * c2[None, :]).sum(dim=1)
    gap = ((errors["full"] - formula).abs() / formula.abs()).max()
    learned = (2 * config.lr * k * spectrum.eigenvalues[None, :] >= 1).sum(dim=1)
    outside = spectrum.energy_outside(todo)
    return Result(config=config, errors_subset=errors["subset"].cpu().numpy(), errors_full=errors["full"].cpu().numpy(),
                  bound=unreachable_energy(kernel[:, train_idx.to(device)], todo), learned=learned.cpu().numpy(),
                  outside_learned=outside[learned].cpu().numpy(), formula_full=formula.cpu().numpy(), formula_gap=float(gap),
                  eigenvalues=spectrum.eigenvalues.cpu().numpy(), energy_outside=outside.cpu().numpy(),
                  n_train=len(train_idx))


def numbers(result: Result) -> dict[str, str | int]:
    """The chapter's numbers for the theorem: sizes, the smallest margin of the error over the bound
    (relative), the final errors against the bound, the spectral formula's gap, the eigenspaces
    learned by the last step and the energy outside them."""
    margin = (result.errors_subset - result.bound).min() / result.bound
    return {
        "nullspace-scale": result.config.scale,
        "nullspace-m": result.config.m,
        "nullspace-n": result.n_train,
        "nullspace-steps": result.config.steps,
        "nullspace-width": result.config.width,
        "nullspace-lr": f"{result.config.lr:g}",
        "nullspace-bound": f"{result.bound:.3f}",
        "nullspace-subset-final": f"{result.errors_subset[-1]:.3f}",
        "nullspace-margin": f"{margin:.1e}",
        "nullspace-full-final": f"{result.errors_full[-1]:.2e}",
        "nullspace-learned": int(result.learned[-1]),
        "nullspace-outside-learned": f"{result.outside_learned[-1]:.3f}",
        "nullspace-energy": f"{result.energy_outside[0]:.3f}",
        "nullspace-formula-gap": f"{result.formula_gap:.0e}",
    }
