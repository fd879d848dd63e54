"""Chapter "Shape filling in 2D": a U-Net learns to fill a shape from its boundary (§6.2).

The experiment of Courtois, Morel & Arias (§6.2) and Morel's talk: random connected
shapes that do not meet the image border, their boundaries as input and the filled
shapes as target, both Lanczos-filtered and down-sampled by 2 (§6.2.1,
`pathkernel.data.planar2d.network_pair`); a U-Net with 6 scales trained with mini-batches
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

import numpy as np
import torch
from PIL import Image

from pathkernel.data import shapes_ood
from pathkernel.data.planar2d import boundary, fill_depth, fill_flood, fill_parity, lanczos_downsample
from pathkernel.experiments import Presets, check_device
from pathkernel.segmentation import LOSSES, OPTIMIZERS, History, iou, predict, rim, train_segmentation
from pathkernel.unet import UNet

ORACLES = ("nesting depth", "flood fill", "naive parity")
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

    size: the network's image size (shapes are drawn at 2 size, §6.2.1); n_train, n_test:
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

    def __post_init__(self) -> None:
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

    @classmethod
    def quick(cls) -> "Config":
        """32 x 32 images (drawn at 64), a narrow 6-scale U-Net, Adam: under a minute on one core."""
        return cls(scale="quick", size=32, n_train=512, n_test=128, epochs=16, width=8, max_width=32,
                   lr=1e-2, optimizer="adam", n_ood=24)

    @classmethod
    def paper(cls) -> "Config":
        """10,000 training and 1,000 test images of 256 x 256 (the talk's second data set,
        drawn at 512), 150 epochs of Ranger, a 6-scale U-Net of width 16 up to 512 channels;
        the learning rate (lost in the paper's text) is 1e-3. Hours on a GPU, days on a CPU."""
        return cls(scale="paper", size=256, n_train=10_000, n_test=1_000, epochs=150, width=16, max_width=512,
                   lr=1e-3, optimizer="ranger", n_ood=100, suites=PAPER_SUITES)


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


def oracle_iou(shapes: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Mean IoU (3,) of the `ORACLES` on binary shapes (n, 2s, 2s): each fills the 8-neighbour
    boundary, its fill is Lanczos-downsampled like the shape, and fill > 1/2 is compared with
    targets (n, 1, s, s) > 1/2."""
    scores = np.zeros((len(shapes), 3))
    for k, shape in enumerate(shapes):
        edge = boundary(shape)
        for m, fill in enumerate((fill_depth, fill_flood, fill_parity)):
            scores[k, m] = iou(lanczos_downsample(fill(edge)) > 0.5, targets[k, 0] > 0.5)[0]
    return scores.mean(axis=0)


def evaluate(model: UNet, inputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(IoU (n,), interior IoU (n,), predicted probabilities (n, 1, s, s)) of `model`.

    Masks are probability > 1/2 and target > 1/2; the interior IoU leaves out the `rim` of
    the target mask, the pixels next to its edge where the Lanczos-smoothed target is
    ambiguous (near 1/2).
    """
    probability = predict(model, torch.from_numpy(inputs)).numpy()
    truth = targets[:, 0] > 0.5
    prediction = probability[:, 0] > 0.5
    return iou(prediction, truth), iou(prediction, truth, ignore=rim(truth)), probability


def run_suite(model: UNet, config: Config, name: str, levels: tuple[float, ...], seed: int) -> dict:
    """Score `model` and the oracles on `config.n_ood` images per complexity of one suite.

    Returns complexity (L,), ood_iou (L, n_ood), oracle_iou (L, 3) and the worst image of the
    last level, shrunk to size x size: worst_input, worst_prediction, worst_target.
    """
    scores, interior, oracles = [], [], []
    for level in levels:
        inputs, targets, shapes = shapes_ood.dataset(name, level, config.n_ood, config.size, seed=seed)
        values, inner, probability = evaluate(model, inputs, targets)
        scores.append(values)
        interior.append(inner)
        oracles.append(oracle_iou(shapes, targets))
    worst = int(np.argmin(values))
    return {"complexity": np.asarray(levels, dtype=float), "ood_iou": np.stack(scores),
            "ood_interior_iou": np.stack(interior), "oracle_iou": np.stack(oracles),
            "worst_input": _shrink(inputs[worst, 0], config.size),
            "worst_prediction": _shrink(probability[worst, 0], config.size),
            "worst_target": _shrink(targets[worst, 0], config.size)}


def _shrink(image: np.ndarray, size: int) -> np.ndarray:
    """An image (s, s) brought to (size, size) for display: itself, or PIL's box filter."""
    if image.shape == (size, size):
        return image
    return np.asarray(Image.fromarray(image.astype(np.float32), mode="F").resize((size, size), Image.BOX))


def _stack_padded(arrays: list[np.ndarray]) -> np.ndarray:
    """Stack arrays that differ only in their first length, padding with NaN: (S, L, ...)."""
    longest = max(len(a) for a in arrays)
    out = np.full((len(arrays), longest) + arrays[0].shape[1:], np.nan)
    for k, a in enumerate(arrays):
        out[k, : len(a)] = a
    return out


def highest(result: Result) -> np.ndarray:
    """(S,) index of each suite's highest complexity (its last non-NaN level in `complexity`)."""
    return np.array([np.flatnonzero(~np.isnan(row))[-1] for row in result.complexity])


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers, by glue name: the scale and sizes, the in-distribution IoUs, the
    paper preset's size against the quick one's, per suite its highest complexity and the network's
    mean IoU there, and the oracles' extremes (the depth oracle's worst mean, flood fill's worst on
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
        "shapefilling-interior-share": f"{(result.test_interior_iou >= 0.99).mean():.0%}",
        "shapefilling-paper-images": f"{paper.n_train / quick.n_train:.0f}",
        "shapefilling-paper-resolution": f"{paper.size / quick.size:.0f}",
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
    x_train, y_train, _ = shapes_ood.dataset("training", 0, config.n_train, config.size, seed=3 * seed)
    x_test, y_test, _ = shapes_ood.dataset("training", 0, config.n_test, config.size, seed=3 * seed + 1)
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
                  complexity=_stack_padded([s["complexity"] for s in suites]),
                  ood_iou=_stack_padded([s["ood_iou"] for s in suites]),
                  ood_interior_iou=_stack_padded([s["ood_interior_iou"] for s in suites]),
                  oracle_iou=_stack_padded([s["oracle_iou"] for s in suites]),
                  **{key: np.stack([s[key] for s in suites]) for key in ("worst_input", "worst_prediction", "worst_target")})
