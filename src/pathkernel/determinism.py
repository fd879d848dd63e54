"""Training whose result does not depend on torch's thread count.

Same seed, same machine => identical arrays (DESIGN §4) must hold whatever
``torch.set_num_threads`` says: a Dask worker sets it to its thread count, the tests run
with ``OMP_NUM_THREADS=1``, a laptop has more cores than CI. Several CPU kernels that
training uses split a sum over threads, so its rounding, and after many steps the trained
network, change with the thread count (a shape-filling U-Net's IoU moved by 0.3 points
between 1 and 2 threads):

* oneDNN's convolution weight gradient (sum over batch and pixels, split by thread);
* batch normalization in training mode when each channel has one pixel per image
  ((n, C, 1, 1): the coarsest scale of a U-Net; also (n, C) and channels-last inputs):
  per-thread partial sums in the statistics and in both backward reductions;
* MKL matrix products with a small output and a long inner sum, which MKL splits over
  threads (an MLP's first-layer weight gradient (8, 4096) @ (4096, 72) differs at 4 threads).

Forward convolutions and the convolutions' input gradients were bit-identical in every
case measured, and so were a trained U-Net's predictions (evaluation mode): evaluation may
keep the caller's threads.
The training loops of the package (`pathkernel.train`,
`pathkernel.segmentation.train_segmentation`) therefore run under
``fixed_threads(TRAINING_THREADS)``: the result is that of one thread, whatever the caller
set, and the caller's thread count is restored afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from pathkernel.validation import integer

TRAINING_THREADS = 1
"""Torch threads of the package's training loops: the reference count, never oversubscribed."""


@contextmanager
def fixed_threads(threads: int = TRAINING_THREADS) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(threads)``, then restore the caller's count
    (also when the block raises).

    torch's intra-op thread count is per process for MKL and per calling thread for OpenMP:
    blocks running concurrently on several Python threads should all ask for the same count.
    """
    integer("threads", threads)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
