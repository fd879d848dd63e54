"""Chapter "How the kernel evolves", handwritten and printed digits (Guo, He & Morel, Figs. 2e-h and 5).

A GELU MLP with ten logits is trained by full-batch Adam on the cross-entropy
(`loss="cross_entropy"`) on scikit-learn's handwritten digits (8 x 8, pixel values / 16). The
tangent kernel of a c-output model is a c x c matrix K_w(x, x') = J_w(x) J_w(x')^T; the
chapter reads its trace

    T_w(x, x') = tr K_w(x, x') = <J_w(x), J_w(x')>_F,
    Tn_w(x, x') = T_w(x, x') / sqrt(T_w(x, x) T_w(x', x'))              (a cosine),

the kernel of the flattened tangent features (one vector of c P numbers per input).

* class-ordered kernels: Tn on held-out digits, `show` per class, at initialization and after
  training on all ten classes;
* printed digits (`pathkernel.data.digits.printed_digits`): Tn between handwritten and printed
  digits, and the confusion matrix of the ten-class network on printed digits.

`fit`, `accuracy` and `normalized_trace_kernel` are also the `umap` study's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from sklearn.metrics import confusion_matrix
from torch import nn

from pathkernel.data.digits import handwritten_digits, printed_digits
from pathkernel.experiments import Presets, check_device, parameters_device
from pathkernel.kernels import tangent_kernel
from pathkernel.models import MLP
from pathkernel.training import TrainingPath, train

#: the two ends of training, by glue name (kernelevolution-within-<when>, ...)
WHEN = ("init", "end")


def normalized_trace_kernel(model: nn.Module, x: torch.Tensor, *, params: torch.Tensor | None = None) -> np.ndarray:
    """Tn_w(x_i, x_j) = tr K_w(x_i, x_j) / sqrt(tr K_w(x_i, x_i) tr K_w(x_j, x_j)), (n, n), from
    `tangent_kernel` (n, n, c, c) at the flat parameters `params` (default the model's own)."""
    kernel = tangent_kernel(model, x, params=params)
    trace = kernel if kernel.dim() == 2 else torch.diagonal(kernel, dim1=2, dim2=3).sum(-1)
    norms = torch.sqrt(torch.diagonal(trace))
    return (trace / (norms[:, None] * norms[None, :])).cpu().numpy()


def fit(x: torch.Tensor, labels: torch.Tensor, classes: int, config, seed: int) -> TrainingPath:
    """A fresh `MLP(64, config.width, config.depth, out_dim=classes)` (float64, seed `seed`)
    trained `config.steps` steps of full-batch Adam at `config.lr` on the cross-entropy, on x's
    device; returns its path (the model holds theta_T)."""
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


@dataclass(frozen=True)
class Config(Presets):
    """Sizes: per_class training images per class; show: held-out images per class in the
    class-ordered kernel matrices (and per digit in the handwritten / printed blocks);
    printed_per_digit: printed digits per digit for the confusion matrix (the first `show` go
    into the blocks). Network: `MLP(64, width, depth, out_dim=10, activation)` trained `steps`
    steps of full-batch Adam at `lr` on the cross-entropy.
    """

    scale: str
    per_class: int
    show: int
    printed_per_digit: int
    width: int
    steps: int
    lr: float = 0.01
    depth: int = 3
    activation: str = "gelu"

    sources: ClassVar[dict[str, str]] = {
        "per_class": "ours: Guo et al. give no training-set size in our copy; scikit-learn's digits have about "
                     "180 images per class, and the rest are held out",
        "show": "Guo et al. Fig. 2: 'we use 10 images per class (100 samples total), ordered by class'; Fig. 5: "
                "'10 images per class for MNIST digits (0-9) and 10 printed images per digit'",
        "printed_per_digit": "ours: Guo et al. do not say how many printed digits enter the confusion matrix",
        "width": "ours: Guo et al.'s architecture is not in our copy",
        "steps": "ours: Guo et al. train MNIST for 200 epochs (Fig. 5: 'after training (200-th epoch)'); ours are "
                 "full-batch Adam steps on far fewer images",
        "lr": "ours: Adam's step, not in Guo et al.",
        "depth": "ours: the 3-layer network of the chapter's planar studies (Guo et al.'s is not in our copy)",
        "activation": "ours: GELU, as in the chapter's planar studies (Guo et al.'s is not in our copy)",
    }

    def __post_init__(self) -> None:
        if self.show > self.printed_per_digit:
            raise ValueError(f"show={self.show} must be <= printed_per_digit={self.printed_per_digit}")

    @classmethod
    def quick(cls) -> "Config":
        return cls(scale="quick", per_class=30, show=10, printed_per_digit=24, width=64, steps=300)

    @classmethod
    def paper(cls) -> "Config":
        return cls(scale="paper", per_class=100, show=10, printed_per_digit=60, width=256, steps=1000)


@dataclass
class Result:
    """The ten-class network's kernels (Tn: `normalized_trace_kernel`) and its printed digits.

    train_accuracy, test_accuracy (held-out handwritten, every image not trained on);
    show_labels (10 show,) and class_kernel (2, 10 show, 10 show) Tn at [initialization,
    trained], ordered by class; class_contrast (2, 2): mean Tn within classes and between
    classes (off-diagonal pairs) at [init, trained].
    Printed digits: mixed_labels (20 show,), mixed_printed (20 show,) bool, ordered as
    handwritten 0, printed 0, handwritten 1, ...; mixed_kernel (2, 20 show, 20 show) at
    [init, trained]; cross_contrast (2, 2): mean Tn between a handwritten and a printed image
    of the same digit and of different digits, at [init, trained]; printed_accuracy and
    confusion (10, 10) (rows: true digit, columns: predicted) over printed_per_digit per digit;
    printed_examples, handwritten_examples (10, 64) one of each digit (0..16 scale).
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


def confused_rows(confusion: np.ndarray) -> int:
    """Rows of a confusion matrix (c, c) (rows: true class) in which one wrong class is predicted
    more often than the true one."""
    wrong = confusion - np.diag(np.diag(confusion))
    return int((wrong.max(1) > np.diag(confusion)).sum())


def numbers(result: Result) -> dict[str, str]:
    """The chapter's numbers, by glue name: training images per class, shown images per class,
    the network's depth, held-out and printed accuracies, printed digits per digit, the rows of
    the printed confusion matrix led by a wrong digit (`confused_rows`), and the mean
    kernel within / between classes and handwritten-printed same / different digit, at
    initialization and the end."""
    values = {
        "kernelevolution-per-class": f"{result.config.per_class}",
        "kernelevolution-show": f"{result.config.show}",
        "kernelevolution-digits-depth": f"{result.config.depth}",
        "kernelevolution-test-acc": f"{result.test_accuracy:.0%}",
        "kernelevolution-printed-acc": f"{result.printed_accuracy:.0%}",
        "kernelevolution-printed-n": f"{result.config.printed_per_digit}",
        "kernelevolution-confused-rows": f"{confused_rows(result.confusion)}",
    }
    for k, when in enumerate(WHEN):
        values[f"kernelevolution-within-{when}"] = f"{result.class_contrast[k, 0]:.2f}"
        values[f"kernelevolution-between-{when}"] = f"{result.class_contrast[k, 1]:.2f}"
        values[f"kernelevolution-cross-same-{when}"] = f"{result.cross_contrast[k, 0]:.2f}"
        values[f"kernelevolution-cross-diff-{when}"] = f"{result.cross_contrast[k, 1]:.2f}"
    return values


def run(config: Config, seed: int = 0, *, device: str | torch.device = "cpu") -> Result:
    """Train the ten-class network (data and network seed `seed`, shown digits seed + 2) and read
    its kernels. Digits loaded on the CPU; the network and kernels computed on `device`."""
    device = check_device(device)
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
    return Result(
        config=config, train_accuracy=accuracy(model, x / 16, y), test_accuracy=accuracy(model, rest / 16, rest_y),
        show_labels=shown_y.numpy(), class_kernel=class_kernel,
        class_contrast=np.stack([block_means(k, same, off_diagonal) for k in class_kernel]),
        mixed_labels=mixed_labels, mixed_printed=mixed_printed, mixed_kernel=mixed_kernel,
        cross_contrast=np.stack([block_means(k, mixed_same, cross) for k in mixed_kernel]),
        printed_accuracy=float(np.mean(predicted == printed_y.numpy())),
        confusion=confusion_matrix(printed_y.numpy(), predicted, labels=np.arange(10)),
        printed_examples=printed[:: config.printed_per_digit].numpy(),
        handwritten_examples=shown[:: config.show].numpy(),
    )
