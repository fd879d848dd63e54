"""The architectures of the shape-filling comparison: shapes, reach (autograd), parameter counts."""

import numpy as np
import pytest
import torch

from pathkernel.data.planar2d import lanczos_downsample, network_pair
from pathkernel.experiments import shape_filling
from pathkernel.shape_nets import NAMES, LocalCNN, build

SIZE = 32


def _reach(model, pixel, size=SIZE):
    """|d out[pixel] / d input| (size, size) summed over 4 random images, by autograd, in eval
    mode and float64 (batch norm is then an affine map per channel)."""
    model = model.double().eval()
    x = torch.rand(4, 1, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x.requires_grad_(True)
    model(x)[:, 0, pixel[0], pixel[1]].sum().backward()
    return x.grad[:, 0].abs().sum(dim=0).numpy()


def _chebyshev(pixel, size=SIZE):
    i, j = np.mgrid[0:size, 0:size]
    return np.maximum(abs(i - pixel[0]), abs(j - pixel[1]))


@pytest.mark.parametrize("name", NAMES)
def test_every_architecture_maps_an_image_to_one_logit_per_pixel(name):
    model = build(name, width=8, depth=3, seed=0).eval()
    for size in (32, 64):
        assert model(torch.rand(2, 1, size, size)).shape == (2, 1, size, size)


@pytest.mark.parametrize("depth", [2, 4, 7])
def test_a_local_cnn_sees_exactly_its_window(depth):
    """No gradient beyond Chebyshev distance `depth`, some on the window's edge."""
    pixel = (15, 12)
    grad, distance = _reach(build("local", width=4, depth=depth, seed=0), pixel), _chebyshev(pixel)
    assert np.all(grad[distance > depth] == 0)
    assert np.all(grad[distance == 0] > 0) and grad[distance == depth].max() > 0


def test_the_deep_cnn_reaches_the_border_from_the_centre_only_with_half_the_size():
    centre = (SIZE // 2, SIZE // 2)
    deep = _reach(build("deep", width=4, depth=SIZE // 2, seed=0), centre)
    assert deep[0].max() > 0 and deep[:, 0].max() > 0
    shallow = _reach(build("deep", width=4, depth=SIZE // 2 - 1, seed=0), centre)
    assert shallow[0].max() == 0 and shallow[:, 0].max() == 0


@pytest.mark.parametrize("name", ["global pool", "self-attention", "global context", "unet"])
def test_global_architectures_see_the_far_corner(name):
    """The output at one corner moves with the input at the opposite corner (a local CNN's does not)."""
    assert _reach(build(name, width=8, depth=2, seed=0), (0, 0))[-1, -1] > 0
    assert _reach(build("local", width=4, depth=2, seed=0), (0, 0))[-1, -1] == 0


def _conv_layers(width, depth):
    """3x3 convolutions without bias + batch norm (2 per channel): 1 -> w, then (depth - 1) w -> w; head w -> 1."""
    return 9 * width + 2 * width + (depth - 1) * (9 * width * width + 2 * width) + width + 1


def _unet(widths, fan_in=1):
    block = lambda a, b: 9 * a * b + 2 * b + 9 * b * b + 2 * b  # noqa: E731
    total = sum(block(a, b) for a, b in zip([fan_in] + list(widths[:-1]), widths))
    total += sum(4 * widths[s + 1] * widths[s] + widths[s] + block(2 * widths[s], widths[s])
                 for s in range(len(widths) - 1))
    return total + widths[0] + 1


@pytest.mark.parametrize("width, depth", [(8, 4), (16, 6)])
def test_parameter_counts_by_layer(width, depth):
    half, quarter = width // 2, width // 4
    expected = {
        "local": _conv_layers(width, depth),
        "deep": _conv_layers(width, depth),
        "global pool": _conv_layers(width, depth) + (width * width + width) + (2 * width * width + width),
        "self-attention": _conv_layers(width, depth) + 3 * (width * half + half) + half * width + 2 * width,
        "global context": _conv_layers(width, depth) + (width + 1) + (width * quarter + quarter) + 2 * quarter
                          + (quarter * width + width),
        "unet": _unet((8, 16, 32, 32, 32, 32)),
    }
    for name, count in expected.items():
        model = build(name, width=width, depth=depth, seed=0, unet_width=8, unet_max_width=32)
        assert sum(p.numel() for p in model.parameters()) == count, name


def test_same_seed_same_weights_and_the_global_rng_untouched():
    state = torch.random.get_rng_state()
    a, b = build("self-attention", seed=3), build("self-attention", seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="'mlp'"):
        build("mlp")
    with pytest.raises(ValueError, match="channels=4"):
        build("global context", width=4)
    with pytest.raises(ValueError, match="depth=1"):
        LocalCNN(width=4, depth=1)
    with pytest.raises(ValueError, match=r"\(2, 3, 8, 8\)"):
        build("local", width=4)(torch.zeros(2, 3, 8, 8))


def test_the_paper_preset_sees_half_the_stored_size():
    """Courtois et al. §6.2.2: stored at 256 (the talk's size), seen at 128 by the network."""
    paper = shape_filling.Config.paper()
    assert (paper.store_size, paper.size, paper.downsample) == (256, 128, 2)
    assert shape_filling.Config.quick().downsample == 1
    with pytest.raises(ValueError, match="store_size=48"):
        shape_filling.Config(**{**shape_filling.Config.quick().__dict__, "store_size": 48})


def test_network_data_downsamples_the_stored_pair():
    """With store_size = 2 size, the stored pair of each shape (drawn at 4 size) is
    Lanczos-down-sampled by 2 once more; the depth oracle still recovers every target."""
    config = shape_filling.Config(**{**shape_filling.Config.quick().__dict__, "store_size": 64})
    inputs, targets, shapes = shape_filling.network_data(config, "branches", 3, 2, seed=4)
    assert inputs.shape == targets.shape == (2, 1, 32, 32) and shapes.shape == (2, 128, 128)
    for k in range(2):
        stored = network_pair(shapes[k])
        assert stored[0].shape == (64, 64)
        assert np.array_equal(inputs[k, 0], lanczos_downsample(stored[0], 2))
        assert np.array_equal(targets[k, 0], lanczos_downsample(stored[1], 2))
    assert shape_filling.oracle_iou(shapes, targets)[0] == 1.0


def test_self_attention_in_query_chunks_equals_the_whole_softmax(monkeypatch):
    """The non-local block scores its queries in chunks to bound memory on large images: the output
    is the embedded-Gaussian attention of all queries, written out with one softmax (float64)."""
    from pathkernel.shape_nets import NonLocalBlock

    block = NonLocalBlock(4).double().eval()
    x = torch.randn(3, 4, 8, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    query = block.theta(x).flatten(2).transpose(1, 2)
    key = torch.nn.functional.max_pool2d(block.phi(x), 2).flatten(2)
    value = torch.nn.functional.max_pool2d(block.g(x), 2).flatten(2).transpose(1, 2)
    whole = torch.softmax(query @ key, dim=-1) @ value
    expected = x + block.out(whole.transpose(1, 2).reshape(3, -1, 8, 6))
    monkeypatch.setattr(NonLocalBlock, "max_scores", 3 * 12 * 5)  # 5 queries of 48 per chunk, a ragged last one
    torch.testing.assert_close(block(x), expected, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(NonLocalBlock, "max_scores", 1)  # one query per chunk
    torch.testing.assert_close(block(x), expected, rtol=1e-12, atol=1e-12)
