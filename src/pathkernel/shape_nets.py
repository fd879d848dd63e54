"""Segmentation networks with and without global context, for the shape-filling comparison of
Morel's talk ("a network with a significant depth, or non-local layers, or a U-net").

Every network maps a boundary image (batch, 1, H, W) to one logit per pixel (batch, 1, H, W)
and is built from the same pieces: 3x3 convolutions with batch norm and ReLU at full
resolution (`conv_layer`), a residual connection around every one but the first, and a final
1x1 convolution. A stack of `depth` such convolutions sees a (2 depth + 1)^2 window: the
output at pixel p does not depend on an input pixel q with ``max(|p - q|) > depth``
(Chebyshev distance). The global variants put one block between the first ``depth // 2``
layers and the rest, after which every output pixel depends on every input pixel:

* `LocalCNN`: no global block (`depth` small: local; `depth` large: "a deeper CNN").
* `GlobalPool`: global average pooling; the mean feature vector (batch, C), through a linear
  layer and ReLU, is concatenated to every pixel's features and mixed by a 1x1 convolution.
* `NonLocal`: the non-local (self-attention) block of Wang et al. (2018), embedded Gaussian:
  z_i = x_i + W_z sum_j softmax_j(theta(x_i) . phi(x_j)) g(x_j), with theta, phi, g 1x1
  convolutions to C/2 channels and the keys and values max-pooled by 2 (their subsampling).
* `GlobalContext`: the global-context block of Cao et al. (2019): the context
  c = sum_j softmax_j(w_k . x_j) x_j (batch, C), transformed by 1x1 conv -> LayerNorm -> ReLU
  -> 1x1 conv (bottleneck C/4), added to every pixel.

`build(name, width, depth, seed)` makes one by its name in `NAMES` ("unet": the
`pathkernel.unet.UNet` with 6 scales).
"""

from __future__ import annotations

import torch
from torch import nn

from pathkernel.unet import UNet
from pathkernel.validation import integer

NAMES = ("local", "global pool", "self-attention", "global context", "deep", "unet")


def conv_layer(fan_in: int, fan_out: int) -> nn.Sequential:
    """3x3 convolution (padding 1, no bias), batch norm, ReLU: (b, fan_in, H, W) -> (b, fan_out, H, W)."""
    return nn.Sequential(nn.Conv2d(fan_in, fan_out, 3, padding=1, bias=False), nn.BatchNorm2d(fan_out),
                         nn.ReLU(inplace=True))


class GlobalPoolBlock(nn.Module):
    """(b, C, H, W) -> (b, C, H, W): relu(1x1 conv of [x, broadcast relu(A mean_HW(x) + a)])."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(channels, channels)
        self.mix = nn.Sequential(nn.Conv2d(2 * channels, channels, 1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.relu(self.linear(x.mean(dim=(2, 3))))
        return self.mix(torch.cat([x, pooled[:, :, None, None].expand_as(x)], dim=1))


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block (Wang et al. 2018), (b, C, H, W) -> (b, C, H, W):
    z = x + BN(W_z y), y_i = sum_j softmax_j(theta_i . phi_j) g_j over the (H/2)(W/2) max-pooled
    positions j (theta, phi, g: 1x1 convolutions to C/2 channels; with an odd H or W the pooling
    leaves out the last row or column of keys and values). The queries i are taken in chunks of
    at most `max_scores` scores theta_i . phi_j over the batch, so that memory stays bounded on
    images larger than the training ones (50 images of 128 x 128 would need 13 GB at once)."""

    max_scores = 2**27  # 512 MB of float32 scores per chunk

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(channels // 2, 1)
        self.theta, self.phi, self.g = (nn.Conv2d(channels, inner, 1) for _ in range(3))
        self.out = nn.Sequential(nn.Conv2d(inner, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        query = self.theta(x).flatten(2).transpose(1, 2)                    # (b, HW, C/2)
        key = nn.functional.max_pool2d(self.phi(x), 2).flatten(2)           # (b, C/2, HW/4)
        value = nn.functional.max_pool2d(self.g(x), 2).flatten(2).transpose(1, 2)  # (b, HW/4, C/2)
        rows = max(1, self.max_scores // (b * key.shape[-1]))
        y = torch.cat([torch.softmax(chunk @ key, dim=-1) @ value          # (b, HW, C/2)
                       for chunk in query.split(rows, dim=1)], dim=1)
        return x + self.out(y.transpose(1, 2).reshape(b, -1, h, w))


class GlobalContextBlock(nn.Module):
    """Global-context block (Cao et al. 2019), (b, C, H, W) -> (b, C, H, W):
    x + T(sum_j softmax_j(w_k . x_j) x_j), T = 1x1 conv (C -> C/4), LayerNorm, ReLU, 1x1 conv (-> C).
    C >= 8."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 8:
            raise ValueError(f"channels={channels}: the global-context block needs >= 8 (its LayerNorm over "
                             f"channels // 4 values is constant on a single value)")
        inner = channels // 4
        self.key = nn.Conv2d(channels, 1, 1)
        self.transform = nn.Sequential(nn.Conv2d(channels, inner, 1), nn.LayerNorm([inner, 1, 1]),
                                       nn.ReLU(inplace=True), nn.Conv2d(inner, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.key(x).flatten(2), dim=-1)            # (b, 1, HW)
        context = (x.flatten(2) * weights).sum(dim=-1)[:, :, None, None]   # (b, C, 1, 1)
        return x + self.transform(context)


GLOBAL_BLOCKS = {"global pool": GlobalPoolBlock, "self-attention": NonLocalBlock, "global context": GlobalContextBlock}


class LocalCNN(nn.Module):
    """`depth` 3x3 convolution layers of `width` channels (residual after the first), an
    optional `block` (a module (b, width, H, W) -> (b, width, H, W)) after the first
    ``depth // 2`` of them, a 1x1 convolution to one logit. (b, 1, H, W) -> (b, 1, H, W).

    Without a block the output at a pixel depends only on the input within Chebyshev
    distance `depth` of it. width >= 1, depth >= 2 (ValueError otherwise).
    """

    def __init__(self, width: int = 16, depth: int = 4, block: nn.Module | None = None) -> None:
        super().__init__()
        self.width, self.depth = integer("width", width), integer("depth", depth, low=2)
        self.layers = nn.ModuleList(conv_layer(1 if k == 0 else width, width) for k in range(depth))
        self.block = block
        self.head = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"input has shape {tuple(x.shape)}; expected (batch, 1, H, W)")
        for k, layer in enumerate(self.layers):
            if k == self.depth // 2 and self.block is not None:
                x = self.block(x)
            x = layer(x) if k == 0 else x + layer(x)
        return self.head(x)


def build(name: str, *, width: int = 16, depth: int = 4, seed: int = 0, unet_width: int = 8,
          unet_max_width: int | None = 32) -> nn.Module:
    """The network `name` of `NAMES`, initialized from `seed` (the global RNG is left untouched).

    "local" and "deep": `LocalCNN(width, depth)` (give "deep" the larger depth); "global pool",
    "self-attention", "global context": `LocalCNN(width, depth)` with that block in the middle;
    "unet": `UNet(scales=6, width=unet_width, max_width=unet_max_width)` (H, W divisible by 32).
    """
    if name not in NAMES:
        raise ValueError(f"architecture {name!r}; expected one of {NAMES}")
    if name == "unet":
        return UNet(scales=6, width=unet_width, max_width=unet_max_width, seed=seed)
    integer("width", width)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        block = GLOBAL_BLOCKS[name](width) if name in GLOBAL_BLOCKS else None
        return LocalCNN(width, depth, block)
