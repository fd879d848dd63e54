"""Chapter "A linear last layer": the network is a linear function of its tangent features.

For f(w, x) = <v, g(u, x)> + b the gradient with respect to the last layer is
(g(u, x), 1), so f(w, x) = <phi_w(x), w_last> with w_last the flat vector that keeps the
last layer's parameters and zeros the others. A network with 100% training accuracy is
therefore a linear classifier of its tangent features that separates the training set,
and a linear SVM on those features (``SVC(kernel="precomputed")`` on the tangent-kernel
Gram matrix) must separate it too.

The experiment trains a GELU MLP on two moons (scikit-learn's ``make_moons``) in four
scenarios: trained for `steps` (100% training accuracy at the presets), stopped early, on
labels with a fraction flipped,
and the same noisy labels with a narrow network (fewer tangent features than points). For
each it fits the SVM on the tangent kernel at the trained parameters and compares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from sklearn.datasets import make_moons
from sklearn.svm import SVC
from torch import nn

from pathkernel.experiments import Presets, check_device
from pathkernel.functional import check_inputs, flat_parameters
from pathkernel.kernels import tangent_features, tangent_kernel
from pathkernel.models import MLP
from pathkernel.training import train

SCENARIOS = ("trained", "stopped early", "noisy labels", "noisy labels, narrow")
#: the scenarios' names in the chapter's glue names (lastlayer-net-<key>, ...), in `SCENARIOS` order
SCENARIO_KEYS = ("full", "early", "noisy", "narrow")


def last_layer_mask(model: nn.Module) -> torch.Tensor:
    """Boolean mask (P,) of the flat parameters of the model's last layer (its last two tensors,
    weight and bias, in `parameters()` order), on the parameters' device: w_last = where(mask, w, 0)."""
    params = list(model.parameters())
    if len(params) < 2 or params[-1].dim() != 1 or params[-2].dim() != 2:
        raise ValueError(f"{type(model).__name__} does not end with a linear layer (weight matrix then bias)")
    sizes = [p.numel() for p in params]
    mask = torch.zeros(sum(sizes), dtype=torch.bool, device=params[-1].device)
    mask[sum(sizes[:-2]):] = True
    return mask


def linear_in_tangent_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(f(w, x), <phi_w(x), w_last>), both (n,): equal when the last layer is linear.

    Materializes the tangent features of x (n, P): for a few points only.
    """
    check_inputs(model, x)
    with torch.no_grad():
        out = model(x)
    if out.reshape(x.shape[0], -1).shape[1] != 1:
        raise ValueError(f"the model has {out.reshape(x.shape[0], -1).shape[1]} outputs; expected a scalar output")
    mask = last_layer_mask(model)
    w_last = torch.where(mask, flat_parameters(model), 0.0)
    return out.reshape(-1), tangent_features(model, x) @ w_last


def tangent_svm(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, *, C: float = 1e6) -> SVC:
    """A linear SVM on the tangent features phi_w(x_i), fitted on the Gram matrix K_w(x_i, x_j)
    (``SVC(kernel="precomputed")``; the features are never materialized). Labels in {-1, +1}.
    The kernel is computed on the model's device, the SVM on the CPU."""
    if not C > 0:
        raise ValueError(f"C={C!r} must be > 0")
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if not np.all(np.isin(labels, (-1, 1))):
        raise ValueError(f"labels must be -1 or +1; got values {np.unique(labels)}")
    gram = tangent_kernel(model, x).cpu().numpy()
    return SVC(kernel="precomputed", C=C).fit(gram, labels)


def svm_decision(model: nn.Module, svm: SVC, x_train: torch.Tensor, x: torch.Tensor) -> np.ndarray:
    """Decision values (m,) of a `tangent_svm` at new points x, from K_w(x, x_train)."""
    return svm.decision_function(tangent_kernel(model, x, x_train).cpu().numpy())


def effective_rank(gram: np.ndarray, tol: float = 1e-10) -> int:
    """Number of eigenvalues of a Gram matrix above tol * the largest: the dimension its features span."""
    values = np.linalg.eigvalsh(gram)
    return int((values > tol * values.max()).sum())


def moons(n: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's two moons, float64, labels in {-1, +1}."""
    x, y = make_moons(n, noise=noise, random_state=seed)
    return torch.from_numpy(x), torch.from_numpy(2.0 * y - 1.0)


@dataclass(frozen=True)
class Config(Presets):
    """Sizes of the experiment (the paper's §5.1.3 uses the ball/sphere task; ours is two moons).

    steps, lr: full-batch gradient descent on the mean squared error to labels -1/+1.
    early_steps: the stopped-early scenario. flip: fraction of labels flipped in the noisy
    scenarios. narrow_width: width of the narrow network. C: the SVM's penalty (large: a
    hard margin). grid: points per side of the box `extent` = (x0, x1, y0, y1).
    """

    scale: str
    n: int
    width: int
    steps: int
    grid: int
    lr: float = 0.5
    early_steps: int = 40
    noise: float = 0.1
    flip: float = 0.1
    narrow_width: int = 3
    depth: int = 3
    activation: str = "gelu"
    C: float = 1e6
    extent: tuple[float, float, float, float] = (-1.6, 2.6, -1.2, 1.7)

    sources: ClassVar[dict[str, str]] = {
        "n": "ours: Courtois et al. §5.1 give a number of samples that our copy lost (and use the ball/sphere "
             "task; ours is two moons)",
        "width": "ours: Courtois et al. §5.1 give 'the network's width' but our copy lost its value",
        "steps": "ours: Courtois et al. §5.1 train 'for iterations' whose number our copy lost",
        "grid": "ours: resolution of the decision-region images",
        "lr": "ours: Courtois et al. §5.1 use 'a constant learning rate' whose value our copy lost",
        "early_steps": "ours: the stopped-early scenario is not in Courtois et al.",
        "noise": "ours: two moons are not in Courtois et al.; scikit-learn's make_moons noise",
        "flip": "ours: the noisy-label scenarios are not in Courtois et al.",
        "narrow_width": "ours: the narrow-network scenario is not in Courtois et al.",
        "depth": "Courtois et al. §5.1: 'We used the 3-layers neural network'",
        "activation": "Courtois et al. §5.1: 'The GELU function is defined by ...', 'applied component-wise'",
        "C": "ours: a large penalty, nearly a hard margin (Courtois et al. §5.1.3 do not give the SVM's)",
        "extent": "ours: a box around the two moons",
    }

    def __post_init__(self) -> None:
        if not 1 <= self.early_steps < self.steps:
            raise ValueError(f"early_steps={self.early_steps} must lie in [1, steps={self.steps})")
        if not 0 < self.flip < 0.5:
            raise ValueError(f"flip={self.flip} must lie in (0, 0.5)")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=100, width=32, steps=400, grid=60)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=400, width=100, steps=2000, grid=200)


@dataclass
class Result:
    """One entry per scenario (`SCENARIOS`, arrays of length 4) and the grids to draw.

    network_accuracy, svm_accuracy: training accuracy (on the scenario's labels) of the network
    sign(f) and of the SVM on its tangent features. agreement: fraction of grid points where the
    two agree in sign; parameters: P; rank: effective rank of the training Gram matrix.
    linear_gap: max_x |f(w, x) - <phi_w(x), w_last>| over the training points (100% scenario).
    x (n, 2), labels (4, n) in {-1, +1}, flipped (n,) bool; network_sign, svm_sign (4, n): the
    two classifiers' signs at the training points; grid_x (grid,), grid_y (grid,);
    grid_network, grid_svm (4, grid, grid): f and the SVM decision values (row = y coordinate).
    """

    config: Config
    scenarios: tuple[str, ...]
    network_accuracy: np.ndarray
    svm_accuracy: np.ndarray
    agreement: np.ndarray
    parameters: np.ndarray
    rank: np.ndarray
    linear_gap: float
    x: np.ndarray
    labels: np.ndarray
    flipped: np.ndarray
    network_sign: np.ndarray
    svm_sign: np.ndarray
    grid_x: np.ndarray
    grid_y: np.ndarray
    grid_network: np.ndarray
    grid_svm: np.ndarray


def numbers(result: Result) -> dict[str, str | int]:
    """The chapter's numbers, by glue name: the scale, the gap of the linear identity, n, per
    scenario (`SCENARIO_KEYS`) the training accuracies of the network and of the SVM, their
    agreement on the box and the rank of the Gram matrix, the moons' noise and the network's
    depth and width, and the paper preset's sizes."""
    paper = Config.paper()
    values: dict[str, str | int] = {
        "lastlayer-scale": result.config.scale,
        "lastlayer-noise": f"{result.config.noise:g}",
        "lastlayer-depth": f"{result.config.depth}",
        "lastlayer-width": f"{result.config.width}",
        "lastlayer-linear-gap": f"{result.linear_gap:.0e}",
        "lastlayer-n": f"{result.config.n}",
        "lastlayer-paper-n": paper.n,
        "lastlayer-paper-width": paper.width,
        "lastlayer-paper-steps": paper.steps,
    }
    for k, key in enumerate(SCENARIO_KEYS):
        values[f"lastlayer-net-{key}"] = f"{result.network_accuracy[k]:.0%}"
        values[f"lastlayer-svm-{key}"] = f"{result.svm_accuracy[k]:.0%}"
        values[f"lastlayer-agree-{key}"] = f"{result.agreement[k]:.0%}"
        values[f"lastlayer-rank-{key}"] = f"{result.rank[k]}"
    return values


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Train the four scenarios and fit the SVM on each network's tangent kernel. Data drawn on
    the CPU; networks and kernels on `device`, the SVMs (scikit-learn) on the CPU."""
    device = check_device(device)
    x, y = moons(config.n, config.noise, seed)
    flipped = np.random.default_rng(seed).random(config.n) < config.flip
    noisy = torch.where(torch.from_numpy(flipped), -y, y)
    x, y, noisy = x.to(device), y.to(device), noisy.to(device)
    runs = [(config.width, y, config.steps), (config.width, y, config.early_steps),
            (config.width, noisy, config.steps), (config.narrow_width, noisy, config.steps)]
    x0, x1, y0, y1 = config.extent
    gx, gy = np.linspace(x0, x1, config.grid), np.linspace(y0, y1, config.grid)
    grid = torch.from_numpy(np.stack([a.ravel() for a in np.meshgrid(gx, gy)], 1)).to(device)
    columns: dict[str, list] = {k: [] for k in ("net", "svm", "agree", "P", "rank", "labels", "nsign",
                                                "ssign", "gnet", "gsvm")}
    linear_gap = None
    for width, labels, steps in runs:
        model = MLP(2, width, config.depth, activation=config.activation, seed=seed, dtype=torch.float64).to(device)
        train(model, x, labels, lr=config.lr, steps=steps)
        with torch.no_grad():
            on_grid = model(grid)[:, 0].cpu().numpy()
            on_train = model(x)[:, 0]
        svm = tangent_svm(model, x, labels, C=config.C)
        decision = svm_decision(model, svm, x, grid)
        gram = tangent_kernel(model, x).cpu().numpy()
        svm_sign = svm.predict(gram)
        if linear_gap is None:
            f, linear = linear_in_tangent_features(model, x)
            linear_gap = (f - linear).abs().max().item()
        columns["net"].append((torch.sign(on_train) == labels).double().mean().item())
        columns["svm"].append(float((svm_sign == labels.cpu().numpy()).mean()))
        columns["nsign"].append(torch.sign(on_train).cpu().numpy())
        columns["ssign"].append(svm_sign)
        columns["agree"].append(float((np.sign(decision) == np.sign(on_grid)).mean()))
        columns["P"].append(sum(p.numel() for p in model.parameters()))
        columns["rank"].append(effective_rank(gram))
        columns["labels"].append(labels.cpu().numpy())
        columns["gnet"].append(on_grid.reshape(config.grid, config.grid))
        columns["gsvm"].append(decision.reshape(config.grid, config.grid))
    return Result(config=config, scenarios=SCENARIOS, network_accuracy=np.asarray(columns["net"]),
                  svm_accuracy=np.asarray(columns["svm"]), agreement=np.asarray(columns["agree"]),
                  parameters=np.asarray(columns["P"]), rank=np.asarray(columns["rank"]), linear_gap=linear_gap,
                  x=x.cpu().numpy(), labels=np.stack(columns["labels"]), flipped=flipped,
                  network_sign=np.stack(columns["nsign"]), svm_sign=np.stack(columns["ssign"]), grid_x=gx, grid_y=gy,
                  grid_network=np.stack(columns["gnet"]), grid_svm=np.stack(columns["gsvm"]))
