"""Digit images: scikit-learn's handwritten digits, printed digits rendered from fonts, and
loaders for local copies of MNIST and CIFAR-10 (nothing is ever downloaded).

* `handwritten_digits`: scikit-learn's bundled ``load_digits`` (1,797 images of 8 x 8
  pixels, values 0..16: the UCI "optdigits" set, 32 x 32 bitmaps whose 4 x 4 blocks were
  replaced by their count of ink pixels).
* `printed_digits`: the same format made from matplotlib's bundled fonts (DejaVu, STIX,
  Computer Modern): each glyph is drawn at 128 x 128, jittered by a small random affine
  map (scipy.ndimage), reduced to a 32 x 32 bitmap and then to 8 x 8 block counts, as in
  optdigits.
* `load_mnist`, `load_cifar10`: the standard files in a directory the user gives.
"""

from __future__ import annotations

import functools
import gzip
import numbers
import pickle
import struct
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import PathPatch
from matplotlib.textpath import TextPath
from scipy import ndimage
from sklearn.datasets import load_digits

from pathkernel.validation import finite_number, integer

FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
)
RENDER = 128  # glyphs are drawn at RENDER x RENDER before the optdigits reduction
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR10_FILES = {"train": tuple(f"data_batch_{k}" for k in range(1, 6)), "test": ("test_batch",)}


def balanced_subset(labels: np.ndarray, classes: Sequence[int], per_class: int, *, seed: int) -> np.ndarray:
    """Indices of `per_class` examples of each class in `classes`, drawn without replacement
    (seeded), grouped by class in the order of `classes`. Shape (len(classes) * per_class,)."""
    per_class = integer("per_class", per_class)
    seed = integer("seed", seed, low=0)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels has shape {labels.shape}; expected one label per example (n,)")
    rng = np.random.default_rng(seed)
    chosen = []
    for c in classes:
        pool = np.flatnonzero(labels == c)
        if pool.size < per_class:
            raise ValueError(f"class {c} has {pool.size} examples; per_class={per_class} asks for more")
        chosen.append(np.sort(rng.choice(pool, per_class, replace=False)))
    return np.concatenate(chosen)


def handwritten_digits(
    classes: Sequence[int] = tuple(range(10)),
    per_class: int | None = None,
    *,
    exclude: np.ndarray | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """scikit-learn's handwritten digits of the given classes, grouped by class.

    per_class: that many images per class, drawn at random (seeded) without replacement;
    None takes every image of those classes. exclude: indices into the full set (1,797)
    not to draw (to keep a test set apart from a training set).

    Returns x (n, 64) with values in [0, 16] (row-major 8 x 8), labels y (n,) int64, and the
    indices (n,) of the images in ``load_digits()``.
    """
    classes = _classes(classes)
    if per_class is not None:
        per_class = integer("per_class", per_class)
    seed = integer("seed", seed, low=0)
    data = load_digits()
    labels = data.target.copy()
    if exclude is not None:
        labels[_indices("exclude", exclude, labels.size)] = -1
    if per_class is None:
        index = np.concatenate([np.flatnonzero(labels == c) for c in classes])
    else:
        index = balanced_subset(labels, classes, per_class, seed=seed)
    return (torch.as_tensor(data.data[index], dtype=dtype), torch.as_tensor(data.target[index], dtype=torch.int64),
            index)


def _classes(classes: Sequence[int], name: str = "classes") -> list[int]:
    """Distinct integer digits 0..9 (a float such as 2.5, or a bool, is named, not truncated)."""
    if isinstance(classes, (str, bytes)) or not hasattr(classes, "__iter__"):
        raise ValueError(f"{name}={classes!r} must be a sequence of distinct digits in 0..9")
    classes = list(classes)
    if not classes or not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in classes):
        raise ValueError(f"{name}={classes} must be distinct digits in 0..9 (integers)")
    classes = [int(c) for c in classes]
    if len(set(classes)) != len(classes) or not all(0 <= c <= 9 for c in classes):
        raise ValueError(f"{name}={classes} must be distinct digits in 0..9")
    return classes


def _indices(name: str, value: object, size: int) -> np.ndarray:
    """Integer indices into an axis of `size` (ValueError for floats, bools or indices out of range)."""
    index = np.asarray(value).reshape(-1)
    if index.size == 0:
        return index.astype(int)
    if index.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer indices; got dtype {index.dtype}")
    if index.min() < 0 or index.max() >= size:
        raise ValueError(f"{name} holds index {int(index.min() if index.min() < 0 else index.max())}; "
                         f"expected indices in [0, {size})")
    return index


def render_glyph(character: str, font: str, size: int = RENDER) -> np.ndarray:
    """The glyph of `character` in the bundled matplotlib font file `font` (a name in
    ``mpl-data/fonts/ttf``), drawn black on white and scaled to fill a size x size square
    (its longer side fills the square, the other in proportion, centred). Returns ink in
    [0, 1], (size, size) (a fresh copy of a cached drawing).
    """
    size = integer("size", size)
    if not isinstance(character, str) or not isinstance(font, str):
        raise ValueError(f"character={character!r} and font={font!r} must be strings")
    return _glyph(character, font, size).copy()


@functools.lru_cache(maxsize=512)
def _glyph(character: str, font: str, size: int) -> np.ndarray:
    path_to_font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / font
    if not path_to_font.is_file():
        raise FileNotFoundError(f"font {font!r} is not bundled with matplotlib (looked in {path_to_font.parent})")
    glyph = TextPath((0, 0), character, size=1.0, prop=FontProperties(fname=path_to_font))
    (x0, y0), (x1, y1) = glyph.get_extents().get_points()
    half = max(x1 - x0, y1 - y0) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    fig = Figure(figsize=(1, 1), dpi=size)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(cx - half, cx + half)
    ax.set_ylim(cy - half, cy + half)
    ax.add_patch(PathPatch(glyph, facecolor="black", edgecolor="none"))
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba(), dtype=np.float64)
    return 1.0 - rgba[..., 0] / 255.0


def affine_jitter(image: np.ndarray, rng: np.random.Generator, *, rotation: float, scale: float,
                  shear: float, shift: float) -> np.ndarray:
    """image (s, s) under a random affine map about its centre: rotation angle uniform in
    [-rotation, rotation] degrees, zoom 1 + U[-scale, scale] per axis, shear U[-shear, shear],
    shift U[-shift, shift] * s per axis (scipy.ndimage.affine_transform, linear interpolation).
    Each range must be a finite number >= 0 (rotation < 90, the others < 0.5)."""
    _jitter_ranges(rotation=rotation, scale=scale, shear=shear, shift=shift)
    s = image.shape[0]
    angle = np.deg2rad(rng.uniform(-rotation, rotation))
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    zoom = np.diag(1 + rng.uniform(-scale, scale, size=2))
    skew = np.array([[1.0, rng.uniform(-shear, shear)], [0.0, 1.0]])
    forward = rotate @ zoom @ skew
    inverse = np.linalg.inv(forward)
    centre = np.full(2, (s - 1) / 2)
    offset = centre - inverse @ (centre + rng.uniform(-shift, shift, size=2) * s)
    return ndimage.affine_transform(image, inverse, offset=offset, order=1, mode="constant", cval=0.0)


def _jitter_ranges(**ranges: float) -> None:
    """Each of rotation (degrees), scale, shear, shift: a finite number >= 0 (rotation < 90, the others < 0.5)."""
    for name, value in ranges.items():
        finite_number(name, value, 0, 90 if name == "rotation" else 0.5, open_high=True)


def optdigits_reduce(ink: np.ndarray, thicken: int = 0) -> np.ndarray:
    """A (32k, 32k) ink image in [0, 1] -> the 8 x 8 optdigits format: resample to a 32 x 32
    bitmap (block means >= 0.5), thicken its strokes by `thicken` pixels (binary dilation,
    3 x 3 cross), then count the ink pixels of each 4 x 4 block (0..16)."""
    thicken = integer("thicken", thicken, low=0)  # scipy reads iterations < 1 as "until nothing changes"
    s = ink.shape[0]
    if ink.shape != (s, s) or s % 32:
        raise ValueError(f"ink image has shape {ink.shape}; expected a square with side a multiple of 32")
    if not np.all(np.isfinite(ink)):
        raise ValueError("ink holds a non-finite value (NaN or inf); expected ink in [0, 1]")
    f = s // 32
    bitmap = ink.reshape(32, f, 32, f).mean(axis=(1, 3)) >= 0.5
    if thicken:
        bitmap = ndimage.binary_dilation(bitmap, iterations=thicken)
    return bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3)).astype(np.float64)


def printed_digits(
    per_digit: int,
    *,
    digits: Sequence[int] = tuple(range(10)),
    fonts: Sequence[str] = FONTS,
    rotation: float = 8.0,
    scale: float = 0.08,
    shear: float = 0.1,
    shift: float = 0.04,
    margin: float = 0.1,
    thicken: int = 1,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Printed digits in the format of `handwritten_digits`, grouped by digit.

    Image j of a digit uses font ``fonts[j % len(fonts)]``, drawn inside a frame with
    `margin` (a fraction of the side) on each side, then jittered by `affine_jitter`
    (one seeded generator for the whole set) and reduced by `optdigits_reduce` with strokes
    thickened by `thicken` pixels of the 32 x 32 bitmap (printed strokes are thinner than the
    pen strokes of optdigits).

    Returns x (len(digits) * per_digit, 64) with values in [0, 16] and labels (n,) int64.
    """
    per_digit = integer("per_digit", per_digit)
    thicken = integer("thicken", thicken, low=0)
    seed = integer("seed", seed, low=0)
    digits = _classes(digits, "digits")
    if isinstance(fonts, str):
        raise ValueError(f"fonts={fonts!r} must be a sequence of font file names, not one string")
    if not fonts:
        raise ValueError("fonts is empty; give at least one font file name")
    margin = finite_number("margin", margin, 0, 0.5, open_high=True)
    _jitter_ranges(rotation=rotation, scale=scale, shear=shear, shift=shift)
    pad = int(round(margin * RENDER))
    inner = RENDER - 2 * pad
    rng = np.random.default_rng(seed)
    glyphs: dict[tuple[int, str], np.ndarray] = {}
    images = []
    for digit in digits:
        for j in range(per_digit):
            font = fonts[j % len(fonts)]
            if (digit, font) not in glyphs:
                framed = np.zeros((RENDER, RENDER))
                framed[pad:pad + inner, pad:pad + inner] = render_glyph(str(digit), font, inner)
                glyphs[digit, font] = framed
            ink = affine_jitter(glyphs[digit, font], rng, rotation=rotation, scale=scale, shear=shear, shift=shift)
            images.append(optdigits_reduce(ink, thicken).reshape(-1))
    labels = torch.repeat_interleave(torch.tensor(digits), per_digit)
    return torch.as_tensor(np.stack(images), dtype=dtype), labels


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
