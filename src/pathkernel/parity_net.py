"""ParityNet: a convolutional network whose hand-set weights compute Eq. (10) exactly.

Courtois, Morel & Arias (§6.1.2) build the prefix parity y_j = (x_0 + ... + x_j) mod 2
of a 0/1 sequence of length n = 2**p from one observation: for bits a, b

    a XOR b = (a + b) - 2 ReLU(a + b - 1),

two linear maps around one ReLU, so the XOR of adjacent pairs is a size-2 convolution,
a ReLU and a 1x1 convolution. ParityNet is our design, not S1's Figure 8 (S1 runs an
encoder on every zero-padded prefix: `pathkernel.prefix_parity.PrefixParityNet`, O(n^2));
it arranges log2(n) such levels as a U-Net and shares that work (O(n)):

* encoder level m -> m+1 (stride-2 convolution = convolution then down-sampling):
  s^{m+1}_i = s^m_{2i} XOR s^m_{2i+1} and r^{m+1}_i = s^m_{2i+1}, with s^0 = x, so
  s^m_i is the parity of the block [i 2^m, (i+1) 2^m) and r^m its right half's parity;
* decoder level m+1 -> m (1x1 convolution, ReLU, transposed stride-2 convolution = up-sampling),
  from t^p = s^p: t^m_{2i} = t^{m+1}_i XOR r^{m+1}_i and t^m_{2i+1} = t^{m+1}_i,
  so t^m_i is the parity of x_0 .. x_{(i+1) 2^m - 1} and t^0 = y (proof in the chapter
  notebooks/parity_1d.md).

Every block is Conv -> ReLU -> Conv with `width` hidden channels (3 used by the exact
weights, the others zero); `kernel_size` enlarges the first convolution and `extra_convs`
inserts (Conv1d(width, width, 3) -> ReLU) layers between the two convolutions of every
block: both keep the exact solution representable (zero taps, identity kernels).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from pathkernel.data.planar1d import check_sequences
from pathkernel.validation import integer


def check_arguments(n: int, exact: bool, seed: int, kernel_size: int, width: int, min_width: int, extra_convs: int,
                    dtype: torch.dtype) -> None:
    """The constructor arguments of a parity network (`ParityNet`, `PrefixParityNet`), checked before
    any layer is built: TypeError or ValueError naming the bad value."""
    if not isinstance(exact, bool):
        raise TypeError(f"exact={exact!r} must be True (hand-set weights) or False (random init)")
    integer("seed", seed, low=0)
    integer("n", n, 2)
    if n & (n - 1):
        raise ValueError(f"n={n} must be a power of two (2, 4, 8, ...)")
    integer("kernel_size", kernel_size, 2)
    integer("width", width, min_width)
    integer("extra_convs", extra_convs, 0)
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype={dtype}; expected torch.float32 or torch.float64")


def check_input(x: torch.Tensor, n: int, dtype: torch.dtype, network: str) -> None:
    """A parity network's input, checked statically (shape and dtype, safe under torch.func): x (batch, n)
    of the network's dtype; TypeError or ValueError naming the bad value."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor (batch, {n}); got {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] != n:
        raise ValueError(f"x has shape {tuple(x.shape)}; expected (batch, {n})")
    if x.dtype != dtype:
        hint = f" or build {network}(..., dtype={x.dtype})" if x.dtype in (torch.float32, torch.float64) else ""
        raise TypeError(f"x has dtype {x.dtype}; expected the model's dtype {dtype}: pass x.to({dtype}) "
                        f"(0/1 values convert exactly){hint}")


def _block(first: nn.Module, width: int, extra_convs: int, last: nn.Module) -> nn.Sequential:
    layers: list[nn.Module] = [first, nn.ReLU()]
    for _ in range(extra_convs):
        layers += [nn.Conv1d(width, width, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers, last)


class ParityNet(nn.Module):
    """Prefix parity (Eq. 10) of 0/1 sequences of length n = 2**p by convolutions, ReLU,
    down-sampling and up-sampling.

    Args:
        n: sequence length, a power of two >= 2.
        exact: True sets the hand-derived weights (output = Eq. 10 exactly for every 0/1
            input); False keeps PyTorch's default random initialization (seeded).
        kernel_size: kernel of the first encoder convolution (2 in the exact design;
            larger kernels are padded so that the exact weights only use two taps).
        width: hidden channels of every block (>= 3).
        extra_convs: (Conv1d(width, width, 3), ReLU) layers inserted inside every block.
        seed: seed of the random initialization (the global RNG is left untouched).
        dtype: float32 or float64.

    Input (batch, n) of the model's dtype; output (batch, n).

    Checks. `forward` checks only static properties of x: a tensor of shape (batch, n)
    (ValueError otherwise) and of the model's dtype (TypeError naming both dtypes: an int
    tensor, or float64 into a float32 model, would otherwise fail deep inside conv1d). It
    does not check the values: forward is the network function at any real input, which
    training from random or perturbed weights, `tangent_kernel` and torch.func transforms
    (vmap, jacrev) evaluate, and a data-dependent check (``if not (x == 0) | (x == 1) ...``)
    cannot run under those transforms. The output is the prefix parity only for 0/1
    inputs and the exact weights; `parity(x)` is the checked entry point: it refuses any
    value other than 0 or 1 (ValueError naming it) before calling forward.
    """

    def __init__(
        self,
        n: int,
        exact: bool = True,
        *,
        kernel_size: int = 2,
        width: int = 3,
        extra_convs: int = 0,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        check_arguments(n, exact, seed, kernel_size, width, 3, extra_convs, dtype)
        self.n, self.levels, self.kernel_size = n, int(math.log2(n)), kernel_size
        self.width, self.extra_convs = width, extra_convs
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = nn.ModuleList(
                _block(nn.Conv1d(1 if m == 0 else 2, width, kernel_size if m == 0 else 2, stride=2,
                                 padding=(kernel_size - 1) // 2 if m == 0 else 0),
                       width, extra_convs, nn.Conv1d(width, 2, 1))
                for m in range(self.levels)
            )
            self.decoder = nn.ModuleList(
                _block(nn.Conv1d(3, width, 1), width, extra_convs, nn.ConvTranspose1d(width, 1, 2, stride=2))
                for _ in range(self.levels)
            )
        self.to(dtype)
        if exact:
            self.set_exact_weights()

    @torch.no_grad()
    def set_exact_weights(self) -> None:
        """Set the hand-derived weights w* (every other weight and bias zero)."""
        for p in self.parameters():
            p.zero_()
        for m, block in enumerate(self.encoder):
            first, last = block[0], block[-1]
            tap = first.padding[0]  # the taps that see s_{2i} and s_{2i+1}
            first.weight[0:2, 0, tap:tap + 2] = 1.0      # a + b and a + b - 1
            first.bias[1] = -1.0
            first.weight[2, 0, tap + 1] = 1.0            # b, the right element
            last.weight[0, 0:3, 0] = torch.tensor([1.0, -2.0, 0.0])  # s' = (a + b) - 2 ReLU(a + b - 1)
            last.weight[1, 2, 0] = 1.0                   # r' = b
        for block in self.decoder:
            first, last = block[0], block[-1]             # input channels [t, s, r]
            first.weight[0:2, 0, 0] = 1.0
            first.weight[0:2, 2, 0] = 1.0                 # t + r and t + r - 1
            first.bias[1] = -1.0
            first.weight[2, 0, 0] = 1.0                   # t
            last.weight[0:3, 0, 0] = torch.tensor([1.0, -2.0, 0.0])  # even outputs: t XOR r
            last.weight[2, 0, 1] = 1.0                    # odd outputs: t
        for block in (*self.encoder, *self.decoder):
            for layer in block[2:-1:2]:                   # inserted convolutions: identity
                for c in range(3):
                    layer.weight[c, c, 1] = 1.0

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the network computes in (that of its parameters)."""
        return self.encoder[0][0].weight.dtype

    def parity(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. (10) by the network, checked: x (batch, n) must hold only 0 and 1.

        ValueError naming the first other value (the network is the prefix parity only on
        0/1 sequences), then `forward`. Not for use under torch.func transforms (the value
        check reads the data); train and take tangent kernels through the model itself.
        """
        check_sequences(x)
        return self(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (batch, n) -> (batch, n); with the exact weights, Eq. (10) of 0/1 inputs.

        Checks shape and dtype only (static, so safe under torch.func); see `parity` for a
        check of the values.
        """
        check_input(x, self.n, self.dtype, type(self).__name__)
        h = x[:, None, :]
        skips = []
        for block in self.encoder:
            h = block(h)                                  # (batch, 2, n / 2^(m+1)): [s, r]
            skips.append(h)
        t = skips[-1][:, :1]                              # t^p = s^p, the parity of the whole row
        for m in reversed(range(self.levels)):
            t = self.decoder[m](torch.cat([t, skips[m]], dim=1))
        return t[:, 0]
