"""Chapter "How the kernel evolves", seen and unseen digits (Guo, He & Morel, Fig. 4).

A GELU MLP with five logits is trained by full-batch Adam on the cross-entropy on the
handwritten digits 0-4 only (`SEEN`). Held-out digits 0-9 are compared through their
normalized flattened tangent features, at the chordal distance

    d(x, x') = sqrt(2 - 2 Tn_w(x, x'))     (Tn: `digits.normalized_trace_kernel`),

embedded in the plane by UMAP (umap-learn, precomputed distances, fixed random_state) at
initialization and after training, and scored by silhouette and k-nearest-neighbour accuracy
separately on the seen (0-4) and unseen (5-9) digits, in the feature space (raw pixels as a
baseline) and in the embedding.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from sklearn.metrics import pairwise_distances, silhouette_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from pathkernel.data.digits import handwritten_digits
from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.kernel_evolution.digits import accuracy, fit, normalized_trace_kernel

SEEN = tuple(range(5))
FEATURE_SPACES = ("raw pixels", "tangent features at initialization", "tangent features after training")
#: the rows of `Result.feature_silhouette` / `feature_knn` and of the embeddings' scores, by glue name
SPACES, EMBEDDINGS, GROUPS = ("raw", "init", "end"), ("init", "end"), ("seen", "unseen")


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
    import umap  # umap-learn (absolute import, not this module): its numba compilation is paid only when used

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
    """Sizes: per_class training images per seen class; embedded_per_class: held-out images per
    class (0-9) embedded by UMAP. Network: `MLP(64, width, depth, out_dim=5, activation)` trained
    `steps` steps of full-batch Adam at `lr` on the cross-entropy. n_neighbors: UMAP's
    neighbourhood size; knn, folds: the k-nearest-neighbour score.
    """

    scale: str
    per_class: int
    embedded_per_class: int
    width: int
    steps: int
    lr: float = 0.01
    depth: int = 3
    activation: str = "gelu"
    n_neighbors: int = 15
    knn: int = 5
    folds: int = 5

    sources: ClassVar[dict[str, str]] = {
        "per_class": "ours: the digits study's training images per class (Guo et al. give no size in our copy)",
        "embedded_per_class": "ours: Guo et al. do not say how many digits Fig. 4 embeds",
        "width": "ours: the digits study's network (Guo et al.'s is not in our copy)",
        "steps": "ours: Guo et al. Fig. 4 shows 'the 200-th epoch' of SGD on MNIST; ours are full-batch Adam steps",
        "lr": "ours: Adam's step, not in Guo et al.",
        "depth": "ours: the digits study's network (Guo et al.'s is not in our copy)",
        "activation": "ours: the digits study's network (Guo et al.'s is not in our copy)",
        "n_neighbors": "ours: umap-learn's default neighbourhood size",
        "knn": "ours: the scores are not in Guo et al.; a common k for a nearest-neighbour vote",
        "folds": "ours: the scores are not in Guo et al.; a usual number of cross-validation folds",
    }

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", per_class=30, embedded_per_class=40, width=64, steps=300)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", per_class=100, embedded_per_class=70, width=256, steps=1000)


@dataclass
class Result:
    """Embeddings and scores of the network trained on `SEEN` = digits 0-4.

    labels (m,) of the embedded held-out digits; embeddings (3, m, 2) [initialization, trained,
    trained] where the second row holds the embedding of the seen digits only (first m_seen
    rows; NaN after); feature_silhouette, feature_knn (3, 2) for `FEATURE_SPACES` x [seen,
    unseen]; embedding_silhouette, embedding_knn (2, 2) for the all-digit embeddings [init,
    trained] x [seen, unseen]; seen_test_accuracy on every held-out image of digits 0-4.
    """

    config: Config
    labels: np.ndarray
    embeddings: np.ndarray
    feature_silhouette: np.ndarray
    feature_knn: np.ndarray
    embedding_silhouette: np.ndarray
    embedding_knn: np.ndarray
    seen_test_accuracy: float


def _scores(distance: np.ndarray, labels: np.ndarray, seen: np.ndarray, config: Config, seed: int):
    """(silhouette, kNN accuracy), each (2,) for [seen, unseen], on a distance matrix."""
    silhouette, knn = [], []
    for group in (seen, ~seen):
        d = distance[np.ix_(group, group)]
        silhouette.append(silhouette_score(d, labels[group], metric="precomputed"))
        knn.append(knn_accuracy(d, labels[group], k=config.knn, folds=config.folds, seed=seed))
    return np.array(silhouette), np.array(knn)


def _digit_range(digits: list[int]) -> str:
    """"0–4" for consecutive digits 0..4, else the digits listed ("0, 2, 5")."""
    if digits == list(range(digits[0], digits[-1] + 1)):
        return f"{digits[0]}–{digits[-1]}"
    return ", ".join(map(str, digits))


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers, by glue name: the held-out accuracy on the seen digits, the seen,
    unseen and all embedded digits ("0–4"), k and the folds of the nearest-neighbour score, the
    silhouettes and nearest-neighbour accuracies of the seen and unseen digits in each feature
    space (kernelevolution-sil-<space>-<group>, -knn-...) and embedding (-esil-<when>-<group>)."""
    seen = [int(d) for d in np.unique(result.labels) if d in SEEN]
    unseen = [int(d) for d in np.unique(result.labels) if d not in SEEN]
    values = {"kernelevolution-seen-acc": f"{result.seen_test_accuracy:.0%}",
              "kernelevolution-seen-digits": _digit_range(seen), "kernelevolution-unseen-digits": _digit_range(unseen),
              "kernelevolution-all-digits": _digit_range(seen + unseen),
              "kernelevolution-knn": f"{result.config.knn}", "kernelevolution-folds": f"{result.config.folds}"}
    for k, space in enumerate(SPACES):
        for j, group in enumerate(GROUPS):
            values[f"kernelevolution-sil-{space}-{group}"] = f"{result.feature_silhouette[k, j]:.2f}"
            values[f"kernelevolution-knn-{space}-{group}"] = f"{result.feature_knn[k, j]:.0%}"
    for k, when in enumerate(EMBEDDINGS):
        for j, group in enumerate(GROUPS):
            values[f"kernelevolution-esil-{when}-{group}"] = f"{result.embedding_silhouette[k, j]:.2f}"
    return values


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Train on the seen digits (data and network seed `seed`, embedded digits seed + 1), embed
    and score. Digits loaded on the CPU; the network and kernels computed on `device`; UMAP and
    scikit-learn scores on the CPU."""
    device = check_device(device)
    x, y, index = handwritten_digits(SEEN, per_class=config.per_class, seed=seed)
    path = fit((x / 16).to(device), y.to(device), len(SEEN), config, seed)
    rest, rest_y, _ = handwritten_digits(SEEN, exclude=index)
    points, labels, _ = handwritten_digits(per_class=config.embedded_per_class, exclude=index, seed=seed + 1)
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
    return Result(
        config=config, labels=labels, embeddings=embeddings,
        feature_silhouette=np.stack([s for s, _ in feature_scores]),
        feature_knn=np.stack([k for _, k in feature_scores]),
        embedding_silhouette=np.stack([s for s, _ in embedding_scores]),
        embedding_knn=np.stack([k for _, k in embedding_scores]),
        seen_test_accuracy=accuracy(path.model, rest / 16, rest_y),
    )
