"""Chapter "Ball versus sphere" (notebooks/ball_sphere.md; Courtois, Morel & Arias §5.1), one module per study:

* `network`: the trained network's decision boundary, its tangent-kernel neighbourhoods
  against the Euclidean ones and a linear SVM on its tangent features (Figs 1-3);
* `residual`: the remainder of Domingos' Theorem 2 and of the exact form when the learning
  rate, the width or the number of steps varies (on a training set of its own).

The package keeps the entry points of the former single module ``ball_sphere``: `Config` (the
fields of both studies, with `quick()` / `paper()` / `from_scale()`), ``run(config, seed=0, *,
device="cpu") -> Result`` (both studies' results, whose old field names still read:
``result.accuracy``, ``result.residual_lr``), and the helpers `box_grid`, `boundary_radius`,
`random_direction`, `remainder` and `sweep`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch

from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.ball_sphere import network, residual
from pathkernel.experiments.ball_sphere.network import boundary_radius, box_grid, random_direction
from pathkernel.experiments.ball_sphere.residual import remainder, sweep

__all__ = ["Config", "Result", "boundary_radius", "box_grid", "network", "random_direction", "remainder",
           "residual", "run", "sweep"]


def _names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


@dataclass(frozen=True)
class Config(Presets):
    """The two studies' configs in one (the former ``ball_sphere.Config``); see `network.Config`
    and `residual.Config` for the fields. Building one checks both."""

    scale: str
    n: int
    width: int
    lr: float
    steps: int
    k: int
    grid: int
    sweep_n: int
    sweep_lrs: tuple[float, ...]
    sweep_widths: tuple[int, ...]
    sweep_steps: tuple[int, ...]
    base_lr: float = 0.05
    base_width: int = 32
    base_steps: int = 100
    n_query: int = 100
    ts: tuple[float, ...] = (0.0, 0.5, 0.9, 1.0, 1.4)
    r2: float = 0.8
    depth: int = 3
    activation: str = "gelu"
    C: float = 1e6
    extent: float = 1.5
    angles: int = 360

    sources: ClassVar[dict[str, str]] = {**network.Config.sources, **residual.Config.sources}

    def __post_init__(self) -> None:
        self.network_config()
        self.residual_config()

    def network_config(self) -> network.Config:
        """The fields of the `network` study."""
        return network.Config(**{name: getattr(self, name) for name in _names(network.Config)})

    def residual_config(self) -> residual.Config:
        """The fields of the `residual` study."""
        return residual.Config(**{name: getattr(self, name) for name in _names(residual.Config)})

    @classmethod
    def of(cls, net: network.Config, swept: residual.Config) -> "Config":
        """The two studies' configs as one; ValueError when the fields they share differ."""
        shared = set(_names(network.Config)) & set(_names(residual.Config))
        differ = sorted(name for name in shared if getattr(net, name) != getattr(swept, name))
        if differ:
            raise ValueError(f"the network and residual configs differ in {differ}")
        values = {name: getattr(net, name) for name in _names(network.Config)}
        values.update({name: getattr(swept, name) for name in _names(residual.Config)})
        return cls(**values)

    @classmethod
    def quick(cls) -> "Config":
        return cls.of(network.Config.quick(), residual.Config.quick())

    @classmethod
    def paper(cls) -> "Config":
        return cls.of(network.Config.paper(), residual.Config.paper())


@dataclass
class Result:
    """Both studies' results (the former ``ball_sphere.Result``); a field of either reads as an
    attribute (``result.radius`` is ``result.network.radius``)."""

    config: Config
    network: network.Result
    residual: residual.Result

    def __getattr__(self, name: str) -> Any:
        for part in ("network", "residual"):
            study = self.__dict__.get(part)
            if study is not None and name in _names(type(study)):
                return getattr(study, name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Run both studies (`network.run`, then `residual.run`) with the same seed and device."""
    device = check_device(device)
    return Result(config=config, network=network.run(config.network_config(), seed, device=device),
                  residual=residual.run(config.residual_config(), seed, device=device))
