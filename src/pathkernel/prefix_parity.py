"""PrefixParityNet: our reconstruction of the structure of Courtois, Morel & Arias' Figure 8.

S1 §6.1.2 (its formulas were lost in our copy; the prose survives) builds the prefix parity
y_j = (x_0 + ... + x_j) mod 2 of a 0/1 sequence x of length n = 2**p from:

* the identity a XOR b = (a + b) - 2 ReLU(a + b - 1): "two linear operations and a
  non-linearity", so XOR of all pairs of consecutive samples is a convolution,
  XOR(x)_i = x_i XOR x_{i+1} (kernel 2, two hidden channels a + b and a + b - 1, ReLU,
  1x1 convolution (1, -2));
* D, down-sampling "taking one sample out of two, starting with the first one", and
  F = D o XOR, whose p-fold composition F^(p) maps x to the parity of all its entries;
* P_j, "the function that takes the first coordinates of a sample and zero-pads it on the
  left so as to obtain a vector of the same dimension":
  y_j = F^(p)(P_j(x)),  P_j(x) = (0, ..., 0, x_0, ..., x_j)  (n entries).

The class runs F^(p) on the n prefixes of every input at once (n passes of the encoder,
O(n^2) operations per sequence). What the prose does not say and is our inference: the
channel layout of each XOR (2 hidden channels), one set of weights per level (not shared),
P_j as a fixed (not trained) input layer, `kernel_size` enlarging the first XOR
convolution (zero-padded so that w* uses two taps), and `extra_convs` inserting
(Conv1d(width, width, 3), ReLU) layers between the two convolutions of every level.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from pathkernel.data.planar1d import check_sequences
from pathkernel.parity_net import check_arguments, check_input


def prefixes(x: torch.Tensor) -> torch.Tensor:
    """P_j(x) for every j: (batch, n) -> (batch, n, n), row j = (0, ..., 0, x_0, ..., x_j)."""
    n = x.shape[1]
    padded = torch.cat([x.new_zeros(x.shape[0], n), x], dim=1)   # (batch, 2n)
    return padded.unfold(1, n, 1)[:, 1:]                         # windows starting at 1 .. n


class PrefixParityNet(nn.Module):
    """S1's Figure 8 as reconstructed: y_j = F^(p)(P_j(x)), F = D o XOR, n = 2**p.

    Args:
        n: sequence length, a power of two >= 2.
        exact: True sets the hand-derived weights w* (output = Eq. 10 exactly for every 0/1
            input); False keeps PyTorch's default random initialization (seeded).
        kernel_size: kernel of the first XOR convolution (2 in S1's design; larger kernels
            are zero-padded so that w* only uses two taps).
        width: hidden channels of every XOR (>= 2; w* uses two).
        extra_convs: (Conv1d(width, width, 3), ReLU) layers inserted between the two
            convolutions of every level.
        seed: seed of the random initialization (the global RNG is left untouched).
        dtype: float32 or float64.

    Input (batch, n) of the model's dtype; output (batch, n). `forward` checks shape and
    dtype only (safe under torch.func); `parity` also refuses values other than 0 and 1.
    """

    def __init__(
        self,
        n: int,
        exact: bool = True,
        *,
        kernel_size: int = 2,
        width: int = 2,
        extra_convs: int = 0,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        check_arguments(n, exact, seed, kernel_size, width, 2, extra_convs, dtype)
        self.n, self.levels, self.kernel_size = n, int(math.log2(n)), kernel_size
        self.width, self.extra_convs = width, extra_convs
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.xor = nn.ModuleList()
            for m in range(self.levels):
                size = kernel_size if m == 0 else 2
                stride = 1 if extra_convs else 2            # stride 2 = D o (stride 1), computed only where D keeps
                layers: list[nn.Module] = [nn.Conv1d(1, width, size, stride, padding=(size - 1) // 2), nn.ReLU()]
                for _ in range(extra_convs):
                    layers += [nn.Conv1d(width, width, 3, padding=1), nn.ReLU()]
                self.xor.append(nn.Sequential(*layers, nn.Conv1d(width, 1, 1)))
        self.to(dtype)
        if exact:
            self.set_exact_weights()

    @torch.no_grad()
    def set_exact_weights(self) -> None:
        """Set w*: every level computes XOR(x)_i = x_i XOR x_{i+1}; every other weight zero."""
        for p in self.parameters():
            p.zero_()
        for level in self.xor:
            first, last = level[0], level[-1]
            tap = first.padding[0]                        # the taps that see x_i and x_{i+1}
            first.weight[0:2, 0, tap:tap + 2] = 1.0       # a + b and a + b - 1
            first.bias[1] = -1.0
            last.weight[0, 0:2, 0] = torch.tensor([1.0, -2.0])  # (a + b) - 2 ReLU(a + b - 1)
            for inserted in level[2:-1:2]:                # inserted convolutions: identity on 2 channels
                inserted.weight[0, 0, 1] = inserted.weight[1, 1, 1] = 1.0

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the network computes in (that of its parameters)."""
        return self.xor[0][0].weight.dtype

    def encode(self, z: torch.Tensor) -> torch.Tensor:
        """F^(p): (batch, n) -> (batch,), with w* the parity of each row (p levels of D o XOR)."""
        h = z[:, None, :]
        for level in self.xor:
            out = level(h)                                  # XOR of consecutive pairs (at the even ones: stride 2)
            h = out[..., ::2] if level[0].stride[0] == 1 else out  # D: one sample out of two, from the first
        return h[:, 0, 0]

    def parity(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. (10) by the network, checked: ValueError naming the first value of x other than 0 or 1."""
        check_sequences(x)
        return self(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (batch, n) -> (batch, n): y_j = F^(p)(P_j(x)), Eq. (10) of 0/1 inputs with w*."""
        check_input(x, self.n, self.dtype, type(self).__name__)
        return self.encode(prefixes(x).reshape(-1, self.n)).reshape(x.shape)
