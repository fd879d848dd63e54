"""Real training against what its kernels cannot reach (chapter "What a kernel machine cannot learn").

A GELU MLP is trained by full-batch gradient descent on the mean squared error, on each task of
`tasks.task` (a sine, a square wave, a high-frequency sine, and the sine trained on x < 0 only),
from the same initialization. At checkpoints along training it records the test error
||f(w_t) - y||^2_mu on the grid S and, for each kernel of training, the energy of y - f_0 outside
H_X = span{K(., x_i)} (`pathkernel.unreachable_energy`): the tangent kernel at w_0, at w_t, and
the path kernel sum_{k < t} lr_k K_{w_k} (Domingos' first-order form, symmetric positive
semi-definite; the tangent kernel evaluated at every kernel_stride-th step and held over its block,
as ``pathkernel.domingos(..., stride=kernel_stride)`` does). For a fixed kernel the test error cannot go below that energy (`theorem`); the
network's kernels move, and the study measures how far the relation still holds. At the end, the
same energy for the exact form's segment-averaged path kernel (`pathkernel.domingos(exact=True,
per_sample=True)`, whose columns K̄(., x_i) span the directions its kernel part can move f in),
and the spectra: the energy of y - f_0 outside the k leading eigenspaces of each kernel's operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.decomposition import domingos
from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.null_space.tasks import check_rate, task
from pathkernel.functional import flat_function
from pathkernel.kernels import integral_operator, tangent_kernel, unreachable_energy
from pathkernel.models import MLP
from pathkernel.training import train

#: the kernels compared along training, in the order of `Result.unreachable`'s last axis
KERNELS = ("initial", "current", "path")


@dataclass(frozen=True)
class Config(Presets):
    """m: grid points of [-1, 1]; train_every: training inputs are every train_every-th grid point
    (x < 0 only for "sine-ood"); a GELU MLP (width, depth) trained by gradient descent (lr, steps);
    checkpoints: the steps where the kernels are measured."""

    scale: str
    m: int
    width: int
    steps: int
    checkpoints: tuple[int, ...]
    tasks: tuple[str, ...] = ("sine", "square", "high", "sine-ood")
    exact_tasks: tuple[str, ...] = ("square",)
    kernel_stride: int = 4
    train_every: int = 4
    depth: int = 3
    lr: float = 0.5

    sources: ClassVar[dict[str, str]] = {
        "m": "ours: Guo et al. state the null-space remark without an experiment",
        "width": "ours: small enough for 90 s, wide enough to fit the sine",
        "steps": "ours: the sine is fitted, the square wave not yet",
        "checkpoints": "ours: log-spaced over training",
        "tasks": "ours: a target in the leading eigenspaces, one spread over all, one beyond them, one out of range",
        "exact_tasks": "ours: the exact decomposition costs most, and the chapter reads it for the square wave only",
        "kernel_stride": "ours: the path kernel's quadrature over snapshots, a tenth of the cost",
        "train_every": "ours: a quarter of the grid as training inputs",
        "depth": "ours: the book's three-layer MLP",
        "lr": "ours: the theorem study's rate",
    }

    def __post_init__(self) -> None:
        if not set(self.exact_tasks) <= set(self.tasks):
            raise ValueError(f"exact_tasks={self.exact_tasks} must be among tasks={self.tasks}")
        if not self.checkpoints or list(self.checkpoints) != sorted(set(self.checkpoints)) \
                or self.checkpoints[0] < 1 or self.checkpoints[-1] != self.steps:
            raise ValueError(f"checkpoints={self.checkpoints} must increase from >= 1 to steps={self.steps}")
        if any(step % self.kernel_stride for step in self.checkpoints):
            raise ValueError(f"checkpoints={self.checkpoints} must be multiples of kernel_stride={self.kernel_stride}")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", m=64, width=64, steps=400, checkpoints=(4, 12, 24, 48, 100, 200, 400))

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", m=400, width=256, steps=4000,
                   checkpoints=(10, 30, 100, 300, 1000, 2000, 4000), kernel_stride=10, lr=0.125)


@dataclass
class Result:
    """Per task (T = len(config.tasks)) and checkpoint (C): test_error (T, C) on the grid,
    train_error (T, C) on the training inputs, unreachable (T, C, 3) the energy of y - f_0 outside
    span{K(., x_i)} for the kernels of `KERNELS`; exact_unreachable (T,) the same for the exact
    segment-averaged path kernel at the end, exact_residual (T,) the exact decomposition's largest
    |residual| on the grid (both NaN for a task not in config.exact_tasks); energy (T,) ||y - f_0||^2_mu; outside (T, 3, m + 1) the energy of y - f_0
    outside the k leading eigenspaces of each kernel's operator on the grid at the end; n_train (T,)."""

    config: Config
    test_error: np.ndarray
    train_error: np.ndarray
    unreachable: np.ndarray
    exact_unreachable: np.ndarray
    exact_residual: np.ndarray
    energy: np.ndarray
    outside: np.ndarray
    n_train: np.ndarray


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    device = check_device(device)
    rows = [one_task(config, name, seed, device) for name in config.tasks]
    return Result(config=config, **{key: np.stack([row[key] for row in rows]) for key in rows[0]})


def one_task(config: Config, name: str, seed: int, device: torch.device) -> dict[str, np.ndarray]:
    """The arrays of `Result` for task `name` (without the task axis)."""
    sample, target, indices = task(name, config.m, config.train_every)
    sample, target, indices = sample.to(device), target.to(device), indices.to(device)
    model = MLP(1, config.width, config.depth, activation="gelu", seed=seed, dtype=torch.float64).to(device)
    initial_kernel = tangent_kernel(model, sample)
    check_rate(config.lr, initial_kernel)
    with torch.no_grad():
        todo = target - model(sample)[:, 0]
    path = train(model, sample[indices], target[indices, None], lr=config.lr, steps=config.steps)
    network = flat_function(model)
    path_kernel, test, fit, unreachable = torch.zeros_like(initial_kernel), [], [], []
    stride = config.kernel_stride
    for k in range(0, config.steps, stride):
        path_kernel += path.lrs[k:k + stride].sum() * tangent_kernel(model, sample, params=path.params[k])
        if k + stride in config.checkpoints:
            current = tangent_kernel(model, sample, params=path.params[k + stride])
            with torch.no_grad():
                prediction = network(path.params[k + stride], sample)[:, 0]
            test.append(float(((prediction - target) ** 2).mean()))
            fit.append(float(((prediction - target)[indices] ** 2).mean()))
            unreachable.append([unreachable_energy(kernel[:, indices], todo) for kernel in (initial_kernel, current, path_kernel)])
    exact_unreachable = exact_residual = float("nan")
    if name in config.exact_tasks:
        exact = domingos(path, sample, exact=True, per_sample=True)
        exact_unreachable = unreachable_energy(exact.path_kernel, todo)
        exact_residual = float(exact.residual.abs().max())
    outside = [integral_operator(kernel).energy_outside(todo) for kernel in (initial_kernel, current, path_kernel)]
    return {"test_error": np.asarray(test), "train_error": np.asarray(fit), "unreachable": np.asarray(unreachable),
            "exact_unreachable": np.asarray(exact_unreachable), "exact_residual": np.asarray(exact_residual),
            "energy": np.asarray(float((todo ** 2).mean())),
            "outside": torch.stack(outside).cpu().numpy(), "n_train": np.asarray(len(indices))}


def numbers(result: Result) -> dict[str, str | int]:
    """The chapter's numbers per task: final test error, the energies a kernel cannot reach at the
    end (initial, current, path, exact path kernel), the smallest ratio of test error to the path
    kernel's unreachable energy over the checkpoints, and the checkpoints where the error fell below
    it; the exact decomposition's largest residual over all tasks."""
    values: dict[str, str | int] = {"nullspace-train-steps": result.config.steps,
                                    "nullspace-train-width": result.config.width,
                                    "nullspace-kernel-stride": result.config.kernel_stride,
                                    "nullspace-exact-residual": f"{np.nanmax(result.exact_residual):.0e}"}
    for t, name in enumerate(result.config.tasks):
        path = result.unreachable[t, :, KERNELS.index("path")]
        values.update({
            f"nullspace-{name}-n": int(result.n_train[t]),
            f"nullspace-{name}-energy": f"{result.energy[t]:.3f}",
            f"nullspace-{name}-test": f"{result.test_error[t, -1]:.2e}",
            f"nullspace-{name}-initial": f"{result.unreachable[t, -1, 0]:.2e}",
            f"nullspace-{name}-current": f"{result.unreachable[t, -1, 1]:.2e}",
            f"nullspace-{name}-path": f"{path[-1]:.2e}",
            **({f"nullspace-{name}-exact": f"{result.exact_unreachable[t]:.2e}"} if name in result.config.exact_tasks else {}),
            f"nullspace-{name}-ratio": f"{(result.test_error[t] / path).min():.2g}",
            f"nullspace-{name}-below": int((result.test_error[t] < path).sum()),
        })
    return values
