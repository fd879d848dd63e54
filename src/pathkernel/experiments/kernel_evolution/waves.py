"""Chapter "How the kernel evolves", two regressions (Guo, He & Morel, Fig. 2a-d).

A GELU MLP trained by full-batch Adam on the mean squared error to sin x and to the square wave
sign(sin x) on equally spaced points of [-pi, pi] (`pathkernel.data.waves`): its predictions,
and the normalized tangent kernel Kn_w(x_i, x_j) on the training points, at initialization and
after training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.data.waves import WAVES, wave, waves
from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.kernel_evolution.common import fit
from pathkernel.functional import flat_function
from pathkernel.kernels import tangent_kernel


@dataclass(frozen=True)
class Config(Presets):
    """Sizes: n equally spaced training points, `steps` of Adam at `lr`, predictions on `grid`
    points. Network: `pk.MLP(1, width, depth, activation)`."""

    scale: str
    n: int
    steps: int
    width: int
    lr: float = 0.01
    grid: int = 200
    depth: int = 3
    activation: str = "gelu"

    sources: ClassVar[dict[str, str]] = {
        "n": "ours: Guo et al. give no number of training points in our copy",
        "steps": "Guo et al. Fig. 2: 'at the final iteration (1000 steps)'",
        "width": "ours: Guo et al.'s architecture is not in our copy",
        "lr": "ours: Adam's step, not in Guo et al.",
        "grid": "ours: points of the prediction curves",
        "depth": "ours: the 3-layer network of the chapter's other planar studies (Guo et al.'s is not in our copy)",
        "activation": "ours: GELU, as in the chapter's other studies (Guo et al.'s is not in our copy)",
    }

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=40, steps=600, width=48)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=100, steps=1000, width=128)


@dataclass
class Result:
    """Index 0: sin x, 1: the square wave (`pathkernel.data.waves.WAVES`).

    x (n,), y (2, n) the targets; grid (G,), truth (2, G); prediction (2, 2, G) at
    [initialization, trained]; kernel (2, 2, n, n) normalized kernel on the training points at
    [initialization, trained]; rmse (2,) on the grid after training.
    """

    config: Config
    x: np.ndarray
    y: np.ndarray
    grid: np.ndarray
    truth: np.ndarray
    prediction: np.ndarray
    kernel: np.ndarray
    rmse: np.ndarray


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers, by glue name: the RMSE of the trained network on the grid, for
    sin x and for the square wave."""
    return {"kernelevolution-rmse-sine": f"{result.rmse[0]:.3f}",
            "kernelevolution-rmse-square": f"{result.rmse[1]:.3f}"}


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Train on both targets (network seed `seed`). Data on the CPU; networks and kernels
    computed on `device`."""
    device = check_device(device)
    x, _ = waves("sine", config.n)
    grid, _ = waves("sine", config.grid)
    x_device, grid_device = x.to(device), grid.to(device)
    targets, truth, predictions, kernels, rmse = [], [], [], [], []
    for kind in WAVES:
        y, on_grid = wave(kind, x[:, 0]), wave(kind, grid[:, 0]).numpy()
        path = fit(x_device, y.to(device), config, steps=config.steps, lr=config.lr, seed=seed)
        f = flat_function(path.model)
        ends = (path.params[0].to(device), path.params[-1].to(device))
        with torch.no_grad():
            prediction = np.stack([f(theta, grid_device)[:, 0].cpu().numpy() for theta in ends])
        kernels.append(np.stack([tangent_kernel(path.model, x_device, normalized=True, params=theta).cpu().numpy()
                                 for theta in ends]))
        targets.append(y.numpy())
        truth.append(on_grid)
        predictions.append(prediction)
        rmse.append(float(np.sqrt(np.mean((prediction[1] - on_grid) ** 2))))
    return Result(config=config, x=x[:, 0].numpy(), y=np.stack(targets), grid=grid[:, 0].numpy(),
                  truth=np.stack(truth), prediction=np.stack(predictions), kernel=np.stack(kernels),
                  rmse=np.array(rmse))
