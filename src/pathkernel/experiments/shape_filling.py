"""Chapter "Shape filling in 2D": a U-Net learns to fill a shape from its boundary (§6.2).

The experiment of Courtois, Morel & Arias (§6.2) and Morel's talk: random connected
shapes that do not meet the image border, their boundaries as input and the filled
shapes as target, both Lanczos-filtered and down-sampled by 2 and stored (§6.2.1,
`pathkernel.data.planar2d.network_pair`), then down-sampled again by
``store_size / size`` before the network (by 2 in §6.2.2: stored 256 x 256, seen at
128 x 128; `network_data`, in `shape_filling_data` with the scoring); a U-Net with 6 scales trained with mini-batches
of 32, random flips and a plateau schedule (`pathkernel.segmentation`). It then measures
the intersection over union (IoU) in distribution and on the out-of-distribution suites
of `pathkernel.data.shapes_ood`, each at increasing complexity, beside three oracles run
on the binary boundary at the drawing resolution and brought to the network's resolution
the same way as the target: the nesting-depth parity (`planar2d.fill_depth`), flood fill
and the naive parity scan of Eq. (10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from pathkernel.data import shapes_ood
from pathkernel.experiments import Presets, check_device
from pathkernel.experiments.shape_filling_data import evaluate, network_data, oracle_iou, shrink, stack_padded
from pathkernel.segmentation import LOSSES, OPTIMIZERS, History, train_segmentation
from pathkernel.unet import UNet

__all__ = ["Config", "INTERIOR_THRESHOLD", "ORACLES", "PAPER_SUITES", "QUICK_SUITES", "Result", "evaluate", "highest",
           "network_data", "numbers", "oracle_iou", "run", "run_suite"]

ORACLES = ("nesting depth", "flood fill", "naive parity")
#: an image counts as filled almost perfectly when its interior IoU reaches this
INTERIOR_THRESHOLD = 0.99
QUICK_SUITES = (
    ("shapes", (1, 2, 3, 4)),
    ("nesting", (1, 2, 3)),
    ("spiral", (0.5, 1.0, 1.5, 2.0)),
    ("maze", (2, 3, 4, 5)),
    ("branches", (2, 4, 8, 16)),
    ("size", (1, 2, 3)),
)
PAPER_SUITES = (
    ("shapes", (1, 2, 4, 9, 16)),
    ("nesting", (1, 2, 3, 4, 6, 8)),
    ("spiral", (0.5, 1.0, 2.0, 4.0, 6.0, 8.0)),
    ("maze", (2, 4, 8, 12, 16)),
    ("branches", (2, 4, 8, 16, 32)),
    ("size", (1, 1.5, 2)),
)


@dataclass(frozen=True)
class Config(Presets):
    """Sizes of the experiment.

    size: the network's image size; store_size: the stored images' size (shapes drawn at
    2 store_size, filtered and down-sampled by 2, §6.2.1), Lanczos-down-sampled to `size`
    before the network (§6.2.2; None: stored at `size`, no second down-sampling); n_train, n_test:
    training and test images; epochs, lr, batch_size, patience, optimizer ("ranger" or
    "adam"), loss ("bce" or "mse"): training (`segmentation.train_segmentation`); scales,
    width, max_width: the `UNet`; suites: (name, complexities) pairs of
    `shapes_ood.SUITES`; n_ood: images per suite and complexity; n_examples: images shown.
    """

    scale: str
    size: int
    n_train: int
    n_test: int
    epochs: int
    width: int
    max_width: int | None
    lr: float
    optimizer: str
    n_ood: int
    suites: tuple[tuple[str, tuple[float, ...]], ...] = field(default=QUICK_SUITES)
    scales: int = 6
    batch_size: int = 32
    patience: int = 3
    loss: str = "bce"
    n_examples: int = 4
    store_size: int | None = None

    sources: ClassVar[dict[str, str]] = {
        "size": "Courtois et al. §6.2.2: images 'down-sampled by a factor of two before' the network: 256 / 2",
        "n_train": "Courtois et al. §6.2.1: 10,000 training images",
        "n_test": "Courtois et al. §6.2.1: 1,000 test images",
        "epochs": "Courtois et al. §6.2.2: 150 epochs", "optimizer": "Courtois et al. §6.2.2: the Ranger optimizer",
        "width": "ours: Figure 9 (the U-Net's widths) is lost in our copy; 16 channels at full resolution",
        "max_width": "ours: Figure 9 is lost in our copy; widths double up to 512, as in a classic U-Net",
        "lr": "ours: Courtois et al. §6.2.2 gives a constant rate whose value is lost in our copy",
        "n_ood": "ours: the papers show single out-of-distribution images (Figure 7), no test sets",
        "suites": "ours: the papers show single out-of-distribution images (Figures 7 and 10), no suites",
        "scales": "Morel talk: a U-Net with 6 scales", "batch_size": "Courtois et al. §6.2.2: a batch size of 32",
        "patience": "ours: Courtois et al. §6.2.2 divides by 10 when the loss stops decreasing 'for a few iterations'",
        "loss": "Morel talk: binary cross-entropy loss (Courtois et al. §6.2.2 says the mean square error)",
        "n_examples": "ours: test images shown",
        "store_size": "Morel talk: images of size 256x256 (second data set), read as the stored size of "
                      "Courtois et al. §6.2.1, which §6.2.2 halves for the network",
    }
    large_reason: ClassVar[str] = (
        "the paper preset (10,000 training images at 128 x 128, 150 epochs of a U-Net up to 512 channels) needs "
        "a GPU: an estimated 65 hours or more on 2 CPU cores (the stored large run's wall time scaled by images, "
        "pixels, epochs and the square of the width); the large preset keeps the paper preset's optimizer, learning "
        "rate, down-sampling and suites at 64 x 64 (stored at 128), 2,000 images, 30 epochs and widths to 128")

    def __post_init__(self) -> None:
        if self.store_size is not None and (self.store_size < self.size or self.store_size % self.size):
            raise ValueError(f"store_size={self.store_size} must be a multiple of size={self.size} (or None)")
        factor = 2 ** (self.scales - 1)
        if self.size % factor:
            raise ValueError(f"size={self.size} must be divisible by 2**(scales - 1) = {factor}")
        if self.optimizer not in OPTIMIZERS or self.loss not in LOSSES:
            raise ValueError(f"optimizer={self.optimizer!r}, loss={self.loss!r}; expected {OPTIMIZERS} and {LOSSES}")
        for name, levels in self.suites:
            if name not in shapes_ood.SUITES or not levels:
                raise ValueError(f"suite {name!r} with levels {levels!r}; expected one of {shapes_ood.SUITES}")
        if not 1 <= self.n_examples <= self.n_test:
            raise ValueError(f"n_examples={self.n_examples} must lie in [1, n_test={self.n_test}]")

    @property
    def downsample(self) -> int:
        """The factor between the stored images and the network's input (1: none)."""
        return (self.store_size or self.size) // self.size

    @classmethod
    def quick(cls) -> "Config":
        """32 x 32 images (drawn at 64, stored and seen at 32), a narrow 6-scale U-Net, Adam."""
        return cls(scale="quick", size=32, store_size=32, n_train=512, n_test=128, epochs=16, width=8, max_width=32,
                   lr=1e-2, optimizer="adam", n_ood=24)

    @classmethod
    def paper(cls) -> "Config":
        """10,000 training and 1,000 test images stored at 256 x 256 (the talk's second data set,
        drawn at 512) and seen by the network at 128 x 128 (§6.2.2), 150 epochs of Ranger, a
        6-scale U-Net of width 16 up to 512 channels; the learning rate (lost in the paper's
        text) is 1e-3. Hours on a GPU, days on a CPU."""
        return cls(scale="paper", size=128, store_size=256, n_train=10_000, n_test=1_000, epochs=150, width=16,
                   max_width=512, lr=1e-3, optimizer="ranger", n_ood=100, suites=PAPER_SUITES)

    @classmethod
    def large(cls) -> "Config":
        """What 2 CPU cores train in about a quarter of an hour (`large_reason`)."""
        return cls(scale="large", size=64, store_size=128, n_train=2_000, n_test=200, epochs=30, width=8,
                   max_width=128, lr=1e-3, optimizer="ranger", n_ood=50, suites=PAPER_SUITES)


@dataclass
class Result:
    """test_iou (n_test,): IoU of the thresholded prediction (p > 1/2) against target > 1/2
    on the in-distribution test set; test_interior_iou (n_test,): the same without the
    target's rim (`evaluate`); train_iou (n_test,): the same on the first n_test
    training images; loss, lr (epochs,): training history; examples_input,
    examples_prediction, examples_target (n_examples, size, size): test images;
    parameters: the U-Net's parameter count.

    Out-of-distribution suites, S of them (in the order of ``config.suites``), padded with
    NaN to the largest number L of complexities: suite_names (S,); complexity (S, L);
    ood_iou, ood_interior_iou (S, L, n_ood) of the network; oracle_iou (S, L, 3) mean IoU of the `ORACLES`;
    worst_input, worst_prediction, worst_target (S, size, size): the network's worst image
    at each suite's highest complexity (input, predicted probability, target; shrunk to
    size x size by a box filter for the "size" suite).
    """

    config: Config
    test_iou: np.ndarray
    test_interior_iou: np.ndarray
    train_iou: np.ndarray
    loss: np.ndarray
    lr: np.ndarray
    examples_input: np.ndarray
    examples_prediction: np.ndarray
    examples_target: np.ndarray
    parameters: int
    suite_names: tuple[str, ...]
    complexity: np.ndarray
    ood_iou: np.ndarray
    ood_interior_iou: np.ndarray
    oracle_iou: np.ndarray
    worst_input: np.ndarray
    worst_prediction: np.ndarray
    worst_target: np.ndarray


def run_suite(model: UNet, config: Config, name: str, levels: tuple[float, ...], seed: int) -> dict:
    """Score `model` and the oracles on `config.n_ood` images per complexity of one suite.

    Returns complexity (L,), ood_iou (L, n_ood), oracle_iou (L, 3) and the worst image of the
    last level, shrunk to size x size: worst_input, worst_prediction, worst_target.
    """
    scores, interior, oracles = [], [], []
    for level in levels:
        inputs, targets, shapes = network_data(config, name, level, config.n_ood, seed)
        values, inner, probability = evaluate(model, inputs, targets)
        scores.append(values)
        interior.append(inner)
        oracles.append(oracle_iou(shapes, targets))
    worst = int(np.argmin(values))
    return {"complexity": np.asarray(levels, dtype=float), "ood_iou": np.stack(scores),
            "ood_interior_iou": np.stack(interior), "oracle_iou": np.stack(oracles),
            "worst_input": shrink(inputs[worst, 0], config.size),
            "worst_prediction": shrink(probability[worst, 0], config.size),
            "worst_target": shrink(targets[worst, 0], config.size)}


def highest(result: Result) -> np.ndarray:
    """(S,) index of each suite's highest complexity (its last non-NaN level in `complexity`)."""
    return np.array([np.flatnonzero(~np.isnan(row))[-1] for row in result.complexity])


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers, by glue name: the scale and sizes, the in-distribution IoUs, the
    paper preset's size against the quick one's, per suite its highest complexity and the network's
    mean IoU there, the paper preset's sizes, and the oracles' extremes (the depth oracle's worst mean, flood fill's worst on
    the holes, the naive parity's best)."""
    config, quick, paper = result.config, Config.quick(), Config.paper()
    values = {
        "shapefilling-scale": config.scale,
        "shapefilling-n-train": f"{config.n_train:,}",
        "shapefilling-size": f"{config.size} x {config.size}",
        "shapefilling-epochs": f"{config.epochs}",
        "shapefilling-parameters": f"{result.parameters:,}",
        "shapefilling-test-iou": f"{result.test_iou.mean():.1%}",
        "shapefilling-train-iou": f"{result.train_iou.mean():.1%}",
        "shapefilling-interior-iou": f"{result.test_interior_iou.mean():.2%}",
        "shapefilling-interior-share": f"{(result.test_interior_iou >= INTERIOR_THRESHOLD).mean():.0%}",
        "shapefilling-threshold": f"{INTERIOR_THRESHOLD:.0%}",
        "shapefilling-scales": f"{config.scales}",
        "shapefilling-batch-size": f"{config.batch_size}",
        "shapefilling-train-branches": "{} to {}".format(*shapes_ood.TRAINING_BRANCHES),
        "shapefilling-paper-images": f"{paper.n_train / quick.n_train:.0f}",
        "shapefilling-paper-resolution": f"{paper.size / quick.size:.0f}",
        "shapefilling-paper-n-train": f"{paper.n_train:,}",
        "shapefilling-paper-store": f"{paper.store_size} x {paper.store_size}",
        "shapefilling-paper-size": f"{paper.size} x {paper.size}",
        "shapefilling-paper-epochs": f"{paper.epochs}",
    }
    for k, (name, last) in enumerate(zip(result.suite_names, highest(result))):
        values[f"shapefilling-{name}-level"] = f"{result.complexity[k, last]:g}"
        values[f"shapefilling-{name}-iou"] = f"{result.ood_iou[k, last].mean():.0%}"
    values["shapefilling-depth-min"] = f"{np.nanmin(result.oracle_iou[..., 0]):.0%}"
    if "nesting" in result.suite_names:
        nesting = result.suite_names.index("nesting")
        values["shapefilling-flood-nesting"] = f"{np.nanmin(result.oracle_iou[nesting, :, 1]):.0%}"
    values["shapefilling-parity-max"] = f"{np.nanmax(result.oracle_iou[..., 2]):.0%}"
    return values


def run(config: Config, seed: int = 0, *, checkpoint: str | Path | None = None,
        device: str | torch.device = "cpu") -> Result:
    """Draw the data, train the U-Net on `device` (resuming from `checkpoint` if it exists),
    score it. A GPU (``device="cuda"``) makes the paper scale practical; the quick scale and
    the book run on the CPU.

    Data seeds: training set 3 seed, test set 3 seed + 1, each suite 3 seed + 2 (disjoint
    shape seeds by `shapes_ood.dataset`); the U-Net is initialized with `seed`. The data is
    drawn and the U-Net initialized on the CPU; predictions come back to the CPU for scoring.
    """
    device = check_device(device)
    x_train, y_train, _ = network_data(config, "training", 0, config.n_train, 3 * seed)
    x_test, y_test, _ = network_data(config, "training", 0, config.n_test, 3 * seed + 1)
    model = UNet(scales=config.scales, width=config.width, max_width=config.max_width, seed=seed)
    history: History = train_segmentation(
        model, torch.from_numpy(x_train), torch.from_numpy(y_train), epochs=config.epochs, lr=config.lr,
        batch_size=config.batch_size, optimizer=config.optimizer, loss=config.loss, patience=config.patience,
        seed=seed, checkpoint=checkpoint, device=device)
    test_iou, test_interior_iou, probability = evaluate(model, x_test, y_test)
    train_iou, _, _ = evaluate(model, x_train[: config.n_test], y_train[: config.n_test])
    k = config.n_examples
    suites = [run_suite(model, config, name, levels, seed=3 * seed + 2) for name, levels in config.suites]
    return Result(config=config, test_iou=test_iou, test_interior_iou=test_interior_iou, train_iou=train_iou,
                  loss=np.asarray(history.loss), lr=np.asarray(history.lr), examples_input=x_test[:k, 0],
                  examples_prediction=probability[:k, 0], examples_target=y_test[:k, 0], parameters=sum(p.numel() for p in model.parameters()),
                  suite_names=tuple(name for name, _ in config.suites),
                  complexity=stack_padded([s["complexity"] for s in suites]),
                  ood_iou=stack_padded([s["ood_iou"] for s in suites]),
                  ood_interior_iou=stack_padded([s["ood_interior_iou"] for s in suites]),
                  oracle_iou=stack_padded([s["oracle_iou"] for s in suites]),
                  **{key: np.stack([s[key] for s in suites]) for key in ("worst_input", "worst_prediction", "worst_target")})
