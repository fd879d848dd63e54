"""Printed digits in the optdigits format, made from matplotlib's bundled fonts (DejaVu,
STIX, Computer Modern): each glyph is drawn at 128 x 128 (`render_glyph`), jittered by a
small random affine map (`affine_jitter`, scipy.ndimage), reduced to a 32 x 32 bitmap and
then to 8 x 8 block counts (`optdigits_reduce`), as in optdigits (`printed_digits`)."""

from __future__ import annotations

import functools
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

from pathkernel.data.digits.handwritten import digit_classes
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
    digits = digit_classes(digits, "digits")
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
