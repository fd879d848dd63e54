"""Study "the trained network" of the chapter "Ball versus sphere" (Courtois, Morel & Arias §5.1, Figs 1-3).

Class +1 on the unit circle, class -1 in the disk of radius sqrt(r2) < 1; the 3-layer GELU
MLP trained by full-batch gradient descent with a constant learning rate on the mean squared
error to the labels -1/+1. The study measures

* Fig 1: the trained network's decision regions on a grid, its training accuracy and the
  radius of its decision boundary along rays from the origin;
* Fig 2: the k training points closest to queries x = t u (u a random unit vector, several
  t) under the normalized tangent kernel at theta_T, against the k Euclidean nearest, and
  the Jaccard index of the two sets per t;
* Fig 3: a linear SVM on the (unnormalized) tangent features, fitted on the tangent-kernel
  Gram matrix (`last_layer.tangent_svm`), its training accuracy and its agreement with the
  network on the grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from pathkernel.data import ball_sphere
from pathkernel.experiments import Presets, check_device, parameters_device
from pathkernel.experiments.last_layer import svm_decision, tangent_svm
from pathkernel.kernels import tangent_kernel
from pathkernel.models import MLP
from pathkernel.neighbours import euclidean_neighbours, jaccard, kernel_neighbours
from pathkernel.training import train


def box_grid(extent: float, points: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """A square grid on [-extent, extent]^2: axes gx, gy (points,) and the points (points^2, 2),
    float64, row-major with the y coordinate as the row (``np.meshgrid`` order)."""
    gx = gy = np.linspace(-extent, extent, points)
    grid = torch.from_numpy(np.stack([a.ravel() for a in np.meshgrid(gx, gy)], 1))
    return gx, gy, grid


def boundary_radius(model: nn.Module, angles: np.ndarray, r_max: float, samples: int = 400) -> np.ndarray:
    """Radius of the first sign change of f from - to + along each ray r (cos a, sin a), r in [0, r_max].

    f is sampled at `samples` radii (on the model's device) and the crossing linearly
    interpolated; NaN on a ray where f never goes from negative to positive. Returns (len(angles),).
    """
    radii = np.linspace(0.0, r_max, samples)
    rays = np.stack([np.cos(angles), np.sin(angles)], 1)[:, None, :] * radii[None, :, None]
    device = parameters_device(model)
    with torch.no_grad():
        f = model(torch.from_numpy(rays.reshape(-1, 2)).to(device)).reshape(len(angles), samples).cpu().numpy()
    out = np.full(len(angles), np.nan)
    for j, row in enumerate(f):
        up = np.flatnonzero((row[:-1] < 0) & (row[1:] >= 0))
        if up.size:
            i = up[0]
            out[j] = radii[i] + (radii[i + 1] - radii[i]) * row[i] / (row[i] - row[i + 1])
    return out


def random_direction(d: int, seed: int) -> torch.Tensor:
    """A unit vector (d,) uniform on the sphere, float64, from its own seeded generator."""
    u = torch.randn(d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return u / u.norm()


@dataclass(frozen=True)
class Config(Presets):
    """Sizes of the study. The paper's sizes were lost in conversion; ours are stated here.

    n, width, lr, steps: the training set (half in the disk, half on the circle), the MLP's
    width and full-batch gradient descent (constant lr, mean squared error); both presets
    reach 100% training accuracy at seed 0 (measured; the paper preset from step 1600 on).
    k: neighbours per query; ts: the queries t u. grid: points per side of the box
    [-extent, extent]^2. C: the SVM's penalty (large: a hard margin). angles: rays of the
    boundary radius.
    """

    scale: str
    n: int
    width: int
    lr: float
    steps: int
    k: int
    grid: int
    ts: tuple[float, ...] = (0.0, 0.5, 0.9, 1.0, 1.4)
    r2: float = 0.8
    depth: int = 3
    activation: str = "gelu"
    C: float = 1e6
    extent: float = 1.5
    angles: int = 360

    sources: ClassVar[dict[str, str]] = {
        "n": "ours: the number of samples of Courtois et al. §5.1 is lost in our copy",
        "width": "ours: the width of Courtois et al. §5.1 is lost in our copy",
        "lr": "ours: Courtois et al. §5.1 use a constant learning rate whose value is lost in our copy",
        "steps": "ours: the number of iterations of Courtois et al. §5.1 is lost in our copy; "
                 "enough to reach 100% at seed 0",
        "k": "Courtois et al. §5.1.2: the 100 points with largest similarity",
        "grid": "ours: resolution of the decision-region images",
        "ts": "ours: the values of t in Courtois et al. Fig. 2 are lost; inside the ball, between, on and "
              "beyond the sphere",
        "r2": "ours: the inner radius of Courtois et al. §5.1 is lost in our copy",
        "depth": "Courtois et al. §5.1: the 3-layers neural network",
        "activation": "Courtois et al. §5.1: the GELU function",
        "C": "ours: the SVM penalty of Courtois et al. §5.1.3 is not given; large, a nearly hard margin",
        "extent": "ours: the box of the decision-region images, beyond the sphere",
        "angles": "ours: rays of the boundary-radius measurement (not in the paper)",
    }

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ValueError(f"k={self.k} must lie in [1, n={self.n}]")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=200, width=48, lr=0.2, steps=600, k=20, grid=81)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=1000, width=100, lr=0.1, steps=4000, k=100, grid=201)


@dataclass
class Result:
    """Arrays of Figs 1-3.

    x (n, 2), y (n,) in {-1, +1}; accuracy, final_loss: the trained network on its training set.
    grid_x, grid_y (grid,); grid_network, grid_svm (grid, grid): f(theta_T) and the SVM decision
    values (row = y coordinate). angles, radius (angles,): the boundary radius along each ray.
    direction (2,): u; queries (len(ts), 2) = t u; kernel_neighbours, euclidean_neighbours
    (len(ts), k) indices into x; jaccard (len(ts),). svm_accuracy: training accuracy of the SVM;
    agreement: fraction of grid points where SVM and network have the same sign.
    """

    config: Config
    x: np.ndarray
    y: np.ndarray
    accuracy: float
    final_loss: float
    grid_x: np.ndarray
    grid_y: np.ndarray
    grid_network: np.ndarray
    grid_svm: np.ndarray
    angles: np.ndarray
    radius: np.ndarray
    direction: np.ndarray
    queries: np.ndarray
    kernel_neighbours: np.ndarray
    euclidean_neighbours: np.ndarray
    jaccard: np.ndarray
    svm_accuracy: float
    agreement: float


def midway_radius(r2: float) -> float:
    """(1 + sqrt(r2)) / 2: the circle midway between the ball's edge and the sphere, where a
    maximal-margin rule would put the boundary."""
    return (1 + np.sqrt(r2)) / 2


def midway_gap(result: Result) -> float:
    """max over the rays of |boundary radius - midway radius| (rays without a boundary left out)."""
    return float(np.nanmax(np.abs(result.radius - midway_radius(result.config.r2))))


def inside_fraction(result: Result) -> float:
    """Fraction of the rays on which the boundary passes inside the ball's edge (radius sqrt(r2));
    a ray without a boundary counts as outside."""
    return float(np.mean(result.radius < np.sqrt(result.config.r2)))


def least_similar_t(result: Result) -> float:
    """The query position t whose kernel and Euclidean neighbour sets overlap least (smallest Jaccard)."""
    return result.config.ts[int(np.argmin(result.jaccard))]


def numbers(result: Result) -> dict[str, str]:
    """The study's numbers, by glue name: the scale and sizes (and the paper preset's), the
    training accuracy and loss, the boundary radius against the ball's edge and the midway
    circle, the neighbour sets' Jaccard range, the SVM's accuracy and agreement."""
    c, paper = result.config, Config.paper()
    return {
        "ballsphere-scale": c.scale,
        "ballsphere-n": f"{c.n}",
        "ballsphere-width": f"{c.width}",
        "ballsphere-depth": f"{c.depth}",
        "ballsphere-lr": f"{c.lr:g}",
        "ballsphere-steps": f"{c.steps}",
        "ballsphere-accuracy": f"{result.accuracy:.0%}",
        "ballsphere-loss": f"{result.final_loss:.3f}",
        "ballsphere-paper-n": f"{paper.n}",
        "ballsphere-paper-steps": f"{paper.steps}",
        "ballsphere-r": f"{np.sqrt(c.r2):.3f}",
        "ballsphere-radius-min": f"{np.nanmin(result.radius):.3f}",
        "ballsphere-radius-max": f"{np.nanmax(result.radius):.3f}",
        "ballsphere-radius-mean": f"{np.nanmean(result.radius):.3f}",
        "ballsphere-radius-inside": f"{inside_fraction(result):.0%}",
        "ballsphere-midway": f"{midway_radius(c.r2):.3f}",
        "ballsphere-midway-gap": f"{midway_gap(result):.3f}",
        "ballsphere-k": f"{c.k}",
        "ballsphere-jaccard-min": f"{result.jaccard.min():.2f}",
        "ballsphere-jaccard-max": f"{result.jaccard.max():.2f}",
        "ballsphere-jaccard-t": f"{least_similar_t(result):g}",
        "ballsphere-svm-accuracy": f"{result.svm_accuracy:.0%}",
        "ballsphere-agreement": f"{result.agreement:.1%}",
        "ballsphere-extent": f"{c.extent:g}",
    }


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Train the network, query its tangent kernel and fit the SVM.

    Data, queries and grids drawn on the CPU, then the network and its kernels computed on
    `device`; the SVM (scikit-learn) and the Euclidean neighbours run on the CPU."""
    device = check_device(device)
    x, y = (t.to(device) for t in ball_sphere(config.n, r2=config.r2, seed=seed))
    model = MLP(2, config.width, config.depth, activation=config.activation, seed=seed,
                dtype=torch.float64).to(device)
    path = train(model, x, y, lr=config.lr, steps=config.steps)
    gx, gy, grid = box_grid(config.extent, config.grid)
    grid = grid.to(device)
    with torch.no_grad():
        on_grid = model(grid)[:, 0].cpu().numpy()
        accuracy = (torch.sign(model(x)[:, 0]) == y).double().mean().item()
    angles = np.linspace(0, 2 * np.pi, config.angles, endpoint=False)
    u = random_direction(2, seed + 1)
    queries = (torch.tensor(config.ts, dtype=torch.float64)[:, None] * u[None, :]).to(device)
    near_kernel = kernel_neighbours(model, queries, x, config.k)
    near_euclid = euclidean_neighbours(queries, x, config.k)
    svm = tangent_svm(model, x, y, C=config.C)
    svm_grid = svm_decision(model, svm, x, grid)
    svm_train = svm.predict(tangent_kernel(model, x).cpu().numpy())
    g = config.grid
    return Result(
        config=config, x=x.cpu().numpy(), y=y.cpu().numpy(), accuracy=accuracy, final_loss=path.losses[-1].item(),
        grid_x=gx, grid_y=gy, grid_network=on_grid.reshape(g, g), grid_svm=svm_grid.reshape(g, g),
        angles=angles, radius=boundary_radius(model, angles, config.extent), direction=u.numpy(),
        queries=queries.cpu().numpy(), kernel_neighbours=near_kernel.cpu().numpy(),
        euclidean_neighbours=near_euclid.cpu().numpy(), jaccard=jaccard(near_kernel, near_euclid).cpu().numpy(),
        svm_accuracy=float((svm_train == y.cpu().numpy()).mean()),
        agreement=float((np.sign(svm_grid) == np.sign(on_grid)).mean()),
    )
