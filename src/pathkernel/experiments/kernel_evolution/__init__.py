"""Chapter "How the kernel evolves" (notebooks/kernel_evolution.md), one module per study:

* `neighbourhoods`: kernel neighbourhoods of anchors on the disk / circle task and their label
  homogeneity (Guo, He & Morel, Fig. 1);
* `waves`: the normalized kernel of the regressions of sin x and of a square wave (Fig. 2a-d);
* `svms`: a linear SVM on tangent features against an RBF SVM on the inputs, circle and
  ellipse (Fig. 3);
* `digits`: the ten-class network's trace kernel on handwritten digits ordered by class, and
  on printed digits (Figs. 2e-h and 5);
* `umap`: UMAP of the tangent features of a network trained on the digits 0-4 (Fig. 4);
* `common`: the planar network trained by Adam, and the points of a box.

The old entry points of ``pathkernel.experiments.kernel_evolution`` keep working: `Config`
(the sizes of the three planar and 1D studies, old field names and presets), ``run(config,
seed=0, *, device="cpu")`` runs the three studies and returns a `Result` of their results
whose old field names (``wave_kernel``, ``svm_decision``, ...) still read, and the old helpers
are re-exported. ``pathkernel.experiments.kernel_evolution_digits`` does the same for the digit
studies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.kernel_evolution import common, digits, neighbourhoods, svms, umap, waves
from pathkernel.experiments.kernel_evolution.common import box_grid, fit
from pathkernel.experiments.kernel_evolution.neighbourhoods import ANCHORS, disk_label
from pathkernel.experiments.kernel_evolution.svms import ELLIPSE_STRETCH, TASKS, anisotropic

__all__ = ["ANCHORS", "ELLIPSE_STRETCH", "TASKS", "Config", "Result", "anisotropic", "box_grid", "common",
           "digits", "disk_label", "fit", "neighbourhoods", "run", "svms", "umap", "waves"]


class StudyResults:
    """The results of several studies under one name, read through their old field names.

    A subclass is a dataclass with one field per study result; `OLD` maps an old field name
    to (study field, field of that study's Result).
    """

    OLD: ClassVar[dict[str, tuple[str, str]]] = {}

    def __getattr__(self, name: str) -> Any:
        if name in type(self).OLD:
            study, field = type(self).OLD[name]
            return getattr(getattr(self, study), field)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


@dataclass(frozen=True)
class Config(Presets):
    """The old sizes of the three studies, one config: `studies()` splits it into
    `neighbourhoods.Config`, `waves.Config` (wave_n -> n, wave_steps -> steps, wave_lr -> lr,
    wave_grid -> grid) and `svms.Config` (svm_n -> n, svm_test -> n_test, svm_steps -> steps,
    svm_r2 -> r2; lr shared with the neighbourhoods)."""

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
        self.studies()  # the studies' own checks

    def studies(self) -> tuple[neighbourhoods.Config, waves.Config, svms.Config]:
        """The three studies' configs (equal to their presets when this is a preset)."""
        network = dict(scale=self.scale, width=self.width, depth=self.depth, activation=self.activation)
        return (neighbourhoods.Config(n=self.n, queries=self.queries, k=self.k, steps=self.steps, grid=self.grid,
                                      lr=self.lr, r2=self.r2, anchors=self.anchors, **network),
                waves.Config(n=self.wave_n, steps=self.wave_steps, lr=self.wave_lr, grid=self.wave_grid, **network),
                svms.Config(n=self.svm_n, n_test=self.svm_test, steps=self.svm_steps, grid=self.grid, lr=self.lr,
                            r2=self.svm_r2, C=self.C, **network))

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", n=300, queries=200, k=30, steps=300, wave_n=40, wave_steps=600, svm_n=150,
                   svm_test=1000, svm_steps=400, width=48, grid=80)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", n=1000, queries=1000, k=100, steps=1000, wave_n=100, wave_steps=1000, svm_n=150,
                   svm_test=5000, svm_steps=1000, width=128, grid=200)


_WAVES = ("x", "y", "grid", "truth", "prediction", "kernel", "rmse")
_SVMS = ("x", "y", "grid_x", "grid_y", "decision")


@dataclass
class Result(StudyResults):
    """The three studies' results; the old flat field names read through (`OLD`)."""

    config: Config
    neighbourhoods: neighbourhoods.Result
    waves: waves.Result
    svms: svms.Result

    OLD: ClassVar[dict[str, tuple[str, str]]] = {
        **{name: ("neighbourhoods", name) for name in (
            "x", "y", "anchors", "anchor_labels", "checkpoints", "neighbours", "euclidean", "homogeneity",
            "euclidean_homogeneity", "mean_homogeneity", "euclidean_mean_homogeneity", "test_accuracy", "grid_x",
            "grid_y", "grid_f")},
        **{f"wave_{name}": ("waves", name) for name in _WAVES},
        **{f"svm_{name}": ("svms", name) for name in _SVMS},
        "accuracies": ("svms", "accuracies"), "train_accuracy": ("svms", "train_accuracy"),
    }


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """The three studies with data and network seeds `seed` (test points: seed + 1), as before
    the split: ``Result(config, neighbourhoods.run(...), waves.run(...), svms.run(...))``."""
    device = check_device(device)
    planar, regression, classification = config.studies()
    return Result(config=config, neighbourhoods=neighbourhoods.run(planar, seed, device=device),
                  waves=waves.run(regression, seed, device=device), svms=svms.run(classification, seed, device=device))
