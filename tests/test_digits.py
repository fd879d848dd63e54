import gzip
import math
import pickle
import struct

import numpy as np
import pytest
import torch
from scipy import ndimage
from sklearn.datasets import load_digits

from pathkernel.data import digits
from pathkernel.data.waves import wave, waves


def test_handwritten_digits_are_sklearn_rows_grouped_by_class_and_exclude_works():
    reference = load_digits()
    x, y, index = digits.handwritten_digits((3, 1, 7), per_class=5, seed=0)
    np.testing.assert_array_equal(x.numpy(), reference.data[index])
    np.testing.assert_array_equal(y.numpy(), reference.target[index])
    assert y.tolist() == [3] * 5 + [1] * 5 + [7] * 5 and x.dtype == torch.float64
    assert x.min() >= 0 and x.max() <= 16
    again = digits.handwritten_digits((3, 1, 7), per_class=5, seed=0)[2]
    np.testing.assert_array_equal(index, again)
    rest, rest_y, rest_index = digits.handwritten_digits((3, 1, 7), exclude=index)
    assert not set(rest_index) & set(index)
    assert len(rest_index) + 15 == int(np.isin(reference.target, (3, 1, 7)).sum())


@pytest.mark.parametrize("call, match", [
    (lambda: digits.handwritten_digits((1, 1)), "distinct digits"),
    (lambda: digits.handwritten_digits((10,)), "distinct digits"),
    (lambda: digits.handwritten_digits((0,), per_class=10_000), "per_class=10000"),
    (lambda: digits.printed_digits(0), "per_digit=0"),
    (lambda: digits.printed_digits(1, fonts=()), "fonts is empty"),
    (lambda: digits.printed_digits(1, rotation=95), "rotation=95"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_unknown_font_is_named():
    with pytest.raises(FileNotFoundError, match="NoSuchFont.ttf"):
        digits.render_glyph("3", "NoSuchFont.ttf")


def test_optdigits_reduce_counts_ink_pixels_of_4x4_blocks():
    bitmap = np.random.default_rng(0).random((32, 32)) < 0.4
    ink = np.kron(bitmap, np.ones((4, 4)))  # each bitmap pixel drawn as a 4 x 4 square of the 128 x 128 image
    expected = np.array([[bitmap[4 * i:4 * i + 4, 4 * j:4 * j + 4].sum() for j in range(8)] for i in range(8)])
    np.testing.assert_array_equal(digits.optdigits_reduce(ink), expected)
    thick = ndimage.binary_dilation(bitmap)
    expected_thick = np.array([[thick[4 * i:4 * i + 4, 4 * j:4 * j + 4].sum() for j in range(8)] for i in range(8)])
    np.testing.assert_array_equal(digits.optdigits_reduce(ink, thicken=1), expected_thick)
    with pytest.raises(ValueError, match="multiple of 32"):
        digits.optdigits_reduce(np.zeros((30, 30)))


def test_affine_jitter_without_rotation_zoom_or_shear_is_a_shift():
    image = digits.render_glyph("7", "DejaVuSans.ttf", 64)
    out = digits.affine_jitter(image, np.random.default_rng(5), rotation=0, scale=0, shear=0, shift=0.1)
    draws = np.random.default_rng(5)
    for _ in range(4):  # angle, zoom (2 draws), shear: all zero-width here, then the shift
        draws.uniform()
    t = draws.uniform(-0.1, 0.1, size=2) * 64
    np.testing.assert_allclose(out, ndimage.shift(image, t, order=1, mode="constant"), atol=1e-12)
    same = digits.affine_jitter(image, np.random.default_rng(5), rotation=0, scale=0, shear=0, shift=0)
    np.testing.assert_allclose(same, image, atol=1e-12)


def test_glyph_fills_its_square_and_keeps_its_holes():
    zero = digits.render_glyph("0", "DejaVuSans.ttf", 128)
    assert zero.shape == (128, 128) and 0 <= zero.min() and zero.max() <= 1
    rows, cols = np.flatnonzero(zero.max(1) > 0.5), np.flatnonzero(zero.max(0) > 0.5)
    assert rows[0] <= 2 and rows[-1] >= 125  # the taller side fills the square
    assert abs((cols[0] + cols[-1]) / 2 - 63.5) <= 2 and cols[-1] - cols[0] < 120  # the other in proportion, centred
    assert zero[64, 64] < 0.05  # the counter of the 0 stays empty
    assert digits.render_glyph("1", "DejaVuSans.ttf", 128).sum() < digits.render_glyph("8", "DejaVuSans.ttf", 128).sum()


def test_printed_digits_format_labels_and_seed():
    x, y = digits.printed_digits(3, digits=(2, 5), seed=0)
    assert x.shape == (6, 64) and x.dtype == torch.float64 and y.tolist() == [2, 2, 2, 5, 5, 5]
    assert torch.equal(x, x.round()) and x.min() >= 0 and x.max() <= 16
    torch.testing.assert_close(x, digits.printed_digits(3, digits=(2, 5), seed=0)[0], rtol=0, atol=0)
    assert not torch.equal(x, digits.printed_digits(3, digits=(2, 5), seed=1)[0])
    # mean ink of printed digits is in the range of the handwritten ones (pen strokes are thick)
    handwritten = digits.handwritten_digits((2, 5))[0]
    assert 0.5 * handwritten.mean() < x.mean() < 1.5 * handwritten.mean()


def _write_idx(path, array: np.ndarray, compress: bool):
    payload = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(f"{path}.gz", "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


@pytest.mark.parametrize("compress", [False, True])
def test_load_mnist_reads_idx_files(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 28, 28))
    labels = rng.integers(0, 10, size=4)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", images, compress)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels, compress)
    x, y = digits.load_mnist(tmp_path, "test")
    assert x.shape == (4, 784) and x.dtype == torch.float64
    np.testing.assert_allclose(x.numpy(), images.reshape(4, -1) / 255.0)
    np.testing.assert_array_equal(y.numpy(), labels)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.*Nothing is downloaded"):
        digits.load_mnist(tmp_path, "train")


def test_load_mnist_refuses_bad_files_and_splits(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x0d\x03" + b"\x00" * 12)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2), False)
    with pytest.raises(ValueError, match="not an IDX file of unsigned bytes"):
        digits.load_mnist(tmp_path, "test")
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(struct.pack(">BBBB3I", 0, 0, 8, 3, 2, 2, 2) + b"\x01" * 7)
    with pytest.raises(ValueError, match="holds 7 bytes"):
        digits.load_mnist(tmp_path, "test")
    with pytest.raises(ValueError, match="split='valid'"):
        digits.load_mnist(tmp_path, "valid")


def test_load_cifar10_reads_python_batches(tmp_path):
    rng = np.random.default_rng(1)
    batches = {}
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        batches[name] = {b"data": rng.integers(0, 256, size=(3, 3072)).astype(np.uint8),
                         b"labels": rng.integers(0, 10, size=3).tolist()}
        with open(tmp_path / name, "wb") as f:
            pickle.dump(batches[name], f)
    x, y = digits.load_cifar10(tmp_path, "train")
    assert x.shape == (15, 3072)
    train = np.concatenate([batches[f"data_batch_{k}"][b"data"] for k in range(1, 6)])
    np.testing.assert_allclose(x.numpy(), train / 255)
    assert y.tolist() == sum((batches[f"data_batch_{k}"][b"labels"] for k in range(1, 6)), [])
    xt, yt = digits.load_cifar10(tmp_path, "test")
    assert xt.shape == (3, 3072) and yt.tolist() == batches["test_batch"][b"labels"]
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3.*Nothing is downloaded"):
        digits.load_cifar10(tmp_path, "train")


def test_waves_against_numpy():
    x, y = waves("square", 9)
    grid = np.linspace(-math.pi, math.pi, 9)
    np.testing.assert_allclose(x[:, 0].numpy(), grid)
    np.testing.assert_array_equal(y.numpy(), np.where(np.sin(grid) >= 0, 1.0, -1.0))
    np.testing.assert_allclose(waves("sine", 9)[1].numpy(), np.sin(grid), atol=1e-15)
    assert wave("square", torch.tensor([0.5, -0.5])).tolist() == [1.0, -1.0]
    with pytest.raises(ValueError, match="kind='cosine'"):
        waves("cosine", 5)
    with pytest.raises(ValueError, match="low=1"):
        waves("sine", 5, low=1, high=0)


@pytest.mark.parametrize("call, match", [
    (lambda: digits.handwritten_digits((2.5,)), r"classes=\[2.5\]"),       # used to be truncated to 2
    (lambda: digits.handwritten_digits((True, 3)), "classes=.*True"),
    (lambda: digits.handwritten_digits(per_class=2.0), "per_class=2.0"),
    (lambda: digits.handwritten_digits(per_class=1, seed=-1), "seed=-1"),
    (lambda: digits.handwritten_digits(exclude=[1.5]), "exclude must hold integer indices"),
    (lambda: digits.handwritten_digits(exclude=[5000]), r"index 5000.*\[0, 1797\)"),
    (lambda: digits.balanced_subset(np.arange(10), range(3), 1, seed=float("nan")), "seed=nan"),
    (lambda: digits.printed_digits(1, margin=float("nan")), "margin=nan"),
    (lambda: digits.printed_digits(1, rotation=float("inf")), "rotation=inf"),
    (lambda: digits.printed_digits(1, rotation=True), "rotation=True"),  # 0 <= True < 90 used to pass
    (lambda: digits.printed_digits(1, shear=float("nan")), "shear=nan"),
    (lambda: digits.printed_digits(1, scale=-0.1), "scale=-0.1"),
    (lambda: digits.printed_digits(1, shift=0.5), "shift=0.5"),
    (lambda: digits.printed_digits(1, thicken=True), "thicken=True"),
    (lambda: digits.printed_digits(1, digits=(1.0,)), r"digits=\[1.0\]"),
    (lambda: digits.printed_digits(1, fonts="cmr10.ttf"), "not one string"),
    (lambda: digits.optdigits_reduce(np.zeros((32, 32)), thicken=-1), "thicken=-1"),
    (lambda: digits.optdigits_reduce(np.full((32, 32), np.nan)), "ink holds a non-finite value"),
    (lambda: digits.render_glyph("3", "cmr10.ttf", size=0), "size=0"),
    (lambda: waves("sine", 5, low=float("nan")), "low=nan"),
    (lambda: waves("sine", 5, low=-float("inf"), high=0.0), "low=-inf"),
    (lambda: waves("sine", 5, high=True), "high=True"),
    (lambda: waves("sine", 5.0), "n=5.0"),
    (lambda: wave("sine", torch.tensor([0.0, float("nan")])), r"non-finite value \(nan\)"),
])
def test_non_finite_and_bool_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("n", [3, 7, 9, 51, 101, 1001])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_odd_waves_grids_hold_the_origin_exactly(n, dtype):
    x, y = waves("square", n, dtype=dtype)
    assert x[n // 2, 0].item() == 0.0 and y[n // 2].item() == 1.0     # sign(0) = 1, not sign(-2.8e-16)
    assert torch.equal(x, -x.flip(0))
    assert x[0, 0].item() == torch.tensor(-math.pi, dtype=dtype).item() and x[-1, 0] == -x[0, 0]
    np.testing.assert_allclose(x[:, 0].double().numpy(), np.linspace(-math.pi, math.pi, n),
                               atol=4 * torch.finfo(dtype).eps)
