"""Chapter "Neural networks and kernel machines": Mercer features and an SVM.

* Explicit features of the polynomial kernel (<x, x'> + c)^p, whose Gram matrix equals
  the kernel (Mercer's theorem made finite).
* Random Fourier features (Rahimi & Recht) of the RBF kernel exp(-gamma ||x - x'||^2):
  their Gram matrix approaches the kernel at the Monte Carlo rate D^(-1/2).
* A support vector machine (scikit-learn's SVC, RBF kernel) on the ball/sphere task,
  whose decision function is rebuilt by hand as sum_i a_i K(x, x_i) + b from its dual
  coefficients and support vectors.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.svm import SVC

from pathkernel.data import ball_sphere
from pathkernel.experiments import Presets, check_device
from pathkernel.validation import integer


def polynomial_features(x: np.ndarray, degree: int, c: float = 1.0) -> np.ndarray:
    """Explicit features phi(x) with <phi(x), phi(x')> = (<x, x'> + c)^degree.

    With z = (x, sqrt(c)), the multinomial theorem gives (<z, z'>)^p =
    sum_{|alpha| = p} (p choose alpha) z^alpha z'^alpha, so phi_alpha(x) =
    sqrt(p choose alpha) z^alpha over the C(d + p, p) multi-indices alpha.
    x: (n, d); returns (n, C(d + p, p)).
    """
    integer("degree", degree)
    if c < 0:
        raise ValueError(f"c={c!r} must be >= 0 for the kernel to be positive definite")
    z = np.concatenate([x, np.full((x.shape[0], 1), math.sqrt(c))], axis=1)
    columns = []
    for combo in itertools.combinations_with_replacement(range(z.shape[1]), degree):
        counts = np.bincount(combo, minlength=z.shape[1])
        coefficient = math.factorial(degree) / math.prod(math.factorial(k) for k in counts)
        columns.append(math.sqrt(coefficient) * np.prod(z ** counts, axis=1))
    return np.stack(columns, axis=1)


def random_fourier_features(x: np.ndarray, n_features: int, gamma: float, seed: int = 0) -> np.ndarray:
    """z(x) = sqrt(2/D) cos(W x + b), W ~ N(0, 2 gamma I), b ~ U[0, 2 pi): E <z(x), z(x')> = RBF.

    x: (n, d); returns (n, n_features).
    """
    integer("n_features", n_features)
    if gamma <= 0:
        raise ValueError(f"gamma={gamma!r} must be > 0")
    rng = np.random.default_rng(seed)
    w = rng.normal(scale=math.sqrt(2 * gamma), size=(x.shape[1], n_features))
    b = rng.uniform(0, 2 * math.pi, size=n_features)
    return math.sqrt(2 / n_features) * np.cos(x @ w + b)


def svm_decision(svm: SVC, x: np.ndarray, gamma: float) -> np.ndarray:
    """The decision function of a fitted binary RBF `SVC`, by hand:
    sum over support vectors of dual_coef_i K(x, sv_i) + intercept. Shape (m,)."""
    return rbf_kernel(x, svm.support_vectors_, gamma=gamma) @ svm.dual_coef_[0] + svm.intercept_[0]


@dataclass(frozen=True)
class Config(Presets):
    """Sizes (the chapter's own illustration: no paper sizes to match)."""

    scale: str
    n_svm: int
    n_rff: int
    feature_counts: tuple[int, ...]
    repeats: int
    grid: int
    gamma: float = 2.0
    C: float = 10.0
    degrees: tuple[int, ...] = (1, 2, 3, 4, 5)

    sources: ClassVar[dict[str, str]] = {
        "n_svm": "ours: the chapter's own illustration; Courtois et al. §5.1's ball/sphere task, whose sample size "
                 "our copy lost",
        "n_rff": "ours: points of the random-feature Gram matrix (Rahimi and Recht's sizes are not a source here)",
        "feature_counts": "ours: numbers of random features D over three decades and more, for the D^(-1/2) fit",
        "repeats": "ours: independent draws per D",
        "grid": "ours: resolution of the decision-function image",
        "gamma": "ours: an RBF width of the order of the gap between disk and circle",
        "C": "ours: a moderate penalty of the chapter's illustration",
        "degrees": "ours: polynomial degrees checked against their explicit features",
    }

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n_svm=80, n_rff=100, feature_counts=(10, 30, 100, 300, 1000, 3000, 10000),
                   repeats=4, grid=121)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n_svm=400, n_rff=400,
                   feature_counts=(10, 30, 100, 300, 1000, 3000, 10000, 30000), repeats=10, grid=241)


@dataclass
class Result:
    """Mercer features, random Fourier features and the SVM.

    poly_error: (len(degrees),) max |Phi Phi^T - K| / max |K| of the explicit polynomial
    features; poly_dims: their numbers of features. rff_error: (len(feature_counts),
    repeats) root-mean-square error of the RFF Gram matrix against the RBF kernel;
    rff_slope, rff_intercept: least-squares fit log mean error = slope log D + intercept. rff_kernel (n_rff^2,) and
    rff_gram (3, n_rff^2): kernel entries and the RFF Gram entries for the smallest, a
    middle and the largest D (`rff_shown`). x, y: SVM training data; support: indices of
    the support vectors; dual_coef: y_i alpha_i; intercept; grid_x (g, g, 2) and
    decision (g, g): decision function on a grid; by_hand_error: max |by hand -
    decision_function| over the grid; train_accuracy.
    """

    config: Config
    poly_dims: np.ndarray
    poly_error: np.ndarray
    rff_error: np.ndarray
    rff_slope: float
    rff_intercept: float
    rff_shown: np.ndarray
    rff_kernel: np.ndarray
    rff_gram: np.ndarray
    x: np.ndarray
    y: np.ndarray
    support: np.ndarray
    dual_coef: np.ndarray
    intercept: float
    grid_x: np.ndarray
    decision: np.ndarray
    by_hand_error: float
    train_accuracy: float


def numbers(result: Result) -> dict[str, str | int]:
    """The chapter's numbers, by glue name: the scale, the polynomial degrees checked ("1 to 5"),
    the fitted slope of the random-feature error against D, the number of support vectors and the
    largest difference between the decision function by hand and scikit-learn's."""
    degrees = list(result.config.degrees)
    consecutive = degrees == list(range(degrees[0], degrees[-1] + 1))
    return {
        "kernelmachines-scale": result.config.scale,
        "kernelmachines-degrees": f"{degrees[0]} to {degrees[-1]}" if consecutive else ", ".join(map(str, degrees)),
        "kernelmachines-slope": f"{result.rff_slope:.2f}",
        "kernelmachines-n-support": len(result.support),
        "kernelmachines-by-hand": f"{result.by_hand_error:.0e}",
    }


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Check the features against their kernels and fit the SVM.

    numpy and scikit-learn only: `device` is checked (the signature every experiment shares),
    the computation stays on the CPU."""
    check_device(device)
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(config.n_rff, 2)) / 2
    dims, poly_error = [], []
    for p in config.degrees:
        phi = polynomial_features(points, p)
        kernel = (points @ points.T + 1) ** p
        dims.append(phi.shape[1])
        poly_error.append(np.abs(phi @ phi.T - kernel).max() / np.abs(kernel).max())
    kernel = rbf_kernel(points, points, gamma=config.gamma)
    rff_error = np.empty((len(config.feature_counts), config.repeats))
    shown = np.asarray([config.feature_counts[0], config.feature_counts[len(config.feature_counts) // 2],
                        config.feature_counts[-1]])
    grams = {}
    for a, count in enumerate(config.feature_counts):
        for r in range(config.repeats):
            z = random_fourier_features(points, count, config.gamma, seed=seed * 1000 + r)
            rff_error[a, r] = np.sqrt(np.mean((z @ z.T - kernel) ** 2))
            if r == 0 and count in shown:
                grams[count] = (z @ z.T).ravel()
    slope, intercept = np.polyfit(np.log(config.feature_counts), np.log(rff_error.mean(1)), 1)

    x, y = (t.numpy() for t in ball_sphere(config.n_svm, seed=seed))
    svm = SVC(kernel="rbf", gamma=config.gamma, C=config.C).fit(x, y)
    ticks = np.linspace(-1.4, 1.4, config.grid)
    grid_x = np.stack(np.meshgrid(ticks, ticks), axis=-1)
    flat = grid_x.reshape(-1, 2)
    by_hand = svm_decision(svm, flat, config.gamma)
    return Result(config=config, poly_dims=np.asarray(dims), poly_error=np.asarray(poly_error),
                  rff_error=rff_error, rff_slope=float(slope), rff_intercept=float(intercept), rff_shown=shown, rff_kernel=kernel.ravel(),
                  rff_gram=np.stack([grams[c] for c in shown]), x=x, y=y, support=svm.support_,
                  dual_coef=svm.dual_coef_[0], intercept=float(svm.intercept_[0]), grid_x=grid_x,
                  decision=by_hand.reshape(config.grid, config.grid),
                  by_hand_error=float(np.abs(by_hand - svm.decision_function(flat)).max()),
                  train_accuracy=float(svm.score(x, y)))
