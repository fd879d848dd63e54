"""Tangent features and the (empirical) neural tangent kernel.

For a model f(w, x) with c outputs the tangent features are the Jacobian rows
phi_w(x) = d f(w, x) / dw, and the tangent kernel is

    K_w(x, x') = J_w(x) J_w(x')^T          (c x c; a number when c = 1),

normalized (a cosine) as K_ab / sqrt(K_aa(x, x) K_bb(x', x')).

Two routes, same answer (to round-off):

* structured (`pathkernel.kernels.structured`, formerly `pathkernel.structured`): for
  fully connected chains (`MLP`, `LinearModel`, `nn.Sequential` of Linear layers and
  elementwise activations) the kernel is a sum over layers of Hadamard products of small
  Gram matrices; no P-dimensional Jacobian is formed. Chosen automatically when it applies.
* generic: any `nn.Module` whose forward treats examples independently (no BatchNorm
  in training mode): per-example Jacobians by ``torch.func.vmap(torch.func.jacrev(...))``,
  computed in chunks of examples so that memory stays bounded, contracted block by block
  (`pathkernel.kernels.generic`).

Both are over the trainable parameters (``requires_grad=True``) unless
``parameters="all"``: P is then the number of trainable coordinates, and frozen
parameters act as constants of the model (`pathkernel.functional.parameter_mask`).
Models in training mode with dropout or batch normalization are refused (call
``model.eval()``): their f is random or couples examples. Half-precision models
(float16, bfloat16) are evaluated in float32 (`pathkernel.precision`); the kernel is
float32 then.

Modules: `tangent` (the public functions and the choice of route), `generic`, `structured`,
`checks` (argument checks), `operator` (a kernel's integral operator on a sample: its
spectrum and the energy a kernel expansion cannot reach).
"""

from pathkernel.kernels import structured
from pathkernel.kernels.checks import check_normalizable, check_params
from pathkernel.kernels.operator import Spectrum, integral_operator, unreachable_energy
from pathkernel.kernels.generic import generic_kernel, jacobian, jacobian_chunks, rows_per_chunk
from pathkernel.kernels.tangent import (
    DEFAULT_MAX_MEMORY,
    METHODS,
    chain_for,
    tangent_features,
    tangent_kernel,
    trainable_features,
)

__all__ = [
    "DEFAULT_MAX_MEMORY",
    "METHODS",
    "Spectrum",
    "chain_for",
    "check_normalizable",
    "check_params",
    "generic_kernel",
    "integral_operator",
    "jacobian",
    "jacobian_chunks",
    "rows_per_chunk",
    "structured",
    "tangent_features",
    "tangent_kernel",
    "trainable_features",
    "unreachable_energy",
]
