"""The chapter's data, model and recorded loop: scikit-learn's 8 x 8 digits, a small GELU CNN and an
ordinary hand-written Adam loop with the two lines that record it (`pathkernel.Recorder`)."""

from __future__ import annotations

import inspect

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from pathkernel.attribution import Recorder
from pathkernel.training import TrainingPath
from pathkernel.validation import integer

CLASSES = 10


def digits(n_train: int, n_test: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's 8 x 8 digits, float64 in [0, 1], shape (n, 1, 8, 8); a stratified split.

    Returns x_train, y_train, x_test, y_test (labels int64).
    """
    bunch = load_digits()
    integer("n_train", n_train, 10, len(bunch.target) - 10)
    integer("n_test", n_test, 10, len(bunch.target) - n_train)
    x = bunch.images.astype(np.float64) / 16.0
    x_train, x_test, y_train, y_test = train_test_split(
        x, bunch.target, train_size=n_train, test_size=n_test, stratify=bunch.target, random_state=seed)
    as_images = lambda a: torch.from_numpy(a).unsqueeze(1)  # noqa: E731
    return as_images(x_train), torch.from_numpy(y_train), as_images(x_test), torch.from_numpy(y_test)


def small_cnn(channels: tuple[int, int], seed: int) -> nn.Sequential:
    """Conv(1 -> c1, 3x3, pad 1) - GELU - Conv(c1 -> c2, 3x3, stride 2) - GELU - Linear(9 c2 -> 10), float64."""
    torch.manual_seed(seed)
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.GELU(),
        nn.Conv2d(c1, c2, 3, stride=2), nn.GELU(),
        nn.Flatten(), nn.Linear(9 * c2, CLASSES),
    ).double()


def train_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float, weight_decay: float,
               epochs: int, batch_size: int, seed: int) -> TrainingPath:
    """An ordinary Adam loop over shuffled mini-batches, with the two lines that record it."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    recorder = Recorder(model, optimizer, x, y, loss="cross_entropy")  # added
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y, torch.arange(len(x))),  # the dataset also returns the index
        batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    for _ in range(epochs):
        for xb, yb, index in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            optimizer.step()
            recorder.step(index)  # added
    return recorder.path


def loop_source() -> str:
    """The source of `train_loop`, as shown in the chapter."""
    return inspect.getsource(train_loop)
