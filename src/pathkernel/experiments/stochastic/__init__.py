"""Chapter "Stochastic Domingos theorems" (notebooks/stochastic.md): SGD, heavy-ball momentum and Adam
as kernel machines, in three studies, each with its `Config` (quick / paper), `Result`,
`run(config, seed=0, *, device="cpu")` and `numbers(result)`:

* `residual`: the remainder of each optimizer's theorem against the learning rate at a fixed time,
  first-order and exact form (fig-stochastic-residual);
* `expectation`: SGD over many mini-batch orders, the expected kernel machine and the Monte Carlo
  error of the mean (fig-stochastic-expectation);
* `per_sample`: the per-sample contributions of the four optimizers at the same query points
  (fig-stochastic-per-sample).

What they share (the optimizers, their learning rates, training a path) is in `_common`.

The old single-module entry points keep working: `Config` (every field of the three study
configs, shared ones once, with `quick()` / `paper()` / `from_scale()`), `run(config, seed=0, *,
device="cpu")`, which runs the three studies, and its `Result`, whose old field names
(`result.slopes`, `result.seed_prediction`, `result.spearman`, ...) read through to the studies.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

import torch

from pathkernel.experiments import check_device
from pathkernel.experiments.stochastic import expectation, per_sample, residual
from pathkernel.experiments.stochastic._common import OPTIMIZERS, fit_order, learning_rate, train_path
from pathkernel.experiments.stochastic.expectation import block_mean_error, block_rms
from pathkernel.experiments.stochastic.per_sample import rank_correlations

STUDIES = (residual, expectation, per_sample)

__all__ = ["Config", "OPTIMIZERS", "Result", "STUDIES", "block_mean_error", "block_rms", "expectation", "fit_order",
           "learning_rate", "per_sample", "rank_correlations", "residual", "run", "study_config", "train_path"]


@dataclass(frozen=True, kw_only=True)
class Config(residual.Config, expectation.Config, per_sample.Config):
    """The settings of the three studies together (the old `stochastic.Config`): every field of
    `residual.Config`, `expectation.Config` and `per_sample.Config`, each checked as there."""

    sources: ClassVar[dict[str, str]] = {**residual.Config.sources, **expectation.Config.sources,
                                         **per_sample.Config.sources}

    @classmethod
    def combine(cls, *configs: Any) -> "Config":
        """The config holding the fields of `configs`; ValueError when two give a field different values."""
        values: dict[str, Any] = {}
        for config in configs:
            for field in dataclasses.fields(config):
                value = getattr(config, field.name)
                if values.setdefault(field.name, value) != value:
                    raise ValueError(f"the studies' configs disagree on {field.name}: {values[field.name]!r} and {value!r}")
        return cls(**values)

    @classmethod
    def quick(cls) -> "Config":
        return cls.combine(*(study.Config.quick() for study in STUDIES))

    @classmethod
    def paper(cls) -> "Config":
        return cls.combine(*(study.Config.paper() for study in STUDIES))


def study_config(config: Config, study: ModuleType) -> Any:
    """The part of `config` that `study` (one of `STUDIES`) runs with: its `Config` with the same values."""
    return study.Config(**{field.name: getattr(config, field.name) for field in dataclasses.fields(study.Config)})


@dataclass
class Result:
    """The results of the three studies for one config and seed (the old `stochastic.Result`).

    An attribute that is not one of these fields is read from the study result that has it, so
    `result.residual` is `result.residual_study.residual` and `result.spearman` is
    `result.per_sample_study.spearman` (the old field names, all kept).
    """

    config: Config
    residual_study: residual.Result
    expectation_study: expectation.Result
    per_sample_study: per_sample.Result

    def __getattr__(self, name: str) -> Any:
        for part in ("residual_study", "expectation_study", "per_sample_study"):
            study = self.__dict__.get(part)
            if study is not None and name in study.__dataclass_fields__:
                return getattr(study, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """The three studies on the ball/sphere task of `seed` (data, theta_0 and batch orders), each with
    its part of `config` (`study_config`). Data drawn on the CPU, computed on `device`."""
    device = check_device(device)
    results = [study.run(study_config(config, study), seed, device=device) for study in STUDIES]
    return Result(config, *results)
