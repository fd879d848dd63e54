"""The two-peak study of the chapter "The two-peak task and its tangent kernel"
(Courtois, Morel & Arias §6.3, Figs 11-12).

Inputs: the C(n, 2) sequences of length n with exactly two ones (peaks) i1 < i2; label:
the central pixel c = n // 2 after filling, 1 when i1 <= c <= i2 (`data.planar1d.centre_label`),
used as the target -1/+1. The network is the MLP of §5.1 (3 layers, GELU) with in_dim = n,
trained by full-batch gradient descent with a constant learning rate on the mean squared error
on a random part of the inputs and evaluated on all of them. The paper's n, widths and sizes
were lost: n = 32 by default.

* t-SNE (scikit-learn) of the tangent features phi_w(x) of all inputs at the trained
  parameters, with the peak-position groups of Fig. 12 (both peaks left of c, one peak on c,
  straddling c, both right) and silhouette scores of classes and groups.
* nearest training points of every input under the normalized tangent kernel and under the
  Euclidean distance (`pathkernel.neighbours`): the fraction that share exactly one peak
  with the query and the fraction with the query's label, for k = 1 .. k_max.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score

from pathkernel.data.planar1d import fill, peak_positions, two_peaks
from pathkernel.experiments import Presets, check_device
from pathkernel.kernels import tangent_features
from pathkernel.models import MLP
from pathkernel.neighbours import euclidean_neighbours, kernel_neighbours
from pathkernel.training import train
from pathkernel.validation import integer

GROUPS = ("both left of c", "a peak on c", "straddling c", "both right of c")


@dataclass(frozen=True)
class Config(Presets):
    """Sizes of the study (the paper's were lost; ours are stated: width 64 at both scales).

    n: sequence length (two peaks: C(n, 2) inputs); n_train: the random training part; width,
    depth, activation: the MLP of §5.1; lr, steps: full-batch GD on the MSE to -1/+1 labels.
    perplexity: t-SNE's; k_max: neighbours counted.
    """

    scale: str
    n_train: int
    width: int
    steps: int
    n: int = 32
    depth: int = 3
    activation: str = "gelu"
    lr: float = 0.5
    perplexity: float = 30.0
    k_max: int = 10

    sources: ClassVar[dict[str, str]] = {
        "n_train": "ours: the number of training inputs of §6.3 was lost in our copy; 250 of the 496 inputs",
        "width": "ours: the width of §5.1 was lost in our copy; 64",
        "steps": "ours: the iteration count of §6.3 was lost in our copy",
        "n": "ours: the length n of §6.3 was lost in our copy; 32",
        "depth": "Courtois et al. §5.1: the 3-layer network, reused in §6.3",
        "activation": "Courtois et al. §5.1: GELU",
        "lr": "ours: §6.3 says a constant learning rate, its value was lost in our copy",
        "perplexity": "ours: scikit-learn's default t-SNE perplexity; the paper gives none",
        "k_max": "ours: neighbours counted; §6.3 looks at the closest points only",
    }

    def __post_init__(self) -> None:
        integer("n", self.n, 4)
        integer("n_train", self.n_train, 2, self.n * (self.n - 1) // 2)
        for name in ("width", "steps", "k_max"):
            integer(name, getattr(self, name), 1)

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n_train=150, width=64, steps=600)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n_train=250, width=64, steps=3000)


@dataclass
class Result:
    """x (N, n) all C(n, 2) inputs, filled (N, n) their `fill`, labels (N,) 0/1, peaks (N, 2), group (N,)
    index into GROUPS, train_index (n_train,), losses (steps,), train_accuracy, all_accuracy,
    unseen_accuracy; embedding (N, 2) t-SNE of the tangent features; silhouette_class,
    silhouette_group (on the embedding) and silhouette_class_features (cosine, on the features).
    Neighbours of every input among the training points (the input itself left out), for
    k = 1..k_max: ntk_one_peak, euclid_one_peak (k_max,) fraction of the k nearest sharing
    exactly one peak with the query; ntk_same_label, euclid_same_label (k_max,) with its label;
    euclid_ties: mean number of training points at the smallest Euclidean distance.
    """

    config: Config
    x: np.ndarray
    filled: np.ndarray
    labels: np.ndarray
    peaks: np.ndarray
    group: np.ndarray
    train_index: np.ndarray
    losses: np.ndarray
    train_accuracy: float
    all_accuracy: float
    unseen_accuracy: float
    embedding: np.ndarray
    silhouette_class: float
    silhouette_group: float
    silhouette_class_features: float
    ntk_one_peak: np.ndarray
    euclid_one_peak: np.ndarray
    ntk_same_label: np.ndarray
    euclid_same_label: np.ndarray
    euclid_ties: float


def peak_groups(peaks: torch.Tensor, n: int) -> np.ndarray:
    """Index into GROUPS of each two-peak input: (N,) from its peaks (N, 2), centre c = n // 2."""
    c = n // 2
    i1, i2 = peaks[:, 0].numpy(), peaks[:, 1].numpy()
    return np.select([i2 < c, (i1 == c) | (i2 == c), i1 < c], [0, 1, 2], default=3)


def shared_peaks(peaks_a: torch.Tensor, peaks_b: torch.Tensor) -> torch.Tensor:
    """Number of common peak positions of two inputs: (...) from peaks (..., 2) each."""
    return (peaks_a[..., :, None] == peaks_b[..., None, :]).sum((-1, -2))


def neighbours_without_self(index: torch.Tensor, train_index: torch.Tensor, k: int) -> torch.Tensor:
    """Drop each query from its own neighbour list (queries are all inputs, index (N, k + 1)
    into the training points) and keep k: (N, k)."""
    own = torch.full((index.shape[0],), -1, dtype=torch.long, device=index.device)
    own[train_index.to(index.device)] = torch.arange(len(train_index), device=index.device)
    keep = index != own[:, None]
    return torch.stack([row[mask][:k] for row, mask in zip(index, keep)])


def neighbour_scores(neighbours: torch.Tensor, peaks: torch.Tensor, labels: torch.Tensor,
                     train_index: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(k,) fractions of the first 1..k neighbours sharing exactly one peak / the label with their query."""
    one = (shared_peaks(peaks[:, None, :], peaks[train_index][neighbours]) == 1).double()
    same = (labels[train_index][neighbours] == labels[:, None]).double()
    k = torch.arange(1, neighbours.shape[1] + 1, device=one.device)
    return (one.cumsum(1) / k).mean(0).cpu().numpy(), (same.cumsum(1) / k).mean(0).cpu().numpy()


def accuracy(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of sign(f(x)) equal to the -1/+1 target: x (N, n), target (N,), model output (N, 1);
    x and target on the model's device."""
    with torch.no_grad():
        return (torch.sign(model(x)[:, 0]) == target).double().mean().item()


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers for the two-peak task, by glue name: the scale, the sizes, the
    accuracies, the silhouettes, and the first-neighbour scores (k = 1) with the Euclidean ties."""
    config = result.config
    return {
        "twopeaks-scale": config.scale,
        "twopeaks-n": f"{config.n}",
        "twopeaks-N": f"{len(result.x)}",
        "twopeaks-ntrain": f"{config.n_train}",
        "twopeaks-width": f"{config.width}",
        "twopeaks-lr": f"{config.lr:g}",
        "twopeaks-steps": f"{config.steps}",
        "twopeaks-train-acc": f"{result.train_accuracy:.1%}",
        "twopeaks-all-acc": f"{result.all_accuracy:.1%}",
        "twopeaks-unseen-acc": f"{result.unseen_accuracy:.1%}",
        "twopeaks-sil-class": f"{result.silhouette_class:.2f}",
        "twopeaks-sil-group": f"{result.silhouette_group:.2f}",
        "twopeaks-sil-features": f"{result.silhouette_class_features:.2f}",
        "twopeaks-ntk-one": f"{result.ntk_one_peak[0]:.1%}",
        "twopeaks-euclid-one": f"{result.euclid_one_peak[0]:.1%}",
        "twopeaks-ntk-label": f"{result.ntk_same_label[0]:.1%}",
        "twopeaks-euclid-label": f"{result.euclid_same_label[0]:.1%}",
        "twopeaks-ties": f"{result.euclid_ties:.1f}",
    }


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Train the network on the two-peak inputs; its t-SNE map, silhouettes and neighbours.

    Inputs drawn on the CPU; the network, its kernel and features on `device`; the peak
    bookkeeping, the Euclidean distances and neighbours, t-SNE and silhouettes on the CPU."""
    device = check_device(device)
    x, labels = two_peaks(config.n)
    target = 2 * labels - 1
    train_index = torch.from_numpy(np.sort(np.random.default_rng(seed).permutation(len(x))[: config.n_train]))
    unseen = torch.ones(len(x), dtype=torch.bool)
    unseen[train_index] = False
    x_device, target_device, unseen_device = x.to(device), target.to(device), unseen.to(device)
    x_train, target_train = x_device[train_index.to(device)], target_device[train_index.to(device)]
    model = MLP(config.n, config.width, config.depth, activation=config.activation, seed=seed,
                dtype=x.dtype).to(device)
    path = train(model, x_train, target_train, lr=config.lr, steps=config.steps)
    features = tangent_features(model, x_device).cpu().numpy()
    embedding = TSNE(perplexity=config.perplexity, init="pca", random_state=seed).fit_transform(features)
    peaks = peak_positions(x)
    group = peak_groups(peaks, config.n)
    k = config.k_max
    ntk = neighbours_without_self(kernel_neighbours(model, x_device, x_train, k + 1).cpu(), train_index, k)
    euclid = neighbours_without_self(euclidean_neighbours(x, x[train_index], k + 1), train_index, k)
    distance = torch.cdist(x, x[train_index])
    distance[train_index, torch.arange(len(train_index))] = np.inf
    ntk_one, ntk_same = neighbour_scores(ntk, peaks, labels, train_index)
    euclid_one, euclid_same = neighbour_scores(euclid, peaks, labels, train_index)
    return Result(
        config=config, x=x.numpy(), filled=fill(x).numpy(), labels=labels.numpy(), peaks=peaks.numpy(), group=group, train_index=train_index.numpy(),
        losses=path.losses.cpu().numpy(), train_accuracy=accuracy(model, x_train, target_train),
        all_accuracy=accuracy(model, x_device, target_device),
        unseen_accuracy=accuracy(model, x_device[unseen_device], target_device[unseen_device]),
        embedding=embedding, silhouette_class=float(silhouette_score(embedding, labels.numpy())),
        silhouette_group=float(silhouette_score(embedding, group)),
        silhouette_class_features=float(silhouette_score(features, labels.numpy(), metric="cosine")),
        ntk_one_peak=ntk_one, euclid_one_peak=euclid_one, ntk_same_label=ntk_same, euclid_same_label=euclid_same,
        euclid_ties=(distance == distance.min(1, keepdim=True).values).sum(1).double().mean().item(),
    )
