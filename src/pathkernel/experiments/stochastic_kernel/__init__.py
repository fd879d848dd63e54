"""Chapter "Guo-He-Morel's stochastic gradient kernel: SGD as a diffusion" (notebooks/stochastic_kernel.md).

SGD is compared with its diffusion approximation dW = -grad L dt + sqrt(lr) Sigma_B^{1/2} dB_t
(`pathkernel.sgd_diffusion`). Two studies:

* `weak_order`: E L(W_T) of SGD against that of the SDE as the learning rate shrinks (first weak
  order), exactly for linear regression (closed-form moments) and by ensembles with standard errors.
* `ito_term`: along the SDE of a small GELU MLP, the kernel term and the Ito term of
  E f(x, W_T) - f(x, W_0) as the learning rate and the batch size vary.
* `momentum`: along the underdamped SDE of momentum, the memory-weighted kernel term and the
  theorem's memory term against the noise term it stands for.
"""

from __future__ import annotations

from pathkernel.experiments.stochastic_kernel import ito_term, momentum, weak_order

__all__ = ["ito_term", "momentum", "weak_order"]
