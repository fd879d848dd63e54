"""Chapter "How the kernel evolves", kernel neighbourhoods (Guo, He & Morel, Fig. 1).

On the disk / circle task (`pathkernel.data.ball_sphere`, disk of radius^2 0.8 against the
unit circle) a GELU MLP is trained by full-batch Adam (Guo, He & Morel use SGD; Adam is our
choice, not compared with SGD here). At initialization, mid-training and the end,
the k training points with the largest normalized tangent kernel

    Kn_w(x, x') = <phi_w(x), phi_w(x')> / (||phi_w(x)|| ||phi_w(x')||)

to a few anchors are the anchors' kernel neighbourhoods; their label homogeneity (the fraction
sharing the anchor's label) is compared with that of the k Euclidean nearest neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.data.ball_sphere import ball_sphere
from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.kernel_evolution.common import box_grid, fit
from pathkernel.neighbours import euclidean_neighbours, kernel_neighbours, label_homogeneity

ANCHORS = ((0.0, 0.0), (0.55, 0.45), (0.0, 1.0), (-0.6, -0.8))
#: the checkpoints' names in the prose (glue names kernelevolution-h-<name>)
WHEN = ("init", "mid", "end")


@dataclass(frozen=True)
class Config(Presets):
    """Sizes: n training points (disk radius^2 `r2`, circle radius 1), `queries` fresh points for
    the mean homogeneity, k neighbours, `steps` of Adam at `lr` (checkpoints at 0, steps // 2 and
    steps), `grid` points per side of the decision-region image. Network:
    `pk.MLP(2, width, depth, activation)`.
    """

    scale: str
    n: int
    queries: int
    k: int
    steps: int
    width: int
    grid: int
    lr: float = 0.01
    r2: float = 0.8
    depth: int = 3
    activation: str = "gelu"
    anchors: tuple[tuple[float, float], ...] = ANCHORS

    sources: ClassVar[dict[str, str]] = {
        "n": "ours: Guo et al. give no training-set size in our copy; enough points that the disk and the "
             "circle are densely covered at the paper's k",
        "queries": "ours: fresh points for the mean homogeneity, not in Guo et al.",
        "k": "Guo et al. Fig. 1: 'we highlight its 100 nearest training points'",
        "steps": "ours: Guo et al. train by SGD in epochs (mid-training 'the 200th epoch'), ours are full-batch Adam "
                 "steps; the middle checkpoint is steps // 2",
        "width": "ours: Guo et al.'s architecture is not in our copy",
        "grid": "ours: resolution of the decision-region image",
        "lr": "ours: Adam's step, not in Guo et al.",
        "r2": "Guo et al. Fig. 1: 'class y=-1 inside the disk x1^2+x2^2 <= 0.8'",
        "depth": "ours: the 3-layer network of Courtois et al. §5.1 on the same task (Guo et al.'s is not in "
                 "our copy)",
        "activation": "ours: the GELU of Courtois et al. §5.1 on the same task (Guo et al.'s is not in our copy)",
        "anchors": "ours: Guo et al. Fig. 1 lists the anchors in its legend, which our copy lost; two in the disk, "
                   "two on the circle",
    }

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ValueError(f"k={self.k} must lie in [1, n={self.n}]")
        if self.steps < 2:
            raise ValueError(f"steps={self.steps} must be >= 2 (a mid-training checkpoint is needed)")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=300, queries=200, k=30, steps=300, width=48, grid=80)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=1000, queries=1000, k=100, steps=1000, width=128, grid=200)


@dataclass
class Result:
    """Neighbourhoods of the anchors and the mean homogeneity.

    x (n, 2), y (n,) in {-1, +1}; anchors (a, 2) and their labels (a,); checkpoints (3,) step
    indices; neighbours (3, a, k) indices into x under Kn at each checkpoint, euclidean (a, k);
    homogeneity (3, a) and euclidean_homogeneity (a,): fraction of an anchor's neighbours with
    its label; mean_homogeneity (3,) and euclidean_mean_homogeneity: the same averaged over the
    `queries` fresh points; test_accuracy of the trained network on them; grid_x, grid_y
    (grid,), grid_f (grid, grid) the trained network on the box (row = y coordinate).
    """

    config: Config
    x: np.ndarray
    y: np.ndarray
    anchors: np.ndarray
    anchor_labels: np.ndarray
    checkpoints: np.ndarray
    neighbours: np.ndarray
    euclidean: np.ndarray
    homogeneity: np.ndarray
    euclidean_homogeneity: np.ndarray
    mean_homogeneity: np.ndarray
    euclidean_mean_homogeneity: float
    test_accuracy: float
    grid_x: np.ndarray
    grid_y: np.ndarray
    grid_f: np.ndarray


def disk_label(points: np.ndarray, r2: float) -> np.ndarray:
    """Label of points of the task: -1 inside the disk ||x||^2 <= r2, +1 outside."""
    return np.where((points**2).sum(1) <= r2, -1.0, 1.0)


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers, by glue name: the scale (of every figure of the chapter), k, n, the
    disk's radius^2, the number of fresh points, the network's depth and width and its accuracy on the fresh points,
    and the mean homogeneity of the Euclidean and of the kernel neighbourhoods at
    initialization, mid-training and the end."""
    config = result.config
    values = {
        "kernelevolution-scale": config.scale,
        "kernelevolution-r2": f"{config.r2:g}",
        "kernelevolution-depth": f"{config.depth}",
        "kernelevolution-width": f"{config.width}",
        "kernelevolution-accuracy": f"{result.test_accuracy:.1%}",
        "kernelevolution-k": f"{config.k}",
        "kernelevolution-n": f"{config.n}",
        "kernelevolution-queries": f"{config.queries}",
        "kernelevolution-euclid-h": f"{result.euclidean_mean_homogeneity:.0%}",
    }
    for name, value in zip(WHEN, result.mean_homogeneity):
        values[f"kernelevolution-h-{name}"] = f"{value:.0%}"
    return values


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Train on the task (data and network seed `seed`, fresh points seed + 1) and find the
    neighbourhoods. Data drawn on the CPU; the network, kernels and neighbourhoods computed
    on `device`."""
    device = check_device(device)
    x, y = (t.to(device) for t in ball_sphere(config.n, r2=config.r2, seed=seed))
    q, qy = (t.to(device) for t in ball_sphere(config.queries, r2=config.r2, seed=seed + 1))
    anchors = torch.tensor(config.anchors, dtype=torch.float64)
    anchor_labels = torch.from_numpy(disk_label(anchors.numpy(), config.r2)).to(device)
    anchors = anchors.to(device)
    path = fit(x, y, config, steps=config.steps, lr=config.lr, seed=seed)
    checkpoints = np.array([0, config.steps // 2, config.steps])
    neighbours, homogeneity, mean = [], [], []
    for step in checkpoints:
        theta = path.params[step].to(device)
        found = kernel_neighbours(path.model, anchors, x, config.k, params=theta)
        neighbours.append(found.cpu().numpy())
        homogeneity.append(label_homogeneity(found, y, anchor_labels).cpu().numpy())
        around = kernel_neighbours(path.model, q, x, config.k, params=theta)
        mean.append(label_homogeneity(around, y, qy).mean().item())
    euclidean = euclidean_neighbours(anchors, x, config.k).to(device)
    gx, gy, grid = box_grid((-1.2, 1.2, -1.2, 1.2), config.grid)
    with torch.no_grad():
        grid_f = path.model(grid.to(device))[:, 0].reshape(config.grid, config.grid).cpu().numpy()
        accuracy = (torch.sign(path.model(q)[:, 0]) == qy).double().mean().item()
    return Result(
        config=config, x=x.cpu().numpy(), y=y.cpu().numpy(), anchors=anchors.cpu().numpy(),
        anchor_labels=anchor_labels.cpu().numpy(), checkpoints=checkpoints, neighbours=np.stack(neighbours),
        euclidean=euclidean.cpu().numpy(), homogeneity=np.stack(homogeneity),
        euclidean_homogeneity=label_homogeneity(euclidean, y, anchor_labels).cpu().numpy(),
        mean_homogeneity=np.array(mean),
        euclidean_mean_homogeneity=label_homogeneity(euclidean_neighbours(q, x, config.k), y, qy).mean().item(),
        test_accuracy=accuracy, grid_x=gx, grid_y=gy, grid_f=grid_f,
    )
