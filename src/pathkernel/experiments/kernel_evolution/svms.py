"""Chapter "How the kernel evolves", tangent features against an RBF kernel (Guo, He & Morel, Fig. 3).

A linear SVM on the tangent features of a trained GELU MLP (fitted on the precomputed Gram
matrix, `last_layer.tangent_svm`) against an RBF SVM on the raw inputs, both with a large
penalty C, for the disk (radius^2 0.9) / circle task and its anisotropic image
100 x1^2 + x2^2 (x1 scaled by 1/10). The network is trained by full-batch Adam on the mean
squared error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from sklearn.svm import SVC

from pathkernel.data.ball_sphere import ball_sphere
from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.kernel_evolution.common import box_grid, fit
from pathkernel.experiments.last_layer import svm_decision, tangent_svm

TASKS = ("circle", "ellipse")
#: the classifiers of `Result.accuracies`, by glue name (kernelevolution-svm-<task>-<method>)
METHODS = ("net", "tangent", "rbf")
ELLIPSE_STRETCH = 0.1  # x1 -> x1 / 10 maps the unit circle onto 100 x1^2 + x2^2 = 1


@dataclass(frozen=True)
class Config(Presets):
    """Sizes: n training and n_test test points (disk radius^2 `r2`), `steps` of Adam at `lr`,
    penalty C for both SVMs (large: a hard margin), RBF width gamma="scale" (scikit-learn's
    default); n is 150 at both scales (the paper's is lost): few enough that the training points
    leave gaps along the thin ends of the ellipse. grid: points per side of the decision-region
    images. n_more: a larger training set (same test points), to measure whether more points
    close the gaps. Network: `pk.MLP(2, width, depth, activation)`.
    """

    scale: str
    n: int
    n_test: int
    steps: int
    width: int
    grid: int
    lr: float = 0.01
    r2: float = 0.9
    C: float = 1e6
    depth: int = 3
    activation: str = "gelu"
    n_more: int = 500

    sources: ClassVar[dict[str, str]] = {
        "n": "ours: Guo et al.'s number is not in our copy; the same at both scales, few enough to leave gaps "
             "between the training points along the ellipse",
        "n_test": "ours: fresh points for the accuracies",
        "steps": "ours: Guo et al. give no training length for Fig. 3 in our copy",
        "width": "ours: Guo et al.'s architecture is not in our copy",
        "grid": "ours: resolution of the decision-region images",
        "lr": "ours: Adam's step, not in Guo et al.",
        "r2": "Guo et al. Fig. 3: 'x1^2+x2^2 <= 0.9 (label -1) versus x1^2+x2^2 = 1 (label +1)'",
        "C": "ours: a large penalty (nearly a hard margin); Guo et al. give none in our copy",
        "depth": "ours: the 3-layer network of the chapter's other planar studies (Guo et al.'s is not in our copy)",
        "activation": "ours: GELU, as in the chapter's other studies (Guo et al.'s is not in our copy)",
        "n_more": "ours: not in Guo et al.; a training set a few times larger, to measure whether the gaps close",
    }

    def __post_init__(self) -> None:
        if self.n_more <= self.n:
            raise ValueError(f"n_more={self.n_more} must be > n={self.n}")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=150, n_test=1000, steps=400, width=48, grid=80)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=150, n_test=5000, steps=1000, width=128, grid=200)


@dataclass
class Result:
    """Index 0: circle, 1: ellipse (`TASKS`).

    x (2, n, 2), y (2, n); accuracies (2, 3) on the test points for [network, tangent SVM, RBF
    SVM] (`METHODS`), train_accuracy (2, 3) on the training points, more_accuracies (2, 3) on the
    test points for the same classifiers trained on n_more points; grid_x, grid_y (2, grid);
    decision (2, 2, grid, grid) for [tangent SVM, RBF SVM] (row = y coordinate).
    """

    config: Config
    x: np.ndarray
    y: np.ndarray
    accuracies: np.ndarray
    train_accuracy: np.ndarray
    more_accuracies: np.ndarray
    grid_x: np.ndarray
    grid_y: np.ndarray
    decision: np.ndarray


def anisotropic(x: torch.Tensor, task: str) -> torch.Tensor:
    """Points of the circle task mapped to `task`: unchanged ("circle") or x1 scaled by 1/10
    ("ellipse": the disk ||z||^2 <= r2 becomes 100 x1^2 + x2^2 <= r2, the circle becomes the ellipse)."""
    if task not in TASKS:
        raise ValueError(f"task={task!r}; expected one of {TASKS}")
    scale = torch.tensor([ELLIPSE_STRETCH if task == "ellipse" else 1.0, 1.0], dtype=x.dtype, device=x.device)
    return x * scale


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers, by glue name: the test accuracy of each classifier on each task
    (kernelevolution-svm-<task>-<method>) and with n_more training points
    (kernelevolution-svm-more-<task>-<method>), the numbers of training and test points, the
    disk's radius^2, and by
    how many test points the two SVMs' correct answers differ on the ellipse."""
    config = result.config
    values = {}
    for prefix, table in (("kernelevolution-svm", result.accuracies),
                          ("kernelevolution-svm-more", result.more_accuracies)):
        values |= {f"{prefix}-{task}-{method}": f"{table[c, k]:.1%}"
                   for c, task in enumerate(TASKS) for k, method in enumerate(METHODS)}
    tangent, rbf = METHODS.index("tangent"), METHODS.index("rbf")
    ellipse = TASKS.index("ellipse")
    difference = round(abs(result.accuracies[ellipse, tangent] - result.accuracies[ellipse, rbf]) * config.n_test)
    return values | {"kernelevolution-svm-n": f"{config.n}", "kernelevolution-svm-n-more": f"{config.n_more}",
                     "kernelevolution-svm-n-test": f"{config.n_test}", "kernelevolution-svm-r2": f"{config.r2:g}",
                     "kernelevolution-svm-ellipse-diff": f"{difference}"}


def _fit_task(config: Config, task: str, n: int, seed: int, device: torch.device):
    """n training points of `task` (seed `seed`) and its classifiers: (x (n, 2), y (n,), the trained
    network, the SVM on its tangent features, the RBF SVM on the inputs)."""
    z, y = ball_sphere(n, r2=config.r2, seed=seed)
    x = anisotropic(z, task)
    x_device = x.to(device)
    model = fit(x_device, y.to(device), config, steps=config.steps, lr=config.lr, seed=seed).model
    tangent = tangent_svm(model, x_device, y, C=config.C)
    return x, y, model, tangent, SVC(kernel="rbf", gamma="scale", C=config.C).fit(x.numpy(), y.numpy())


def _accuracies(classifiers, points: torch.Tensor, labels: torch.Tensor, device: torch.device) -> list[float]:
    """Accuracy on (points, labels) of [network, tangent SVM, RBF SVM] (`METHODS`) from `_fit_task`."""
    x, _, model, tangent, rbf = classifiers
    with torch.no_grad():
        network = torch.sign(model(points.to(device))[:, 0]).cpu().numpy()
    signs = (network, np.sign(svm_decision(model, tangent, x.to(device), points.to(device))),
             rbf.predict(points.numpy()))
    return [float(np.mean(s == labels.numpy())) for s in signs]


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Both tasks with data and network seed `seed` (test points: seed + 1), with n and with n_more
    training points. Data drawn on the CPU; networks and kernels computed on `device`, the SVMs
    (scikit-learn) on the CPU."""
    device = check_device(device)
    xs, ys, accuracies, train_accuracy, more, gxs, gys, decisions = [], [], [], [], [], [], [], []
    for task in TASKS:
        zt, yt = ball_sphere(config.n_test, r2=config.r2, seed=seed + 1)
        xt = anisotropic(zt, task)
        classifiers = _fit_task(config, task, config.n, seed, device)
        x, y, model, tangent, rbf = classifiers
        accuracies.append(_accuracies(classifiers, xt, yt, device))
        train_accuracy.append(_accuracies(classifiers, x, y, device))
        more.append(_accuracies(_fit_task(config, task, config.n_more, seed, device), xt, yt, device))
        half = 1.2 * (ELLIPSE_STRETCH if task == "ellipse" else 1.0)
        gx, gy, grid = box_grid((-half, half, -1.2, 1.2), config.grid)
        decisions.append(np.stack([svm_decision(model, tangent, x.to(device), grid.to(device)),
                                   rbf.decision_function(grid.numpy())])
                         .reshape(2, config.grid, config.grid))
        xs.append(x.numpy())
        ys.append(y.numpy())
        gxs.append(gx)
        gys.append(gy)
    return Result(config=config, x=np.stack(xs), y=np.stack(ys), accuracies=np.array(accuracies),
                  train_accuracy=np.array(train_accuracy), more_accuracies=np.array(more), grid_x=np.stack(gxs),
                  grid_y=np.stack(gys), decision=np.stack(decisions))
