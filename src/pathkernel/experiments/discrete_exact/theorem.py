"""Chapter "Domingos' theorem, discrete and exact", study "theorem": the remainder of Theorem 2 against lr.

The ball/sphere data set, a GELU MLP and full-batch gradient descent run to the same
time t = lr * steps for several learning rates, all from the same theta_0: the paths
approach one gradient flow as lr -> 0. For each lr the largest |residual| of Theorem 2
over query points is recorded, with and without the exact segment-averaged kernel, with
the refinement the exact form's quadrature needed, and, at the path's longest step, how far
the segment kernel Kbar_k is from a symmetric positive semi-definite kernel on the training
inputs (`segment_kernel`). (Old name: ``pathkernel.experiments.discrete_theorem``, an alias of this module.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from pathkernel.data import ball_sphere
from pathkernel.decomposition import domingos
from pathkernel.experiments import Presets, check_device
from pathkernel.models import MLP
from pathkernel.training import TrainingPath, train
from pathkernel.validation import integer


@dataclass(frozen=True)
class Config(Presets):
    """Sizes of the experiment (the paper gives none for this check: ours are stated here)."""

    sources: ClassVar[dict[str, str]] = {
        "n": "ours: the number of points of Courtois et al. §5.1 is lost in our copy",
        "width": "ours: the width of Courtois et al. §5.1 is lost in our copy",
        "time": "ours: one training time t = lr x steps for every learning rate, so the paths approach one flow",
        "lrs": "ours: halvings of the learning rate, from large steps to small ones, to measure the order of the remainder",
        "n_query": "ours: query points spread over the disk of query_radius",
        "depth": "Courtois et al. §5.1: 'We used the 3-layers neural network'",
        "activation": "Courtois et al. §5.1: 'The GELU function ... is applied component-wise'",
        "fit_max_lr": "ours: the slope is fitted on the smaller learning rates, where a first-order remainder is expected",
        "query_radius": "ours: a disk holding the data (radius 1) and points outside it",
        "nodes": "ours: Gauss-Legendre nodes per piece of the exact form's quadrature (refined where a step needs it)",
    }

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
    scale against which a residual is round-off. refined: fraction of the steps whose
    exact-form quadrature needed more than one piece; pieces: the most pieces (2**level)
    any step needed. At the path's longest step k (length longest_step = ||Delta_k||), on
    the training inputs: asymmetry = ||Kbar_k - Kbar_k^T||_F / ||Kbar_k||_F, and the
    smallest eigenvalue, divided by the largest, of the symmetric part (Kbar_k + Kbar_k^T) / 2
    (segment_eigenvalue) and of the tangent kernel K_{w_k} (tangent_eigenvalue: positive
    semi-definite, so its value is round-off). loss_rises: fraction of the steps k < T - 1
    with L(w_{k+1}) > L(w_k) (the path records L(w_0..w_{T-1}); 0 when the loss never rises).
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
    refined: np.ndarray
    pieces: np.ndarray
    longest_step: np.ndarray
    asymmetry: np.ndarray
    segment_eigenvalue: np.ndarray
    tangent_eigenvalue: np.ndarray
    loss_rises: np.ndarray


def query_points(n: int, radius: float, seed: int) -> torch.Tensor:
    """n points uniform in the disk of the given radius (inside and outside the data's sphere); other
    chapters' experiments draw their query points here too."""
    generator = torch.Generator().manual_seed(seed)
    angle = 2 * torch.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    r = radius * torch.rand(n, generator=generator, dtype=torch.float64).sqrt()
    return torch.stack([r * torch.cos(angle), r * torch.sin(angle)], dim=1)


def segment_kernel(path: TrainingPath, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(Kbar_k, K_k), each (n, n), on the training inputs of a scalar-output gradient-descent path.

    Kbar_k[j, i] = <int_0^1 grad f(w_k + s Delta_k, x_j) ds, grad f(w_k, x_i)> is the segment
    kernel of the exact form and K_k[j, i] = K_{w_k}(x_j, x_i) the tangent kernel of Theorem 2:
    the path kernels of the one-step path [w_k, w_{k+1}] in the two forms, divided by lr_k.
    """
    k = integer("k", k, low=0, high=path.steps - 1)
    if path.optimizer != "gd" or path.batches is not None:
        raise ValueError(f"segment_kernel needs a full-batch gradient-descent path, not optimizer={path.optimizer!r}"
                         f"{' on mini-batches' if path.batches is not None else ''}")
    step = dataclasses.replace(path, params=path.params[k : k + 2], lrs=path.lrs[k : k + 1],
                               losses=path.losses[k : k + 1])
    lr = path.lrs[k]
    exact = domingos(step, path.x, exact=True, per_sample=True).path_kernel / lr
    if exact.dim() != 2:
        raise ValueError(f"segment_kernel needs a scalar-output model; this path's kernel has shape {tuple(exact.shape)}")
    tangent = domingos(step, path.x, per_sample=True).path_kernel / lr
    return exact, tangent


def extreme_eigenvalue_ratio(kernel: torch.Tensor) -> float:
    """Smallest eigenvalue of the symmetric part (K + K^T) / 2 of an (n, n) kernel, divided by its largest."""
    eigenvalues = torch.linalg.eigvalsh((kernel + kernel.T) / 2)
    return (eigenvalues[0] / eigenvalues[-1]).item()


def numbers(result: Result) -> dict[str, str | int]:
    """The chapter's numbers for Theorem 2, by glue name: the scale, the fitted slope and the largest
    lr it is fitted on, the largest exact-form remainder (absolute, and relative to the largest
    prediction at that lr), the quadrature's refinement (the largest fraction of refined steps
    at the fitted lrs, that fraction at the largest lr, the most pieces at any lr), the
    segment kernel's relative asymmetry at the smallest and the largest lr, the most negative
    relative eigenvalue of its symmetric part over the lrs and, at that lr, that of the tangent
    kernel (round-off), and the paper preset's sizes. Above the fit: the largest lr at which the loss
    never rose, the fraction of rising steps and the remainder relative to the largest prediction at the
    largest lr; and the depth and the query radius of the configuration."""
    paper = Config.paper()
    fitted = result.lrs <= result.config.fit_max_lr
    largest = int(np.argmax(result.lrs))
    negative = int(np.argmin(result.segment_eigenvalue))
    monotone = result.lrs[result.loss_rises == 0]
    return {
        "discrete-scale": result.config.scale,
        "discrete-depth": result.config.depth,
        "discrete-query-radius": f"{result.config.query_radius:g}",
        "discrete-monotone-max": f"{monotone.max():g}" if monotone.size else "none",
        "discrete-rises-largest": f"{result.loss_rises[largest]:.1%}",
        "discrete-remainder-largest": f"{result.residual[largest] / result.prediction_max[largest]:.1f}",
        "discrete-slope": f"{result.slope:.2f}",
        "discrete-fit-max": f"{result.config.fit_max_lr:g}",
        "discrete-exact-max": f"{result.residual_exact.max():.1e}",
        "discrete-exact-relative": f"{(result.residual_exact / result.prediction_max).max():.0e}",
        "discrete-refined-fit": f"{result.refined[fitted].max():.0%}",
        "discrete-refined-largest": f"{result.refined[largest]:.0%}",
        "discrete-pieces-max": int(result.pieces.max()),
        "discrete-asymmetry-small": f"{result.asymmetry[int(np.argmin(result.lrs))]:.1e}",
        "discrete-asymmetry-large": f"{result.asymmetry[largest]:.1e}",
        "discrete-segment-eigenvalue": f"{result.segment_eigenvalue[negative]:.0e}",
        "discrete-tangent-eigenvalue": f"{result.tangent_eigenvalue[negative]:.0e}",
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
    steps, losses, rises, plain, exact, scale, refined, pieces, kernels = [], [], [], [], [], [], [], [], []
    for lr in config.lrs:
        model = MLP(2, config.width, config.depth, activation=config.activation, seed=seed,
                    dtype=torch.float64).to(device)
        path = train(model, x, y, lr=lr, steps=max(1, round(config.time / lr)))
        steps.append(path.steps)
        losses.append(path.losses[-1].item())
        rises.append((path.losses[1:] > path.losses[:-1]).double().mean().item() if path.steps > 1 else 0.0)
        dec = domingos(path, xq)
        plain.append(dec.residual.abs().max().item())
        scale.append(dec.prediction.abs().max().item())
        exact_dec = domingos(path, xq, exact=True, nodes=config.nodes)
        exact.append(exact_dec.residual.abs().max().item())
        refined.append((exact_dec.quadrature_levels > 0).double().mean().item())
        pieces.append(2 ** int(exact_dec.quadrature_levels.max()))
        lengths = (path.params[1:] - path.params[:-1]).norm(dim=1)
        longest = int(lengths.argmax())
        segment, tangent = segment_kernel(path, longest)
        kernels.append((lengths[longest].item(), ((segment - segment.T).norm() / segment.norm()).item(),
                        extreme_eigenvalue_ratio(segment), extreme_eigenvalue_ratio(tangent)))
    lrs = np.asarray(config.lrs)
    fitted = lrs <= config.fit_max_lr
    slope, intercept = np.polyfit(np.log(lrs[fitted]), np.log(np.asarray(plain)[fitted]), 1)
    longest_step, asymmetry, segment_eigenvalue, tangent_eigenvalue = np.asarray(kernels).T
    return Result(config=config, lrs=lrs, steps=np.asarray(steps), final_loss=np.asarray(losses),
                  residual=np.asarray(plain), residual_exact=np.asarray(exact),
                  prediction_max=np.asarray(scale), slope=float(slope),
                  intercept=float(intercept), refined=np.asarray(refined), pieces=np.asarray(pieces),
                  longest_step=longest_step, asymmetry=asymmetry, segment_eigenvalue=segment_eigenvalue,
                  tangent_eigenvalue=tangent_eigenvalue, loss_rises=np.asarray(rises))
