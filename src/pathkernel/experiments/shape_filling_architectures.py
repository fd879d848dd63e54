"""Chapter "Shape filling in 2D": which architectures fill shapes out of distribution?

Morel's talk, first data set: shape filling "is an impossible task for CNNs working
locally: it requires a network with a significant depth (or non-local layers), or a U-net",
beside a comparison of a local CNN with global average pooling (GAP), self-attention (SA)
and a global-context block (GC) whose numbers are lost in our copy. This study trains the
networks of `pathkernel.shape_nets` (`NAMES`) under one budget rule on the same data and
scores them on the chapter's out-of-distribution suites:

* the same training and test images as `shape_filling` for the same seed
  (`shape_filling.network_data`, seeds 3 seed and 3 seed + 1; suites 3 seed + 2);
* the same training: `segmentation.train_segmentation` with the same optimizer, learning
  rate, plateau schedule, batch size, flips and number of epochs (so the same number of
  steps) for every network, each initialized with `seed`;
* the parameter counts differ and are reported; so is each network's training time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.shape_filling import PAPER_SUITES, QUICK_SUITES
from pathkernel.experiments.shape_filling_data import evaluate, network_data, stack_padded
from pathkernel.runs import checkpoint
from pathkernel.experiments.shape_filling import Config as FillingConfig
from pathkernel.segmentation import LOSSES, OPTIMIZERS, train_segmentation
from pathkernel.shape_nets import NAMES, build

#: the quick preset's time budget on 2 CPU cores, beyond the chapter's own
BUDGET_SECONDS = 180
#: short names of the architectures for glue names
KEYS = {"local": "local", "global pool": "pool", "self-attention": "attention", "global context": "context",
        "deep": "deep", "unet": "unet"}


@dataclass(frozen=True)
class Config(Presets):
    """size: image size (stored and seen, no second down-sampling); n_train, n_test: images;
    epochs, lr, batch_size, optimizer, loss, patience: the one training rule of every network
    (`segmentation.train_segmentation`); width, depth: the local CNN and the three global
    variants (`shape_nets.LocalCNN`: `depth` 3x3 layers of `width` channels); deep_depth: the
    deeper CNN's layers; unet_width, unet_max_width: the 6-scale U-Net; architectures: names
    of `shape_nets.NAMES`; suites, n_ood: as in `shape_filling.Config`."""

    scale: str
    size: int
    n_train: int
    n_test: int
    epochs: int
    lr: float
    optimizer: str
    width: int
    depth: int
    deep_depth: int
    unet_width: int
    unet_max_width: int
    n_ood: int
    suites: tuple[tuple[str, tuple[float, ...]], ...] = field(default=QUICK_SUITES)
    architectures: tuple[str, ...] = NAMES
    batch_size: int = 32
    patience: int = 3
    loss: str = "bce"

    sources: ClassVar[dict[str, str]] = {
        "size": "Morel talk: first data set, images of size 128x128 (no down-sampling stated)",
        "n_train": "Morel talk: first data set, 1,115 training images",
        "n_test": "Morel talk: first data set, 140 test images",
        "epochs": "Morel talk: the U-Net trained with Ranger for 150 epochs",
        "lr": "ours: the talk gives no learning rate",
        "optimizer": "Morel talk: Ranger",
        "width": "ours: the talk's architectures are lost in our copy; one width for the local and global CNNs",
        "depth": "ours: the talk's local CNN is lost in our copy; 4 layers see a 9 x 9 window",
        "deep_depth": "ours: half the image size, so that every pixel's window reaches the border",
        "unet_width": "ours: as the chapter's paper preset (Figure 9 of Courtois et al. is lost in our copy)",
        "unet_max_width": "ours: as the chapter's paper preset",
        "n_ood": "ours: the talk shows single images",
        "suites": "ours: the chapter's suites (the talk shows single images)",
        "architectures": "Morel talk: local CNNs, GAP, SA (self-attention), GC (global context), depth, a U-net",
        "batch_size": "Morel talk: batch size 32",
        "patience": "ours: as the chapter's U-Net",
        "loss": "Morel talk: binary cross-entropy loss",
    }
    large_reason: ClassVar[str] = (
        "the paper preset (six networks, 150 epochs at 128 x 128) needs a GPU; the large preset keeps the "
        "paper preset's optimizer, learning rate, suites and images at 64 x 64, 20 epochs for every network "
        "(a few CPU hours; the store run keeps each trained network, so an interrupted run resumes)")

    def __post_init__(self) -> None:
        if self.size % 32:
            raise ValueError(f"size={self.size} must be divisible by 32 (the 6-scale U-Net)")
        unknown = [name for name in self.architectures if name not in NAMES]
        if unknown or not self.architectures:
            raise ValueError(f"architectures={self.architectures!r}; expected names of {NAMES}")
        if self.optimizer not in OPTIMIZERS or self.loss not in LOSSES:
            raise ValueError(f"optimizer={self.optimizer!r}, loss={self.loss!r}; expected {OPTIMIZERS} and {LOSSES}")
        FillingConfig(scale=self.scale, size=self.size, n_train=self.n_train, n_test=self.n_test, epochs=self.epochs,
                      width=self.unet_width, max_width=self.unet_max_width, lr=self.lr, optimizer=self.optimizer,
                      n_ood=self.n_ood, suites=self.suites, n_examples=1)  # checks the suites and sizes

    @classmethod
    def quick(cls) -> "Config":
        """The chapter's quick data (512 images of 32 x 32), 8 epochs of Adam for every network."""
        return cls(scale="quick", size=32, n_train=512, n_test=128, epochs=8, lr=1e-2, optimizer="adam", width=16,
                   depth=4, deep_depth=16, unet_width=8, unet_max_width=32, n_ood=16)

    @classmethod
    def paper(cls) -> "Config":
        """The talk's first data set: 1,115 training and 140 test images of 128 x 128, 150 epochs
        of Ranger (lr 1e-3, ours) for every network. Hours on a GPU."""
        return cls(scale="paper", size=128, n_train=1_115, n_test=140, epochs=150, lr=1e-3, optimizer="ranger",
                   width=32, depth=4, deep_depth=64, unet_width=16, unet_max_width=512, n_ood=100,
                   suites=PAPER_SUITES)

    @classmethod
    def large(cls) -> "Config":
        """The paper preset's data and training rule at 64 x 64 with 20 epochs (`large_reason`): a few
        CPU hours, resumable network by network; nested curves to depth 6 and mazes to 12 cells, the
        most that fit at 64 x 64 (bands of 5 pixels, cells of 8)."""
        fitting = {"nesting": (1, 2, 3, 4, 6), "maze": (2, 4, 8, 12)}
        suites = tuple((name, fitting.get(name, levels)) for name, levels in PAPER_SUITES)
        return cls(scale="large", size=64, n_train=1_115, n_test=140, epochs=20, lr=1e-3, optimizer="ranger",
                   width=16, depth=4, deep_depth=32, unet_width=8, unet_max_width=128, n_ood=50, suites=suites)


@dataclass
class Result:
    """A architectures, S suites padded with NaN to L complexities:

    names (A,); parameters (A,) parameter counts; loss (A, epochs) training loss per epoch;
    test_iou (A, n_test) in-distribution IoU (prediction > 1/2 against target > 1/2);
    suite_names (S,); complexity (S, L); ood_iou (A, S, L, n_ood).
    seconds (A,): wall-clock training time of each network (volatile: not in the digest).
    """

    config: Config
    names: tuple[str, ...]
    parameters: np.ndarray
    loss: np.ndarray
    test_iou: np.ndarray
    suite_names: tuple[str, ...]
    complexity: np.ndarray
    ood_iou: np.ndarray
    seconds: np.ndarray = field(default_factory=lambda: np.zeros(0), metadata={"volatile": True})


def network(config: Config, name: str, seed: int) -> torch.nn.Module:
    """The architecture `name` at the config's sizes, initialized from `seed`."""
    depth = config.deep_depth if name == "deep" else config.depth
    return build(name, width=config.width, depth=depth, seed=seed, unet_width=config.unet_width,
                 unet_max_width=config.unet_max_width)


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Draw the data once (on the CPU), train every architecture on `device`, score each on the
    test set and on every suite level (`shape_filling.evaluate`). Each architecture is one
    `checkpoint.item`: a store run that is interrupted resumes at the next architecture."""
    device = check_device(device)
    filling = FillingConfig(scale=config.scale, size=config.size, n_train=config.n_train, n_test=config.n_test,
                            epochs=config.epochs, width=config.unet_width, max_width=config.unet_max_width,
                            lr=config.lr, optimizer=config.optimizer, n_ood=config.n_ood, suites=config.suites,
                            n_examples=1)
    x_train, y_train, _ = network_data(filling, "training", 0, config.n_train, 3 * seed)
    x_test, y_test, _ = network_data(filling, "training", 0, config.n_test, 3 * seed + 1)
    suites = [[network_data(filling, name, level, config.n_ood, 3 * seed + 2)[:2] for level in levels]
              for name, levels in config.suites]

    def trained(name: str) -> dict[str, np.ndarray]:
        model = network(config, name, seed)
        start = time.perf_counter()
        history = train_segmentation(model, torch.from_numpy(x_train), torch.from_numpy(y_train), epochs=config.epochs,
                                     lr=config.lr, batch_size=config.batch_size, optimizer=config.optimizer,
                                     loss=config.loss, patience=config.patience, seed=seed, device=device,
                                     show_progress=False)
        seconds = time.perf_counter() - start
        return {"parameters": np.asarray(sum(p.numel() for p in model.parameters())), "loss": np.asarray(history.loss),
                "test": evaluate(model, x_test, y_test)[0], "seconds": np.asarray(seconds),
                "ood": stack_padded([np.stack([evaluate(model, x, y)[0] for x, y in levels]) for levels in suites])}

    rows = [checkpoint.item(f"architecture={name} seed={seed}", lambda name=name: trained(name))
            for name in config.architectures]
    parameters, losses, tests, ood, seconds = ([row[key] for row in rows]
                                               for key in ("parameters", "loss", "test", "ood", "seconds"))
    return Result(config=config, names=tuple(config.architectures), parameters=np.asarray(parameters),
                  loss=np.asarray(losses), test_iou=np.stack(tests), suite_names=tuple(n for n, _ in config.suites),
                  complexity=stack_padded([np.asarray(levels, dtype=float) for _, levels in config.suites]),
                  ood_iou=np.stack(ood), seconds=np.asarray(seconds))


def highest_mean(result: Result) -> np.ndarray:
    """(A, S) each architecture's mean IoU at each suite's highest complexity."""
    last = [np.flatnonzero(~np.isnan(row))[-1] for row in result.complexity]
    return np.stack([[result.ood_iou[a, s, last[s]].mean() for s in range(len(last))]
                     for a in range(len(result.names))])


def numbers(result: Result) -> dict[str, str]:
    """Glue names "shapearch-...": the training rule (images, size, epochs, steps, lr), per
    architecture (by `KEYS`) its parameters, final training loss, test IoU, mean IoU over every
    suite level ("ood"), at the lowest levels ("easy"), at the highest levels ("hard") and on
    the lowest "nesting" level, one large blob ("blob"), and training seconds; the architecture with
    the best "hard" mean, the total training time and the budget, the local window and depths."""
    config = result.config
    hard = highest_mean(result).mean(axis=1)
    values = {
        "shapearch-scale": config.scale,
        "shapearch-n-train": f"{config.n_train:,}",
        "shapearch-size": f"{config.size} x {config.size}",
        "shapearch-epochs": f"{config.epochs}",
        "shapearch-steps": f"{config.epochs * -(-config.n_train // config.batch_size):,}",
        "shapearch-lr": f"{config.lr:g}",
        "shapearch-best": result.names[int(np.argmax(hard))],
        "shapearch-seconds": f"{result.seconds.sum():.0f}",
        "shapearch-budget": f"{BUDGET_SECONDS / 60:.0f} minutes on 2 CPU cores",
        "shapearch-local-window": f"{2 * config.depth + 1} x {2 * config.depth + 1}",
        "shapearch-depth": f"{config.depth}",
        "shapearch-deep-depth": f"{config.deep_depth}",
    }
    for a, name in enumerate(result.names):
        key = KEYS[name]
        values[f"shapearch-{key}-parameters"] = f"{result.parameters[a]:,}"
        values[f"shapearch-{key}-test"] = f"{result.test_iou[a].mean():.1%}"
        values[f"shapearch-{key}-ood"] = f"{np.nanmean(result.ood_iou[a]):.0%}"
        values[f"shapearch-{key}-hard"] = f"{hard[a]:.0%}"
        values[f"shapearch-{key}-seconds"] = f"{result.seconds[a]:.0f}"
        values[f"shapearch-{key}-loss"] = f"{result.loss[a, -1]:.3f}"
        values[f"shapearch-{key}-easy"] = f"{np.nanmean(result.ood_iou[a, :, 0]):.0%}"
        if "nesting" in result.suite_names:
            values[f"shapearch-{key}-blob"] = f"{result.ood_iou[a, result.suite_names.index('nesting'), 0].mean():.0%}"
    return values
