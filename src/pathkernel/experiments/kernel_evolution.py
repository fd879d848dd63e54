"""Chapter "How the kernel evolves", planar and 1D parts (Guo, He & Morel, Figs. 1-3).

Three experiments on small networks, each reading the normalized tangent kernel
Kn_w(x, x') = <phi_w(x), phi_w(x')> / (||phi_w(x)|| ||phi_w(x')||) along training:

* neighbourhoods: on the disk / circle task (`pathkernel.data.ball_sphere`, disk of radius^2
  0.8 against the unit circle) the k training points with the largest Kn_w(anchor, x_i) at
  initialization, mid-training and the end, and their label homogeneity, against the k
  Euclidean nearest neighbours;
* waves: regression of sin x and of a square wave on [-pi, pi]: predictions, and Kn_w on the
  training points at initialization and after training;
* SVMs: a linear SVM on the tangent features of the trained network (precomputed Gram
  matrix, `last_layer.tangent_svm`) against an RBF SVM on the raw inputs, for the disk
  (radius^2 0.9) / circle task and its anisotropic image 100 x1^2 + x2^2 (x1 scaled by 1/10).

Every network is a GELU MLP trained by full-batch Adam (Guo, He & Morel train Fig. 1 with
SGD; Adam reaches 100% accuracy in far fewer steps at this size).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.svm import SVC

from pathkernel.data.ball_sphere import ball_sphere
from pathkernel.data.waves import WAVES, wave, waves
from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.last_layer import svm_decision, tangent_svm
from pathkernel.functional import flat_function
from pathkernel.kernels import tangent_kernel
from pathkernel.models import MLP
from pathkernel.neighbours import euclidean_neighbours, kernel_neighbours, label_homogeneity
from pathkernel.training import TrainingPath, train

ANCHORS = ((0.0, 0.0), (0.55, 0.45), (0.0, 1.0), (-0.6, -0.8))
TASKS = ("circle", "ellipse")
ELLIPSE_STRETCH = 0.1  # x1 -> x1 / 10 maps the unit circle onto 100 x1^2 + x2^2 = 1


@dataclass(frozen=True)
class Config(Presets):
    """Sizes of the three experiments.

    Neighbourhoods: n training points (disk radius^2 `r2`, circle radius 1), `queries` fresh
    points for the mean homogeneity, k neighbours, `steps` of Adam at `lr`; checkpoints at 0,
    steps // 2 and steps. Waves: `wave_n` equally spaced points, `wave_steps` of Adam at
    `wave_lr`, predictions on `wave_grid` points. SVMs: `svm_n` training and `svm_test` test
    points (disk radius^2 `svm_r2`), `svm_steps` of Adam, penalty C for both SVMs (large: a
    hard margin), RBF width gamma="scale" (scikit-learn's default); svm_n is 150 at both scales
    (the paper's is lost): with many more points the gaps between them close and both SVMs
    reach 100% on both tasks (measured with 500). grid: points per side of
    the decision-region images. Networks: `pk.MLP(in, width, depth, activation)`.
    """

    scale: str
    n: int
    queries: int
    k: int
    steps: int
    wave_n: int
    wave_steps: int
    svm_n: int
    svm_test: int
    svm_steps: int
    width: int
    grid: int
    lr: float = 0.01
    r2: float = 0.8
    wave_lr: float = 0.01
    wave_grid: int = 200
    svm_r2: float = 0.9
    C: float = 1e6
    depth: int = 3
    activation: str = "gelu"
    anchors: tuple[tuple[float, float], ...] = ANCHORS

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ValueError(f"k={self.k} must lie in [1, n={self.n}]")
        if self.steps < 2:
            raise ValueError(f"steps={self.steps} must be >= 2 (a mid-training checkpoint is needed)")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=300, queries=200, k=30, steps=300, wave_n=40, wave_steps=600, svm_n=150,
                   svm_test=1000, svm_steps=400, width=48, grid=80)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=1000, queries=1000, k=100, steps=1000, wave_n=100, wave_steps=1000, svm_n=150,
                   svm_test=5000, svm_steps=1000, width=128, grid=200)


@dataclass
class Result:
    """Arrays of the three experiments.

    Neighbourhoods: x (n, 2), y (n,) in {-1, +1}; anchors (a, 2) and their labels (a,);
    checkpoints (3,) step indices; neighbours (3, a, k) indices into x under Kn at each
    checkpoint, euclidean (a, k); homogeneity (3, a) and euclidean_homogeneity (a,): fraction
    of an anchor's neighbours with its label; mean_homogeneity (3,) and
    euclidean_mean_homogeneity: the same averaged over the `queries` fresh points;
    test_accuracy of the trained network on them; grid_x, grid_y (grid,), grid_f (grid, grid)
    the trained network on the box (row = y coordinate).
    Waves (index 0 sine, 1 square): wave_x (wave_n,), wave_y (2, wave_n); wave_grid (G,),
    wave_truth (2, G), wave_prediction (2, 2, G) at [init, trained]; wave_kernel
    (2, 2, wave_n, wave_n) normalized kernel on the training points at [init, trained];
    wave_rmse (2,) on the grid after training.
    SVMs (index 0 circle, 1 ellipse): svm_x (2, svm_n, 2), svm_y (2, svm_n); accuracies
    (2, 3) on the test points for [network, tangent SVM, RBF SVM], train_accuracy (2, 3) on the
    training points; svm_grid_x, svm_grid_y (2, grid); svm_decision (2, 2, grid, grid) for
    [tangent SVM, RBF SVM].
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
    wave_x: np.ndarray
    wave_y: np.ndarray
    wave_grid: np.ndarray
    wave_truth: np.ndarray
    wave_prediction: np.ndarray
    wave_kernel: np.ndarray
    wave_rmse: np.ndarray
    svm_x: np.ndarray
    svm_y: np.ndarray
    accuracies: np.ndarray
    train_accuracy: np.ndarray
    svm_grid_x: np.ndarray
    svm_grid_y: np.ndarray
    svm_decision: np.ndarray


def fit(x: torch.Tensor, y: torch.Tensor, config: Config, *, steps: int, lr: float, seed: int) -> TrainingPath:
    """A fresh `MLP(d, width, depth, activation)` (float64, seed `seed`) trained by full-batch
    Adam on the mean squared error to y, on x's device; returns its recorded path (the model holds theta_T)."""
    model = MLP(x.shape[1], config.width, config.depth, activation=config.activation, seed=seed,
                dtype=torch.float64).to(x.device)
    return train(model, x, y, lr=lr, steps=steps, optimizer="adam")


def box_grid(extent: tuple[float, float, float, float], size: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """Axes (size,), (size,) of the box (x0, x1, y0, y1) and its points (size^2, 2), row = y."""
    x0, x1, y0, y1 = extent
    gx, gy = np.linspace(x0, x1, size), np.linspace(y0, y1, size)
    return gx, gy, torch.from_numpy(np.stack([a.ravel() for a in np.meshgrid(gx, gy)], 1))


def disk_label(points: np.ndarray, r2: float) -> np.ndarray:
    """Label of points of the task: -1 inside the disk ||x||^2 <= r2, +1 outside."""
    return np.where((points**2).sum(1) <= r2, -1.0, 1.0)


def _neighbourhoods(config: Config, seed: int, device: torch.device) -> dict:
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
    return dict(
        x=x.cpu().numpy(), y=y.cpu().numpy(), anchors=anchors.cpu().numpy(), anchor_labels=anchor_labels.cpu().numpy(),
        checkpoints=checkpoints, neighbours=np.stack(neighbours), euclidean=euclidean.cpu().numpy(),
        homogeneity=np.stack(homogeneity),
        euclidean_homogeneity=label_homogeneity(euclidean, y, anchor_labels).cpu().numpy(),
        mean_homogeneity=np.array(mean),
        euclidean_mean_homogeneity=label_homogeneity(euclidean_neighbours(q, x, config.k), y, qy).mean().item(),
        test_accuracy=accuracy, grid_x=gx, grid_y=gy, grid_f=grid_f,
    )


def _waves(config: Config, seed: int, device: torch.device) -> dict:
    x, _ = waves("sine", config.wave_n)
    grid, _ = waves("sine", config.wave_grid)
    x_device, grid_device = x.to(device), grid.to(device)
    targets, truth, predictions, kernels, rmse = [], [], [], [], []
    for kind in WAVES:
        y, on_grid = wave(kind, x[:, 0]), wave(kind, grid[:, 0]).numpy()
        path = fit(x_device, y.to(device), config, steps=config.wave_steps, lr=config.wave_lr, seed=seed)
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
    return dict(wave_x=x[:, 0].numpy(), wave_y=np.stack(targets), wave_grid=grid[:, 0].numpy(),
                wave_truth=np.stack(truth), wave_prediction=np.stack(predictions), wave_kernel=np.stack(kernels),
                wave_rmse=np.array(rmse))


def anisotropic(x: torch.Tensor, task: str) -> torch.Tensor:
    """Points of the circle task mapped to `task`: unchanged ("circle") or x1 scaled by 1/10
    ("ellipse": the disk ||z||^2 <= r2 becomes 100 x1^2 + x2^2 <= r2, the circle becomes the ellipse)."""
    if task not in TASKS:
        raise ValueError(f"task={task!r}; expected one of {TASKS}")
    scale = torch.tensor([ELLIPSE_STRETCH if task == "ellipse" else 1.0, 1.0], dtype=x.dtype, device=x.device)
    return x * scale


def _svms(config: Config, seed: int, device: torch.device) -> dict:
    xs, ys, accuracies, train_accuracy, gxs, gys, decisions = [], [], [], [], [], [], []
    for task in TASKS:
        z, y = ball_sphere(config.svm_n, r2=config.svm_r2, seed=seed)
        zt, yt = ball_sphere(config.svm_test, r2=config.svm_r2, seed=seed + 1)
        x, xt = anisotropic(z, task), anisotropic(zt, task)
        x_device, xt_device = x.to(device), xt.to(device)
        path = fit(x_device, y.to(device), config, steps=config.svm_steps, lr=config.lr, seed=seed)
        tangent = tangent_svm(path.model, x_device, y, C=config.C)
        rbf = SVC(kernel="rbf", gamma="scale", C=config.C).fit(x.numpy(), y.numpy())
        with torch.no_grad():
            network = [torch.sign(path.model(p)[:, 0]).cpu().numpy() for p in (xt_device, x_device)]
        row, train_row = [], []
        for test, points, labels, net in ((True, xt, yt, network[0]), (False, x, y, network[1])):
            signs = (net, np.sign(svm_decision(path.model, tangent, x_device, points.to(device))),
                     rbf.predict(points.numpy()))
            (row if test else train_row).extend(float(np.mean(s == labels.numpy())) for s in signs)
        half = 1.2 * (ELLIPSE_STRETCH if task == "ellipse" else 1.0)
        gx, gy, grid = box_grid((-half, half, -1.2, 1.2), config.grid)
        decisions.append(np.stack([svm_decision(path.model, tangent, x_device, grid.to(device)),
                                   rbf.decision_function(grid.numpy())])
                         .reshape(2, config.grid, config.grid))
        xs.append(x.numpy())
        ys.append(y.numpy())
        accuracies.append(row)
        train_accuracy.append(train_row)
        gxs.append(gx)
        gys.append(gy)
    return dict(svm_x=np.stack(xs), svm_y=np.stack(ys), accuracies=np.array(accuracies),
                train_accuracy=np.array(train_accuracy), svm_grid_x=np.stack(gxs), svm_grid_y=np.stack(gys),
                svm_decision=np.stack(decisions))


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """The three experiments with data and network seeds `seed` (test points: seed + 1).

    Data drawn on the CPU; networks, kernels and neighbourhoods computed on `device`, the
    SVMs (scikit-learn) and the Euclidean neighbours on the CPU."""
    device = check_device(device)
    return Result(config=config, **_neighbourhoods(config, seed, device), **_waves(config, seed, device),
                  **_svms(config, seed, device))
