"""Chapter "Domingos' theorem, discrete and exact", study "theorem": the remainder of Theorem 2 against lr.

The ball/sphere data set, a GELU MLP and full-batch gradient descent run to the same
time t = lr * steps for several learning rates, all from the same theta_0: the paths
approach one gradient flow as lr -> 0. For each lr the largest |residual| of Theorem 2
over query points is recorded, with and without the exact segment-averaged kernel.
(Old name: ``pathkernel.experiments.discrete_theorem``, an alias of this module.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pathkernel.data import ball_sphere
from pathkernel.decomposition import domingos
from pathkernel.experiments import Presets, check_device
from pathkernel.models import MLP
from pathkernel.training import train


@dataclass(frozen=True)
class Config(Presets):
    """Sizes of the experiment (the paper gives none for this check: ours are stated here)."""

    scale: str
    n: int
    width: int
    time: float
    lrs: tuple[float, ...]
    n_query: int
    depth: int = 3
    activation: str = "gelu"
    fit_max_lr: float = 0.1
    query_radius: float = 1.5
    nodes: int = 3

    def __post_init__(self) -> None:
        if sum(lr <= self.fit_max_lr for lr in self.lrs) < 2:
            raise ValueError(f"lrs={self.lrs} need two values <= fit_max_lr={self.fit_max_lr} to fit a slope")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=64, width=64, time=40.0, lrs=(0.4, 0.2, 0.1, 0.05, 0.025), n_query=200)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=400, width=200, time=40.0,
                   lrs=(0.4, 0.2, 0.1, 0.05, 0.025, 0.0125, 0.00625), n_query=1000, fit_max_lr=0.05)


@dataclass
class Result:
    """Per learning rate (arrays of length len(lrs)) and the fitted order of the remainder.

    slope, intercept: least-squares fit of log residual = slope * log lr + intercept over
    the learning rates <= config.fit_max_lr. prediction_max: max_x |f(theta_T, x)|, the
    scale against which a residual is round-off.
    """

    config: Config
    lrs: np.ndarray
    steps: np.ndarray
    final_loss: np.ndarray
    residual: np.ndarray
    residual_exact: np.ndarray
    prediction_max: np.ndarray
    slope: float
    intercept: float


def query_points(n: int, radius: float, seed: int) -> torch.Tensor:
    """n points uniform in the disk of the given radius (inside and outside the data's sphere); other
    chapters' experiments draw their query points here too."""
    generator = torch.Generator().manual_seed(seed)
    angle = 2 * torch.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    r = radius * torch.rand(n, generator=generator, dtype=torch.float64).sqrt()
    return torch.stack([r * torch.cos(angle), r * torch.sin(angle)], dim=1)


def numbers(result: Result) -> dict[str, str | int]:
    """The chapter's numbers for Theorem 2, by glue name: the scale, the fitted slope and the largest
    lr it is fitted on, the largest exact-form remainder (absolute, and relative to the largest
    prediction at that lr), and the paper preset's sizes."""
    paper = Config.paper()
    return {
        "discrete-scale": result.config.scale,
        "discrete-slope": f"{result.slope:.2f}",
        "discrete-fit-max": f"{result.config.fit_max_lr:g}",
        "discrete-exact-max": f"{result.residual_exact.max():.1e}",
        "discrete-exact-relative": f"{(result.residual_exact / result.prediction_max).max():.0e}",
        "discrete-paper-n": paper.n,
        "discrete-paper-width": paper.width,
        "discrete-paper-lrs": len(paper.lrs),
    }


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Train once per lr to time `config.time` and measure the remainder of Theorem 2.

    Data drawn on the CPU, then the data and each model computed on `device`."""
    device = check_device(device)
    x, y = (t.to(device) for t in ball_sphere(config.n, seed=seed))
    xq = query_points(config.n_query, config.query_radius, seed + 1).to(device)
    steps, losses, plain, exact, scale = [], [], [], [], []
    for lr in config.lrs:
        model = MLP(2, config.width, config.depth, activation=config.activation, seed=seed,
                    dtype=torch.float64).to(device)
        path = train(model, x, y, lr=lr, steps=max(1, round(config.time / lr)))
        steps.append(path.steps)
        losses.append(path.losses[-1].item())
        dec = domingos(path, xq)
        plain.append(dec.residual.abs().max().item())
        scale.append(dec.prediction.abs().max().item())
        exact.append(domingos(path, xq, exact=True, nodes=config.nodes).residual.abs().max().item())
    lrs = np.asarray(config.lrs)
    fitted = lrs <= config.fit_max_lr
    slope, intercept = np.polyfit(np.log(lrs[fitted]), np.log(np.asarray(plain)[fitted]), 1)
    return Result(config=config, lrs=lrs, steps=np.asarray(steps), final_loss=np.asarray(losses),
                  residual=np.asarray(plain), residual_exact=np.asarray(exact),
                  prediction_max=np.asarray(scale), slope=float(slope),
                  intercept=float(intercept))
