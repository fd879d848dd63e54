"""Chapter "How the kernel evolves", digit parts (Guo, He & Morel, Figs. 2e-h, 4 and 5).

The networks are GELU MLPs with c logits trained by full-batch Adam on the cross-entropy
(`loss="cross_entropy"`) on scikit-learn's handwritten digits (8 x 8, pixel values / 16).
The tangent kernel of a c-output model is a c x c matrix K_w(x, x') = J_w(x) J_w(x')^T; this
module reads its trace

    T_w(x, x') = tr K_w(x, x') = <J_w(x), J_w(x')>_F,
    Tn_w(x, x') = T_w(x, x') / sqrt(T_w(x, x) T_w(x', x'))              (a cosine),

the kernel of the flattened tangent features (one vector of c P numbers per input).
Distances between inputs are the chordal distances of the normalized features,
d(x, x') = sqrt(2 - 2 Tn_w(x, x')).

* class-ordered kernels: Tn on held-out digits, 10 per class, at initialization and after
  training on all ten classes;
* UMAP: a network trained on digits 0-4 only; UMAP embeddings (umap-learn, precomputed
  distances d, fixed random_state) of held-out digits 0-9 at initialization and after
  training, scored by silhouette and k-nearest-neighbour accuracy separately on the seen
  (0-4) and unseen (5-9) digits, in the feature space and in the embedding;
* printed digits (`pathkernel.data.digits.printed_digits`): Tn between handwritten and
  printed digits, and the confusion matrix of the ten-class network on printed digits.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import confusion_matrix, pairwise_distances, silhouette_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from torch import nn

from pathkernel.data.digits import handwritten_digits, printed_digits
from pathkernel.experiments import Presets, check_device, parameters_device
from pathkernel.kernels import tangent_kernel
from pathkernel.models import MLP
from pathkernel.training import TrainingPath, train

SEEN = tuple(range(5))
FEATURE_SPACES = ("raw pixels", "tangent features at initialization", "tangent features after training")


def normalized_trace_kernel(model: nn.Module, x: torch.Tensor, *, params: torch.Tensor | None = None) -> np.ndarray:
    """Tn_w(x_i, x_j) = tr K_w(x_i, x_j) / sqrt(tr K_w(x_i, x_i) tr K_w(x_j, x_j)), (n, n), from
    `tangent_kernel` (n, n, c, c) at the flat parameters `params` (default the model's own)."""
    kernel = tangent_kernel(model, x, params=params)
    trace = kernel if kernel.dim() == 2 else torch.diagonal(kernel, dim1=2, dim2=3).sum(-1)
    norms = torch.sqrt(torch.diagonal(trace))
    return (trace / (norms[:, None] * norms[None, :])).cpu().numpy()


def chordal_distance(cosine: np.ndarray) -> np.ndarray:
    """sqrt(2 - 2 cos): the Euclidean distance between unit vectors with these cosines (zero diagonal)."""
    distance = np.sqrt(np.clip(2.0 - 2.0 * cosine, 0.0, None))
    np.fill_diagonal(distance, 0.0)
    return distance


def knn_accuracy(distance: np.ndarray, labels: np.ndarray, *, k: int, folds: int, seed: int) -> float:
    """Mean accuracy of a k-nearest-neighbour classifier on precomputed distances (n, n),
    by stratified `folds`-fold cross-validation (shuffled with `seed`)."""
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    classifier = KNeighborsClassifier(k, metric="precomputed")
    return float(cross_val_score(classifier, distance, labels, cv=split).mean())


@functools.cache
def _cache_umap_compilation() -> None:
    """Let numba keep umap-learn's compiled functions on disk.

    umap-learn compiles its numba functions at the first fit of every process (about 10 s of
    CPU, measured: 10.7 s for the first fit of 400 points, 0.5 s for the next) and, unlike
    pynndescent, does not ask numba to cache them, so ``NUMBA_CACHE_DIR`` alone changes
    nothing. Enabling numba's cache on those dispatchers stores the compiled code beside
    umap's sources (or in ``NUMBA_CACHE_DIR``): later processes load it (measured: the first
    fit of a second process 0.5 s). Numba checks the source file's time stamp, so a new
    umap-learn recompiles; where no cache location is writable, nothing changes.
    """
    import umap.layouts
    import umap.umap_
    from numba.core.dispatcher import Dispatcher

    for module in (umap.umap_, umap.layouts):
        for function in vars(module).values():
            if isinstance(function, Dispatcher):
                try:
                    function.enable_caching()
                except RuntimeError:  # no writable cache location: compile in every process, as before
                    return


def umap_embedding(distance: np.ndarray, *, n_neighbors: int, seed: int) -> np.ndarray:
    """2D UMAP embedding (n, 2) of points given by their distance matrix (n, n).

    The exact n_neighbors nearest neighbours (the point itself first) come from scikit-learn
    and are handed to umap-learn as ``precomputed_knn``; ``random_state=seed`` makes the
    layout deterministic (and single-threaded). A UMAP fit resets the OpenMP thread count
    that torch shares (measured: 1 -> 2, and training afterwards ran 15x slower on a busy
    machine), so torch's thread count is restored afterwards. umap-learn's numba compilation
    is cached on disk (`_cache_umap_compilation`).
    """
    import umap  # umap-learn: imported here, its numba compilation is paid only when used

    if distance.ndim != 2 or distance.shape[0] != distance.shape[1] or not 2 <= n_neighbors <= distance.shape[0]:
        raise ValueError(f"distance must be a square (n, n) matrix and n_neighbors in [2, n]; got shape "
                         f"{distance.shape} and n_neighbors={n_neighbors}")
    _cache_umap_compilation()
    search = NearestNeighbors(n_neighbors=n_neighbors, metric="precomputed").fit(distance)
    distances, indices = search.kneighbors(distance)
    reducer = umap.UMAP(n_neighbors=n_neighbors, metric="precomputed", random_state=seed,
                        precomputed_knn=(indices, distances, None))
    threads = torch.get_num_threads()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(precomputed|n_jobs|random_state).*")
            return reducer.fit_transform(distance).astype(np.float64)
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class Config(Presets):
    """Sizes of the digit experiments.

    per_class: training images per class; show: held-out images per class in the
    class-ordered kernel matrices (and per digit in the handwritten / printed blocks);
    umap_per_class: held-out images per class embedded by UMAP; printed_per_digit: printed
    digits per digit for the confusion matrix (the first `show` go into the blocks). Networks:
    `MLP(64, width, depth, out_dim=c, activation)` trained `steps` steps of full-batch Adam at
    `lr` on the cross-entropy. n_neighbors: UMAP's neighbourhood size; knn, folds: the
    k-nearest-neighbour score.
    """

    scale: str
    per_class: int
    show: int
    umap_per_class: int
    printed_per_digit: int
    width: int
    steps: int
    lr: float = 0.01
    depth: int = 3
    activation: str = "gelu"
    n_neighbors: int = 15
    knn: int = 5
    folds: int = 5

    def __post_init__(self) -> None:
        if self.show > self.printed_per_digit:
            raise ValueError(f"show={self.show} must be <= printed_per_digit={self.printed_per_digit}")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", per_class=30, show=10, umap_per_class=40, printed_per_digit=24, width=64, steps=300)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", per_class=100, show=10, umap_per_class=70, printed_per_digit=60, width=256,
                   steps=1000)


@dataclass
class Result:
    """Arrays of the digit experiments (Tn: `normalized_trace_kernel`).

    Ten-class network: train_accuracy, test_accuracy (held-out handwritten, every image not
    trained on); show_labels (10 show,) and class_kernel (2, 10 show, 10 show) Tn at
    [initialization, trained], ordered by class; class_contrast (2, 2): mean Tn within
    classes and between classes (off-diagonal pairs) at [init, trained].
    Printed digits: mixed_labels (20 show,), mixed_printed (20 show,) bool, ordered as
    handwritten 0, printed 0, handwritten 1, ...; mixed_kernel (2, 20 show, 20 show) at
    [init, trained]; cross_contrast (2, 2): mean Tn between a handwritten and a printed image
    of the same digit and of different digits, at [init, trained]; printed_accuracy and
    confusion (10, 10) (rows: true digit, columns: predicted) over printed_per_digit per digit;
    printed_examples, handwritten_examples (10, 64) one of each digit (0..16 scale).
    UMAP (network trained on `SEEN` = digits 0-4): umap_labels (m,), embeddings (3, m, 2)
    [initialization, trained, trained] where the second row holds the embedding of the seen
    digits only (first m_seen rows; NaN after); feature_silhouette, feature_knn (3, 2) for
    `FEATURE_SPACES` x [seen, unseen]; embedding_silhouette, embedding_knn (2, 2) for the
    all-digit embeddings [init, trained] x [seen, unseen]; seen_test_accuracy.
    """

    config: Config
    train_accuracy: float
    test_accuracy: float
    show_labels: np.ndarray
    class_kernel: np.ndarray
    class_contrast: np.ndarray
    mixed_labels: np.ndarray
    mixed_printed: np.ndarray
    mixed_kernel: np.ndarray
    cross_contrast: np.ndarray
    printed_accuracy: float
    confusion: np.ndarray
    printed_examples: np.ndarray
    handwritten_examples: np.ndarray
    umap_labels: np.ndarray
    embeddings: np.ndarray
    feature_silhouette: np.ndarray
    feature_knn: np.ndarray
    embedding_silhouette: np.ndarray
    embedding_knn: np.ndarray
    seen_test_accuracy: float


def fit(x: torch.Tensor, labels: torch.Tensor, classes: int, config: Config, seed: int) -> TrainingPath:
    """A fresh `MLP(64, width, depth, out_dim=classes)` (float64, seed `seed`) trained by
    full-batch Adam on the cross-entropy, on x's device; returns its path (the model holds theta_T)."""
    model = MLP(x.shape[1], config.width, config.depth, out_dim=classes, activation=config.activation, seed=seed,
                dtype=torch.float64).to(x.device)
    return train(model, x, labels, lr=config.lr, steps=config.steps, optimizer="adam", loss="cross_entropy")


def accuracy(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of inputs x (n, d) whose largest logit (model output (n, c)) is their label (n,),
    computed on the model's device."""
    device = parameters_device(model)
    with torch.no_grad():
        return (model(x.to(device)).argmax(1) == labels.to(device)).double().mean().item()


def block_means(kernel: np.ndarray, same: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(2,): [mean of kernel over mask & same, mean over mask & ~same]; kernel, same, mask (n, n)."""
    return np.array([kernel[mask & same].mean(), kernel[mask & ~same].mean()])


def _class_kernels(config: Config, seed: int, device: torch.device) -> dict:
    x, y, index = handwritten_digits(per_class=config.per_class, seed=seed)
    path = fit((x / 16).to(device), y.to(device), 10, config, seed)
    model = path.model
    rest, rest_y, _ = handwritten_digits(exclude=index)
    shown, shown_y, _ = handwritten_digits(per_class=config.show, exclude=index, seed=seed + 2)
    printed, printed_y = printed_digits(config.printed_per_digit, seed=seed)
    ends = (path.params[0].to(device), path.params[-1].to(device))
    class_kernel = np.stack([normalized_trace_kernel(model, (shown / 16).to(device), params=theta) for theta in ends])
    same = (shown_y[:, None] == shown_y[None, :]).numpy()
    off_diagonal = ~np.eye(len(shown_y), dtype=bool)
    blocks = [torch.cat([shown[shown_y == d], printed[printed_y == d][: config.show]]) for d in range(10)]
    mixed = torch.cat(blocks)
    mixed_labels = np.repeat(np.arange(10), 2 * config.show)
    mixed_printed = np.tile(np.repeat([False, True], config.show), 10)
    mixed_kernel = np.stack([normalized_trace_kernel(model, (mixed / 16).to(device), params=theta) for theta in ends])
    cross = mixed_printed[:, None] != mixed_printed[None, :]
    mixed_same = mixed_labels[:, None] == mixed_labels[None, :]
    with torch.no_grad():
        predicted = model((printed / 16).to(device)).argmax(1).cpu().numpy()
    return dict(
        train_accuracy=accuracy(model, x / 16, y), test_accuracy=accuracy(model, rest / 16, rest_y),
        show_labels=shown_y.numpy(), class_kernel=class_kernel,
        class_contrast=np.stack([block_means(k, same, off_diagonal) for k in class_kernel]),
        mixed_labels=mixed_labels, mixed_printed=mixed_printed, mixed_kernel=mixed_kernel,
        cross_contrast=np.stack([block_means(k, mixed_same, cross) for k in mixed_kernel]),
        printed_accuracy=float(np.mean(predicted == printed_y.numpy())),
        confusion=confusion_matrix(printed_y.numpy(), predicted, labels=np.arange(10)),
        printed_examples=printed[:: config.printed_per_digit].numpy(),
        handwritten_examples=shown[:: config.show].numpy(),
    )


def _scores(distance: np.ndarray, labels: np.ndarray, seen: np.ndarray, config: Config, seed: int):
    """(silhouette, kNN accuracy), each (2,) for [seen, unseen], on a distance matrix."""
    silhouette, knn = [], []
    for group in (seen, ~seen):
        d = distance[np.ix_(group, group)]
        silhouette.append(silhouette_score(d, labels[group], metric="precomputed"))
        knn.append(knn_accuracy(d, labels[group], k=config.knn, folds=config.folds, seed=seed))
    return np.array(silhouette), np.array(knn)


def _umap(config: Config, seed: int, device: torch.device) -> dict:
    x, y, index = handwritten_digits(SEEN, per_class=config.per_class, seed=seed)
    path = fit((x / 16).to(device), y.to(device), len(SEEN), config, seed)
    rest, rest_y, _ = handwritten_digits(SEEN, exclude=index)
    points, labels, _ = handwritten_digits(per_class=config.umap_per_class, exclude=index, seed=seed + 1)
    labels = labels.numpy()
    seen = np.isin(labels, SEEN)
    distances = [pairwise_distances(points.numpy() / 16)]
    distances += [chordal_distance(normalized_trace_kernel(path.model, (points / 16).to(device),
                                                           params=theta.to(device)))
                  for theta in (path.params[0], path.params[-1])]
    feature_scores = [_scores(d, labels, seen, config, seed) for d in distances]
    embeddings = np.full((3, len(labels), 2), np.nan)
    embeddings[0] = umap_embedding(distances[1], n_neighbors=config.n_neighbors, seed=seed)
    embeddings[1, : seen.sum()] = umap_embedding(distances[2][np.ix_(seen, seen)], n_neighbors=config.n_neighbors,
                                                 seed=seed)
    embeddings[2] = umap_embedding(distances[2], n_neighbors=config.n_neighbors, seed=seed)
    embedding_scores = [_scores(pairwise_distances(e), labels, seen, config, seed) for e in embeddings[[0, 2]]]
    return dict(
        umap_labels=labels, embeddings=embeddings,
        feature_silhouette=np.stack([s for s, _ in feature_scores]),
        feature_knn=np.stack([k for _, k in feature_scores]),
        embedding_silhouette=np.stack([s for s, _ in embedding_scores]),
        embedding_knn=np.stack([k for _, k in embedding_scores]),
        seen_test_accuracy=accuracy(path.model, rest / 16, rest_y),
    )


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Both digit experiments with data and network seed `seed`. Digits loaded on the CPU;
    networks and kernels computed on `device`; UMAP and scikit-learn scores on the CPU."""
    device = check_device(device)
    return Result(config=config, **_class_kernels(config, seed, device), **_umap(config, seed, device))
