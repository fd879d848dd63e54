"""Old name of the digit studies of `pathkernel.experiments.kernel_evolution` (`digits` and
`umap`), kept so that existing imports keep working.

`Config` holds the old sizes of both studies (old field names and presets; `studies()` splits
it), ``run(config, seed=0, *, device="cpu")`` runs both and returns a `Result` whose old field
names (``class_kernel``, ``umap_labels``, ...) still read, and the old helpers are re-exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.kernel_evolution import StudyResults, digits, umap
from pathkernel.experiments.kernel_evolution.digits import accuracy, block_means, fit, normalized_trace_kernel
from pathkernel.experiments.kernel_evolution.umap import (FEATURE_SPACES, SEEN, chordal_distance, knn_accuracy,
                                                          umap_embedding)

__all__ = ["FEATURE_SPACES", "SEEN", "Config", "Result", "accuracy", "block_means", "chordal_distance", "fit",
           "knn_accuracy", "normalized_trace_kernel", "run", "umap_embedding"]


@dataclass(frozen=True)
class Config(Presets):
    """The old sizes of the digit studies, one config: `studies()` splits it into `digits.Config`
    and `umap.Config` (umap_per_class -> embedded_per_class)."""

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
        self.studies()  # the studies' own checks

    def studies(self) -> tuple[digits.Config, umap.Config]:
        """The two studies' configs (equal to their presets when this is a preset)."""
        network = dict(scale=self.scale, per_class=self.per_class, width=self.width, steps=self.steps, lr=self.lr,
                       depth=self.depth, activation=self.activation)
        return (digits.Config(show=self.show, printed_per_digit=self.printed_per_digit, **network),
                umap.Config(embedded_per_class=self.umap_per_class, n_neighbors=self.n_neighbors, knn=self.knn,
                            folds=self.folds, **network))

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", per_class=30, show=10, umap_per_class=40, printed_per_digit=24, width=64, steps=300)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", per_class=100, show=10, umap_per_class=70, printed_per_digit=60, width=256,
                   steps=1000)


@dataclass
class Result(StudyResults):
    """The two studies' results; the old flat field names read through (`OLD`)."""

    config: Config
    digits: digits.Result
    umap: umap.Result

    OLD: ClassVar[dict[str, tuple[str, str]]] = {
        **{name: ("digits", name) for name in (
            "train_accuracy", "test_accuracy", "show_labels", "class_kernel", "class_contrast", "mixed_labels",
            "mixed_printed", "mixed_kernel", "cross_contrast", "printed_accuracy", "confusion", "printed_examples",
            "handwritten_examples")},
        **{name: ("umap", name) for name in (
            "embeddings", "feature_silhouette", "feature_knn", "embedding_silhouette", "embedding_knn",
            "seen_test_accuracy")},
        "umap_labels": ("umap", "labels"),
    }


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Both digit studies with data and network seed `seed`, as before the split."""
    device = check_device(device)
    classes, embedding = config.studies()
    return Result(config=config, digits=digits.run(classes, seed, device=device),
                  umap=umap.run(embedding, seed, device=device))
