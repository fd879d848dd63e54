"""Training gives bit-identical results for any torch thread count (pathkernel.determinism).

Each case trains the same model from the same seed with 1, 2 and 4 torch threads set by
the caller and compares the trained parameters (and the recorded path or history) with
torch.equal: no tolerance. The cases are chosen to hit the thread-dependent CPU kernels
(before the fix each one differed): a U-Net whose coarsest scale has one pixel (batch
norm's per-thread sums) with oneDNN convolution weight gradients, a small CNN trained by
`pathkernel.train`, and an MLP whose first layer's weight gradient is a long MKL product.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

import pathkernel as pk
from pathkernel.determinism import fixed_threads
from pathkernel.segmentation import train_segmentation
from pathkernel.unet import UNet

THREADS = (1, 2, 4)


def across_threads(train: Callable[[], list[torch.Tensor]]) -> list[list[torch.Tensor]]:
    """train() once per caller thread count; checks that each call leaves the caller's count as it was."""
    caller = torch.get_num_threads()
    results = []
    try:
        for threads in THREADS:
            torch.set_num_threads(threads)
            results.append(train())
            assert torch.get_num_threads() == threads, "training did not restore the caller's thread count"
    finally:
        torch.set_num_threads(caller)
    return results


def assert_identical(results: list[list[torch.Tensor]]) -> None:
    reference = results[0]
    for threads, result in zip(THREADS[1:], results[1:]):
        for a, b in zip(reference, result):
            assert torch.equal(a, b), (f"{threads} threads differ from 1 thread by up to "
                                       f"{(a - b).abs().max().item():.3g}")


def test_unet_segmentation_is_thread_count_invariant():
    generator = torch.Generator().manual_seed(0)
    images = (torch.rand(16, 1, 8, 8, generator=generator) > 0.7).float()
    targets = (torch.rand(16, 1, 8, 8, generator=generator) > 0.5).float()

    def train() -> list[torch.Tensor]:
        model = UNet(scales=4, width=4, max_width=8, seed=0)  # 8 x 8 -> 1 x 1 at the coarsest scale
        history = train_segmentation(model, images, targets, epochs=2, lr=1e-2, batch_size=8, optimizer="adam",
                                     show_progress=False)
        buffers = [b for b in model.buffers() if b.is_floating_point()]  # batch norm's running averages
        return [nn.utils.parameters_to_vector(model.parameters()).detach(), *buffers, torch.tensor(history.loss)]

    assert_identical(across_threads(train))


def test_train_conv_net_is_thread_count_invariant():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 1, 8, 8, generator=generator)
    y = torch.randint(0, 10, (64,), generator=generator)

    def train() -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.GELU(), nn.Conv2d(4, 4, 3, stride=2), nn.GELU(),
                              nn.Flatten(), nn.Linear(36, 10))
        path = pk.train(model, x, y, lr=0.05, steps=3, loss="cross_entropy", progress_bar=False)
        return [path.params, path.losses]

    assert_identical(across_threads(train))


def test_train_mlp_is_thread_count_invariant():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 72, generator=generator)
    y = torch.randn(4096, generator=generator)

    def train() -> list[torch.Tensor]:
        model = pk.MLP(in_dim=72, width=8, depth=3, out_dim=1, activation="gelu", seed=0)
        path = pk.train(model, x, y, lr=0.05, steps=3, optimizer="adam", progress_bar=False)
        return [path.params, path.losses]

    assert_identical(across_threads(train))


def test_fixed_threads_restores_the_count_after_an_error():
    caller = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"):
        with fixed_threads(3):
            assert torch.get_num_threads() == 3
            raise RuntimeError("inside")
    assert torch.get_num_threads() == caller


@pytest.mark.parametrize("threads", [0, -1, 1.0, True])
def test_fixed_threads_rejects_a_bad_count(threads):
    with pytest.raises(ValueError, match="threads="):
        with fixed_threads(threads):
            pass


def test_train_segmentation_rejects_a_bad_thread_count():
    images = torch.zeros(2, 1, 8, 8)
    with pytest.raises(ValueError, match="threads=0"):
        train_segmentation(UNet(scales=2, width=2), images, images, epochs=1, threads=0)
