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

Modules: `handwritten` (scikit-learn's digits, balanced subsets), `printed` (glyphs from
fonts, jitter, the optdigits reduction), `files` (local MNIST and CIFAR-10 files).
"""

from pathkernel.data.digits.files import CIFAR10_FILES, MNIST_FILES, load_cifar10, load_mnist, read_idx
from pathkernel.data.digits.handwritten import balanced_subset, handwritten_digits
from pathkernel.data.digits.printed import FONTS, RENDER, affine_jitter, optdigits_reduce, printed_digits, render_glyph

__all__ = [
    "FONTS",
    "RENDER",
    "MNIST_FILES",
    "CIFAR10_FILES",
    "balanced_subset",
    "handwritten_digits",
    "render_glyph",
    "affine_jitter",
    "optdigits_reduce",
    "printed_digits",
    "read_idx",
    "load_mnist",
    "load_cifar10",
]
