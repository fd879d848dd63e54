"""Chapter "The two-peak task and its tangent kernel" (notebooks/two_peaks.md), one module per study:

* `two_peak`: the two-peak task, its network, the t-SNE map of its tangent features and the
  nearest neighbours under the normalized tangent kernel and the Euclidean distance
  (figures fig-twopeaks-examples, -tsne, -neighbours);
* `multi_peak`: more than two peaks, full-batch gradient descent against Adam under one budget
  rule at one size and seed, and the exact decomposition of both paths (fig-twopeaks-multipeak);
* `sizes`: the same comparison over training-set sizes and seeds (fig-twopeaks-sizes);
* `budget`: the budget rule both optimizers are trained under, and intervals over seeds.

This package keeps the old entry points of ``pathkernel.experiments.two_peaks`` working: the
combined `Config` (every field of both studies, `quick()` / `paper()` / `from_scale()`),
``run(config, seed=0, *, device="cpu")`` running both studies, and a `Result` whose old field
names still read (forwarded to the two study results); the helpers are re-exported. The sweep
`sizes` is a study of its own, outside the combined entry points.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.two_peaks import budget, multi_peak, sizes, two_peak
from pathkernel.experiments.two_peaks.budget import OPTIMIZERS
from pathkernel.experiments.two_peaks.two_peak import (
    GROUPS,
    accuracy,
    neighbour_scores,
    neighbours_without_self,
    peak_groups,
    shared_peaks,
)

__all__ = ["Config", "Result", "run", "budget", "multi_peak", "sizes", "two_peak", "GROUPS", "OPTIMIZERS", "accuracy",
           "neighbour_scores", "neighbours_without_self", "peak_groups", "shared_peaks"]


@dataclass(frozen=True)
class Config(Presets):
    """The old combined configuration: the fields of `two_peak.Config` and `multi_peak.Config`
    (scale, width, depth and activation are shared); `two_peak()` and `multi_peak()` give the
    studies' configurations, which check the values."""

    scale: str
    n_train: int
    width: int
    steps: int
    multi_train: int
    n: int = 32
    depth: int = 3
    activation: str = "gelu"
    lr: float = 0.5
    perplexity: float = 30.0
    k_max: int = 10
    multi_n: int = 12
    multi_k: int = 4
    lrs: tuple[float, ...] = (1.0, 0.1, 0.01, 0.001)
    target_loss: float = 0.01
    max_steps: int = 2000
    checkpoints: int = 26
    decomposition_queries: int = 20

    def __post_init__(self) -> None:
        self.two_peak()
        self.multi_peak()

    def _study(self, study: Any) -> Any:
        return study.Config(**{field.name: getattr(self, field.name) for field in fields(study.Config)})

    def two_peak(self) -> two_peak.Config:
        return self._study(two_peak)

    def multi_peak(self) -> multi_peak.Config:
        return self._study(multi_peak)

    @classmethod
    def combine(cls, first: two_peak.Config, second: multi_peak.Config) -> "Config":
        """The combined configuration of a two-peak and a multi-peak one (shared fields must agree)."""
        a, b = asdict(first), asdict(second)
        clash = {name for name in a.keys() & b.keys() if a[name] != b[name]}
        if clash:
            raise ValueError(f"the two studies' configurations differ in {sorted(clash)}")
        return cls(**a, **{name: value for name, value in b.items() if name not in a})

    @classmethod
    def quick(cls) -> "Config":
        return cls.combine(two_peak.Config.quick(), multi_peak.Config.quick())

    @classmethod
    def paper(cls) -> "Config":
        return cls.combine(two_peak.Config.paper(), multi_peak.Config.paper())


@dataclass
class Result:
    """The two study results; an old field name (``result.embedding``, ``result.residual``) reads
    the study result that holds it."""

    config: Config
    two_peak: two_peak.Result
    multi_peak: multi_peak.Result

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("config", "two_peak", "multi_peak"):
            raise AttributeError(name)
        for part in (self.two_peak, self.multi_peak):
            if any(field.name == name for field in fields(part)):
                return getattr(part, name)
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Both studies, the two-peak one first (each draws its own data and seeds its own networks)."""
    device = check_device(device)
    return Result(config=config, two_peak=two_peak.run(config.two_peak(), seed, device=device),
                  multi_peak=multi_peak.run(config.multi_peak(), seed, device=device))
