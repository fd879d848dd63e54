"""Loaders for local copies of MNIST (IDX files, `load_mnist`, `read_idx`) and CIFAR-10
(the pickled "python version", `load_cifar10`); nothing is ever downloaded."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import torch

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR10_FILES = {"train": tuple(f"data_batch_{k}" for k in range(1, 6)), "test": ("test_batch",)}


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _find(directory: Path, name: str, dataset: str, layout: str) -> Path:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{dataset}: no file {name!r} (or {name}.gz) in {str(directory)!r}. Expected layout: {layout}. "
        f"Nothing is downloaded: give the directory of a local copy."
    )


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (the MNIST format; optionally gzip-compressed) as a uint8 array.

    Format: 2 zero bytes, type byte 0x08 (unsigned byte), number of dimensions d, then d
    big-endian uint32 sizes, then the data in row-major order.
    """
    path = Path(path)
    with _open(path) as f:
        header = f.read(4)
        if len(header) < 4 or header[:2] != b"\x00\x00" or header[2] != 0x08:
            raise ValueError(f"{path} is not an IDX file of unsigned bytes (header {header!r})")
        dims = struct.unpack(f">{header[3]}I", f.read(4 * header[3]))
        data = np.frombuffer(f.read(), dtype=np.uint8).copy()
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says shape {dims} ({int(np.prod(dims))} bytes) but holds {data.size} bytes")
    return data.reshape(dims)


def load_mnist(directory: str | Path, split: str = "train", *,
               dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST from a local directory holding the four original IDX files (each optionally
    ``.gz``): ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``.

    split: "train" (60,000 images) or "test" (10,000). Returns x (n, 784) in [0, 1]
    (28 x 28 row-major, pixel / 255) and labels (n,) int64.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split={split!r}; expected one of {tuple(MNIST_FILES)}")
    directory = Path(directory).expanduser()
    layout = "the IDX files " + ", ".join(name for pair in MNIST_FILES.values() for name in pair) + " (optionally .gz)"
    images, labels = (read_idx(_find(directory, name, "MNIST", layout)) for name in MNIST_FILES[split])
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"MNIST {split}: images of shape {images.shape} do not match labels of shape {labels.shape}")
    x = torch.as_tensor(images.reshape(images.shape[0], -1) / 255.0, dtype=dtype)
    return x, torch.as_tensor(labels, dtype=torch.int64)


def load_cifar10(directory: str | Path, split: str = "train", *,
                 dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 from a local copy of the "python version": a directory holding
    ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` (as in ``cifar-10-batches-py``).

    Each batch is a pickled dict with ``b"data"`` (10000, 3072) uint8 (red, green, blue
    planes of 32 x 32, row-major) and ``b"labels"`` (a list of ints in 0..9). Unpickling
    runs code from the file: use only a trusted copy. split: "train" (the five data
    batches) or "test". Returns x (n, 3072) in [0, 1] (pixel / 255) and labels (n,) int64.
    """
    if split not in CIFAR10_FILES:
        raise ValueError(f"split={split!r}; expected one of {tuple(CIFAR10_FILES)}")
    directory = Path(directory).expanduser()
    layout = "the pickled batches data_batch_1 .. data_batch_5 and test_batch of cifar-10-batches-py"
    xs, ys = [], []
    for name in CIFAR10_FILES[split]:
        path = directory / name
        if not path.is_file():
            raise FileNotFoundError(
                f"CIFAR-10: no file {name!r} in {str(directory)!r}. Expected layout: {layout}. "
                f"Nothing is downloaded: give the directory of a local copy."
            )
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != labels.shape[0]:
            raise ValueError(f"{path}: data of shape {data.shape} and {labels.shape[0]} labels; "
                             f"expected (n, 3072) and n")
        xs.append(data)
        ys.append(labels)
    x = torch.as_tensor(np.concatenate(xs) / 255.0, dtype=dtype)
    return x, torch.as_tensor(np.concatenate(ys), dtype=torch.int64)
