"""Chapter "Domingos' theorem, discrete and exact", section "Vector outputs": Theorem 3.

Three concentric rings (`pathkernel.data.rings`), a GELU MLP with three logits trained by
full-batch gradient descent on the cross-entropy, from the same theta_0, to the same time
t = lr * steps for several learning rates. For each lr and each output a = 1..c, the largest
|R_a| of Theorem 3 (matrix-valued tangent kernel) over query points is recorded, with and
without the exact segment-averaged kernel.
(Old name: ``pathkernel.experiments.vector_outputs``, an alias of this module.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.data import rings
from pathkernel.decomposition import domingos
from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.discrete_exact.theorem import query_points
from pathkernel.models import MLP
from pathkernel.training import train


@dataclass(frozen=True)
class Config(Presets):
    """Sizes of the experiment (the paper gives none for its Theorem 3: ours are stated here).

    radii: the rings, one class each (c = len(radii) outputs). grid: points per side of the
    square [-extent, extent]^2 on which the decision regions are drawn.
    """

    sources: ClassVar[dict[str, str]] = {
        "n": "ours: Courtois et al. §3.2 state Theorem 3 without an experiment",
        "width": "ours: Courtois et al. §3.2 state Theorem 3 without an experiment",
        "time": "ours: one training time t = lr x steps for every learning rate, so the paths approach one flow",
        "lrs": "ours: halvings of the learning rate, to measure the order of the remainder per output",
        "n_query": "ours: query points spread over the disk of query_radius",
        "depth": "Courtois et al. §5.1: 'We used the 3-layers neural network' (here with one logit per class)",
        "activation": "Courtois et al. §5.1: 'The GELU function ... is applied component-wise'",
        "radii": "ours: concentric rings, one class each, a task with c = 3 outputs",
        "loss": "ours: the cross-entropy of a c-class classifier on its logits",
        "query_radius": "ours: a disk holding the rings and points outside them",
        "nodes": "ours: Gauss-Legendre nodes per piece of the exact form's quadrature (refined where a step needs it)",
        "grid": "ours: points per side of the grid of the decision regions",
        "extent": "ours: the square of the decision regions holds the query disk",
    }

    scale: str
    n: int
    width: int
    time: float
    lrs: tuple[float, ...]
    n_query: int
    depth: int = 3
    activation: str = "gelu"
    radii: tuple[float, ...] = (0.3, 0.65, 1.0)
    loss: str = "cross_entropy"
    query_radius: float = 1.5
    nodes: int = 3
    grid: int = 80
    extent: float = 1.5

    def __post_init__(self) -> None:
        if len(self.lrs) < 2 or any(lr <= 0 for lr in self.lrs):
            raise ValueError(f"lrs={self.lrs} needs at least two positive learning rates to fit a slope")
        if self.loss not in ("cross_entropy", "mse"):
            raise ValueError(f"loss={self.loss!r}; expected 'cross_entropy' or 'mse' (on one-hot targets)")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=60, width=64, time=40.0, lrs=(0.4, 0.2, 0.1, 0.05), n_query=100)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=300, width=100, time=40.0, lrs=(0.4, 0.2, 0.1, 0.05, 0.025, 0.0125),
                   n_query=1000, grid=200)


@dataclass
class Result:
    """Per learning rate and output, the remainder of Theorem 3 and of the exact form.

    residual, residual_exact: (len(lrs), c) max_x |R_a| over the query points for output a.
    slopes, intercepts: (c,) least-squares fits of log residual[:, a] = slope * log lr + intercept.
    prediction_max: (len(lrs),) max_{x, a} |f_a(theta_T, x)|. x, y: the training set;
    grid_x, grid_y: (grid,) axes; grid_class: (grid, grid) argmax of the network trained with the
    smallest lr (row = y coordinate).
    """

    config: Config
    lrs: np.ndarray
    steps: np.ndarray
    final_loss: np.ndarray
    train_accuracy: np.ndarray
    residual: np.ndarray
    residual_exact: np.ndarray
    prediction_max: np.ndarray
    slopes: np.ndarray
    intercepts: np.ndarray
    x: np.ndarray
    y: np.ndarray
    grid_x: np.ndarray
    grid_y: np.ndarray
    grid_class: np.ndarray


def targets(y: torch.Tensor, classes: int, loss: str) -> torch.Tensor:
    """Integer labels for "cross_entropy", one-hot float rows for "mse"."""
    if loss == "cross_entropy":
        return y
    return torch.nn.functional.one_hot(y, classes).to(torch.float64)


def numbers(result: Result) -> dict[str, str | int]:
    """The chapter's numbers for Theorem 3, by glue name: the scale, the fitted slope of each output,
    the largest exact-form remainder, the configuration's depth, ring radii and query radius, and the
    paper preset's sizes."""
    paper, config = Config.paper(), result.config
    return {
        "discrete-vector-scale": config.scale,
        "discrete-vector-depth": config.depth,
        "discrete-vector-radii": " and ".join(filter(None, [", ".join(f"{r:g}" for r in config.radii[:-1]),
                                                            f"{config.radii[-1]:g}"])),
        "discrete-vector-query-radius": f"{config.query_radius:g}",
        "discrete-vector-slopes": ", ".join(f"{s:.2f}" for s in result.slopes),
        "discrete-vector-exact-max": f"{result.residual_exact.max():.0e}",
        "discrete-vector-paper-n": paper.n,
        "discrete-vector-paper-width": paper.width,
        "discrete-vector-paper-lrs": len(paper.lrs),
        "discrete-vector-paper-lr-min": f"{min(paper.lrs):g}",
    }


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Train once per lr to time `config.time` and measure the remainder of Theorem 3 per output
    (data drawn on the CPU, computed on `device`)."""
    device = check_device(device)
    classes = len(config.radii)
    x, y = (t.to(device) for t in rings(config.n, radii=config.radii, seed=seed))
    xq = query_points(config.n_query, config.query_radius, seed + 1).to(device)
    steps, losses, accuracy, plain, exact, scale, model = [], [], [], [], [], [], None
    for lr in config.lrs:
        model = MLP(2, config.width, config.depth, out_dim=classes, activation=config.activation, seed=seed,
                    dtype=torch.float64).to(device)
        path = train(model, x, targets(y, classes, config.loss), lr=lr, steps=max(1, round(config.time / lr)),
                     loss=config.loss)
        steps.append(path.steps)
        losses.append(path.losses[-1].item())
        with torch.no_grad():
            accuracy.append((model(x).argmax(1) == y).double().mean().item())
        dec = domingos(path, xq)
        plain.append(dec.residual.abs().amax(0).cpu().numpy())
        scale.append(dec.prediction.abs().max().item())
        exact.append(domingos(path, xq, exact=True, nodes=config.nodes).residual.abs().amax(0).cpu().numpy())
    lrs = np.asarray(config.lrs)
    residual = np.stack(plain)
    fits = [np.polyfit(np.log(lrs), np.log(residual[:, a]), 1) for a in range(classes)]
    axis = np.linspace(-config.extent, config.extent, config.grid)
    gx, gy = np.meshgrid(axis, axis)
    with torch.no_grad():
        grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1)).to(device)
        grid_class = model(grid).argmax(1).reshape(config.grid, config.grid).cpu().numpy()
    return Result(config=config, lrs=lrs, steps=np.asarray(steps), final_loss=np.asarray(losses),
                  train_accuracy=np.asarray(accuracy), residual=residual, residual_exact=np.stack(exact),
                  prediction_max=np.asarray(scale), slopes=np.array([fit[0] for fit in fits]),
                  intercepts=np.array([fit[1] for fit in fits]), x=x.cpu().numpy(), y=y.cpu().numpy(), grid_x=axis,
                  grid_y=axis, grid_class=grid_class)
