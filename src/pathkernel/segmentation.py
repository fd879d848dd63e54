"""Training a segmentation network (the U-Net of §6.2) and scoring it by IoU.

Not `pathkernel.train`, which records the parameter path of small models for the
Domingos decomposition: this is an ordinary mini-batch loop for an image-to-image
network, as in §6.2.2 of Courtois, Morel & Arias.

* `Lookahead` (Zhang et al. 2019) around torch.optim.RAdam (Liu et al. 2019) is the
  Ranger optimizer of the paper (`ranger`); ``optimizer="adam"`` uses torch.optim.Adam.
* Loss: binary cross-entropy on the logits (``"bce"``, the talk) or the mean squared
  error of sigmoid(logits) (``"mse"``, the paper), against targets in [0, 1].
* Mini-batches of `batch_size` (32 in the paper) in a random order, each image flipped
  horizontally and vertically with probability 1/2; the learning rate is divided by 10
  when the epoch's mean loss has not improved for `patience` epochs
  (torch.optim.lr_scheduler.ReduceLROnPlateau).
* Deterministic: the order and flips of epoch e come from a generator seeded with
  (seed, e), so a run resumed from the checkpoint of epoch e continues exactly as the
  uninterrupted run. Checkpoints are plain tensors and numbers, loaded with
  ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from pathkernel.determinism import TRAINING_THREADS, fixed_threads
from pathkernel.functional import progress
from pathkernel.validation import integer

OPTIMIZERS = ("ranger", "adam")
LOSSES = ("bce", "mse")


class Lookahead:
    """Lookahead (Zhang et al. 2019): every k steps of the inner optimizer ("fast" weights),
    the slow weights move a fraction alpha towards them, phi <- phi + alpha (theta - phi),
    and the fast weights restart from there, theta <- phi.

    Wraps any torch.optim optimizer; `inner` is that optimizer (give it to learning-rate
    schedulers). `state_dict` holds the inner state, the slow weights and the step count.
    """

    def __init__(self, inner: torch.optim.Optimizer, k: int = 6, alpha: float = 0.5) -> None:
        self.inner = inner
        self.k = integer("k", k)
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha={alpha!r} must lie in (0, 1]")
        self.alpha = alpha
        self.steps = 0
        self.slow = [p.detach().clone() for group in inner.param_groups for p in group["params"]]

    @property
    def params(self) -> list[torch.Tensor]:
        return [p for group in self.inner.param_groups for p in group["params"]]

    def zero_grad(self) -> None:
        self.inner.zero_grad()

    @torch.no_grad()
    def step(self) -> None:
        self.inner.step()
        self.steps += 1
        if self.steps % self.k == 0:
            for slow, fast in zip(self.slow, self.params):
                slow.add_(fast - slow, alpha=self.alpha)
                fast.copy_(slow)

    def state_dict(self) -> dict:
        return {"inner": self.inner.state_dict(), "slow": [s.clone() for s in self.slow], "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state["inner"])
        self.slow = [s.clone() for s in state["slow"]]
        self.steps = int(state["steps"])


def make_optimizer(model: nn.Module, name: str, lr: float) -> tuple[Lookahead | torch.optim.Optimizer, torch.optim.Optimizer]:
    """(optimizer, inner): Ranger = Lookahead(RAdam(lr)) (k=6, alpha=0.5), or Adam(lr) (inner is itself)."""
    if name == "ranger":
        inner = torch.optim.RAdam(model.parameters(), lr=lr)
        return Lookahead(inner), inner
    if name == "adam":
        inner = torch.optim.Adam(model.parameters(), lr=lr)
        return inner, inner
    raise ValueError(f"optimizer={name!r}; expected one of {OPTIMIZERS}")


def segmentation_loss(logits: torch.Tensor, targets: torch.Tensor, loss: str) -> torch.Tensor:
    """Mean over pixels of BCE(logits, targets) or of (sigmoid(logits) - targets)^2."""
    if loss == "bce":
        return nn.functional.binary_cross_entropy_with_logits(logits, targets)
    if loss == "mse":
        return nn.functional.mse_loss(torch.sigmoid(logits), targets)
    raise ValueError(f"loss={loss!r}; expected one of {LOSSES}")


def random_flips(images: torch.Tensor, targets: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip each (image, target) pair (batch, c, H, W) horizontally and vertically, each with probability 1/2."""
    flip = torch.rand(images.shape[0], 2, generator=generator) < 0.5
    for axis, dim in ((0, -2), (1, -1)):
        chosen = flip[:, axis]
        images = torch.where(chosen[:, None, None, None], images.flip(dim), images)
        targets = torch.where(chosen[:, None, None, None], targets.flip(dim), targets)
    return images, targets


@dataclass
class History:
    """Per-epoch mean training loss and learning rate."""

    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)


def train_segmentation(
    model: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 32,
    optimizer: str = "ranger",
    loss: str = "bce",
    flips: bool = True,
    patience: int = 3,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    show_progress: bool | None = None,
    device: str | torch.device = "cpu",
    threads: int = TRAINING_THREADS,
) -> History:
    """Train `model` (in place) to map images to targets, both (n, c, H, W) in [0, 1].

    Mini-batch loop of the module docstring. With `checkpoint`, the state after every
    epoch (model, optimizer, scheduler, history, epoch) is saved there, and a run that
    finds a checkpoint resumes after its epoch: the final weights equal those of an
    uninterrupted run. `device` (e.g. "cuda" for the paper scale) is where the model is moved
    and the batches are sent; the data, the order and the flips stay on the CPU, so the batches
    are the same on every device (the arithmetic on a GPU is not bit-identical to the CPU's).
    The loop runs with `threads` torch threads (`pathkernel.determinism.fixed_threads`; the
    caller's count is restored after), so the weights do not depend on the caller's thread
    count; more threads are faster on a many-core CPU but give other last bits.
    Returns the `History` of all epochs (resumed ones included).
    """
    integer("epochs", epochs)
    integer("batch_size", batch_size)
    integer("patience", patience, low=0)
    integer("threads", threads)
    if not lr > 0:
        raise ValueError(f"lr={lr!r} must be > 0")
    if images.shape != targets.shape or images.dim() != 4:
        raise ValueError(f"images {tuple(images.shape)} and targets {tuple(targets.shape)} must both be (n, c, H, W)")
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r}; expected one of {LOSSES}")
    device = torch.device(device)
    model.to(device)
    opt, inner = make_optimizer(model, optimizer, lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(inner, factor=0.1, patience=patience)
    history, start = History(), 0
    if checkpoint is not None and Path(checkpoint).exists():
        state = torch.load(checkpoint, weights_only=True, map_location=device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, start = History(state["loss"], state["lr"]), int(state["epoch"])
    n = images.shape[0]
    with fixed_threads(threads):  # bit-identical whatever the caller's thread count
        for epoch in progress(range(start, epochs), total=epochs - start, desc="U-Net epochs", enabled=show_progress):
            generator = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))
            order = torch.randperm(n, generator=generator)
            model.train()
            total = 0.0
            for batch in order.split(batch_size):
                x, y = images[batch], targets[batch]
                if flips:
                    x, y = random_flips(x, y, generator)
                x, y = x.to(device), y.to(device)
                value = segmentation_loss(model(x), y, loss)
                opt.zero_grad()
                value.backward()
                opt.step()
                total += value.item() * len(batch)
            history.loss.append(total / n)
            history.lr.append(inner.param_groups[0]["lr"])
            scheduler.step(total / n)
            if checkpoint is not None:
                state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                         "scheduler": scheduler.state_dict(), "loss": history.loss, "lr": history.lr,
                         "epoch": epoch + 1}
                torch.save(state, checkpoint)
    model.eval()
    return history


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """sigmoid(model(images)) in eval mode and without autograd (no batch's activations are kept
    for a backward pass), by batches on the model's device: (n, c, H, W) probabilities, on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        return torch.cat([torch.sigmoid(model(chunk.to(device))).cpu() for chunk in images.split(batch_size)])


def iou(
    prediction: np.ndarray | torch.Tensor, truth: np.ndarray | torch.Tensor, ignore: np.ndarray | None = None
) -> np.ndarray:
    """Intersection over union of boolean masks, one value per image.

    prediction, truth (and `ignore`, pixels left out of both masks): bool arrays of the
    same shape (n, ...) (or (H, W) for one image, returned as shape (1,)).
    ``IoU = |P and T| / |P or T|`` (pixel counts) over the pixels not ignored, 1 when both are empty there.
    """
    prediction, truth = np.asarray(prediction), np.asarray(truth)
    masks = [prediction, truth] + ([] if ignore is None else [np.asarray(ignore)])
    if any(m.shape != truth.shape for m in masks):
        raise ValueError(f"masks differ in shape: {[m.shape for m in masks]}")
    if any(m.dtype != bool for m in masks):
        raise TypeError(f"masks must be bool; got {[str(m.dtype) for m in masks]} (threshold them first)")
    if ignore is not None:
        prediction, truth = prediction & ~masks[2], truth & ~masks[2]
    if prediction.ndim == 2:
        prediction, truth = prediction[None], truth[None]
    axes = tuple(range(1, prediction.ndim))
    inter = (prediction & truth).sum(axis=axes)
    union = (prediction | truth).sum(axis=axes)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def rim(truth: np.ndarray) -> np.ndarray:
    """The pixels at the edge of each mask: inside pixels with a 4-neighbour outside and
    outside pixels with a 4-neighbour inside (the mask dilated minus the mask eroded,
    scipy.ndimage, pixels beyond the border outside). truth: bool (n, H, W) or (H, W)."""
    truth = np.asarray(truth)
    if truth.dtype != bool or truth.ndim not in (2, 3):
        raise ValueError(f"truth must be a bool (H, W) or (n, H, W) array; got {truth.dtype} {truth.shape}")
    cross = ndimage.generate_binary_structure(2, 1)
    structure = cross if truth.ndim == 2 else cross[None]
    return ndimage.binary_dilation(truth, structure) & ~ndimage.binary_erosion(truth, structure, border_value=0)
