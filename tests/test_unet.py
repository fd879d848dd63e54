import pytest
import torch

import pathkernel as pk
from pathkernel.unet import UNet


@pytest.mark.parametrize("scales, size", [(1, 5), (3, 12), (6, 32), (6, 64)])
def test_output_shape_and_dtype(scales, size):
    for dtype in (torch.float32, torch.float64):
        model = UNet(2, 3, scales=scales, width=2, max_width=8, dtype=dtype).eval()
        out = model(torch.rand(2, 2, size, size, dtype=dtype))
        assert out.shape == (2, 3, size, size) and out.dtype == dtype


def test_widths_double_up_to_the_cap():
    assert UNet(scales=6, width=8).widths == (8, 16, 32, 64, 128, 256)
    assert UNet(scales=6, width=8, max_width=32).widths == (8, 16, 32, 32, 32, 32)
    assert pk.UNet is UNet


def _input_gradient(model, size, pixel):
    """|d out[pixel] / d input| (size, size), by autograd, in eval mode (batch norm is per pixel)."""
    x = torch.rand(1, 1, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x.requires_grad_(True)
    model(x)[0, 0][pixel].backward()
    return x.grad[0, 0].abs()


def test_one_scale_sees_a_5x5_window():
    """Two 3x3 convolutions and a 1x1 head: the output at a pixel depends exactly on the
    inputs within Chebyshev distance 2 (generic weights: every one of them matters)."""
    model = UNet(scales=1, width=4, dtype=torch.float64).eval()
    grad = _input_gradient(model, 16, (7, 9))
    support = torch.zeros(16, 16, dtype=torch.bool)
    support[5:10, 7:12] = True
    assert torch.all(grad[support] > 0) and torch.all(grad[~support] == 0)


def test_two_scales_stay_local_and_six_scales_see_the_whole_image():
    """With two scales the receptive field is 2 + 2 (pool) + 2*2*2 (two convolutions at half
    resolution) + ... well under 64 pixels: the far corner is invisible. With six scales on
    32 x 32 the deepest block sees the whole image: every input pixel moves every output."""
    local = UNet(scales=2, width=4, dtype=torch.float64).eval()
    assert _input_gradient(local, 64, (0, 0))[40:, 40:].max() == 0
    deep = UNet(scales=6, width=4, dtype=torch.float64).eval()
    for pixel in [(0, 0), (31, 31), (0, 31)]:
        assert torch.all(_input_gradient(deep, 32, pixel) > 0)


def test_seeded_initialization_and_untouched_global_rng():
    state = torch.random.get_rng_state()
    a, b, c = UNet(seed=3), UNet(seed=3), UNet(seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    va, vb, vc = (torch.nn.utils.parameters_to_vector(m.parameters()) for m in (a, b, c))
    assert torch.equal(va, vb) and not torch.equal(va, vc)


def test_eval_mode_treats_images_independently():
    model = UNet(scales=3, width=4).eval()
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(model(x)[1:2], model(x[1:2]), rtol=1e-5, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="divisible by 2\\*\\*\\(scales - 1\\) = 32"):
        UNet(scales=6)(torch.rand(1, 1, 48, 48))
    with pytest.raises(ValueError, match=r"\(1, 32, 32\)"):
        UNet(scales=6)(torch.rand(1, 32, 32))
    with pytest.raises(ValueError, match="scales=0"):
        UNet(scales=0)
    with pytest.raises(ValueError, match="max_width=4"):
        UNet(width=8, max_width=4)
    with pytest.raises(TypeError, match="float16"):
        UNet(dtype=torch.float16)
