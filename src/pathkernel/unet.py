"""A U-Net (Ronneberger, Fischer & Brox 2015) for the shape-filling task of §6.2.

The network of Courtois, Morel & Arias and of Morel's talk has 6 scales: the image is
seen at resolutions size, size/2, ..., size/32, so the deepest features cover the whole
image (the parity of Eq. (10) needs information from one side of the image to reach the
other). Each scale s = 0..scales-1 has a block of two 3x3 convolutions with batch norm
and ReLU, of width ``min(width * 2**s, max_width)`` channels. The encoder max-pools by 2
between scales; the decoder up-samples with a 2x2 transposed convolution, concatenates
the encoder's features of the same scale (the skip connection) and applies a block. A
final 1x1 convolution gives one logit per pixel.

Input (batch, in_channels, H, W) with H and W divisible by 2**(scales - 1);
output (batch, out_channels, H, W) logits.
"""

from __future__ import annotations

import torch
from torch import nn

from pathkernel.validation import integer


def conv_block(fan_in: int, fan_out: int) -> nn.Sequential:
    """Two (3x3 convolution, batch norm, ReLU) layers, padding 1: same spatial size."""
    return nn.Sequential(
        nn.Conv2d(fan_in, fan_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(fan_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(fan_out, fan_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(fan_out),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net with `scales` resolutions (6 in the paper), one logit per pixel.

    Args:
        in_channels, out_channels: image channels in and out (1 and 1 for shape filling).
        scales: number of resolutions, >= 1 (scales - 1 max-poolings).
        width: channels at full resolution; doubled at each coarser scale ...
        max_width: ... up to this cap (None: no cap; the classic U-Net doubles to 16 x width).
        seed: seed of the initialization (the global RNG is left untouched).
        dtype: float32 or float64.

    Input (batch, in_channels, H, W), H and W divisible by ``2**(scales - 1)``;
    output (batch, out_channels, H, W).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        *,
        scales: int = 6,
        width: int = 8,
        max_width: int | None = None,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        integer("in_channels", in_channels)
        integer("out_channels", out_channels)
        self.scales = integer("scales", scales)
        integer("width", width)
        if max_width is not None:
            integer("max_width", max_width, low=width)
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype={dtype}; expected torch.float32 or torch.float64")
        widths = [min(width * 2**s, max_width or width * 2**s) for s in range(scales)]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.down = nn.ModuleList(
                conv_block(fan_in, fan_out) for fan_in, fan_out in zip([in_channels] + widths[:-1], widths)
            )
            self.up = nn.ModuleList(
                nn.ConvTranspose2d(widths[s + 1], widths[s], 2, stride=2) for s in range(scales - 1)
            )
            self.merge = nn.ModuleList(conv_block(2 * widths[s], widths[s]) for s in range(scales - 1))
            self.head = nn.Conv2d(widths[0], out_channels, 1)
        self.to(dtype)
        self.widths = tuple(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2 ** (self.scales - 1)
        if x.dim() != 4 or x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(
                f"input has shape {tuple(x.shape)}; expected (batch, channels, H, W) with H and W "
                f"divisible by 2**(scales - 1) = {factor}"
            )
        skips = []
        for s, block in enumerate(self.down):
            x = block(x if s == 0 else nn.functional.max_pool2d(x, 2))
            skips.append(x)
        for s in reversed(range(self.scales - 1)):
            x = self.merge[s](torch.cat([skips[s], self.up[s](x)], dim=1))
        return self.head(x)
