"""Mixed precision: half-precision models (float16, bfloat16) computed in float32 or float64.

A model trained in half precision has parameters on a coarse grid, but every one of them is
exactly a float32 (and a float64) number. pathkernel therefore evaluates such a model *as a
float32 function of the same parameters*: a copy of the module cast to the working dtype,
the recorded path read in its own dtype and cast row by row. What "exact" means then:

* the exact form's identity f(w_T, x) - f(w_0, x) = sum_k <gbar_k(x), Delta_k> holds for the
  float32 evaluation of f along the recorded half-precision parameters, to float32 round-off
  (the residual); the half-precision forward of the model itself differs from it by the
  rounding of its activations, which no decomposition over parameters can see;
* the per-sample split models each step as the optimizer rule applied to float32 gradients,
  while the recorded step was computed and rounded to the half format. The gap is that
  rounding, relative to the step itself, not to the parameters: small when updates are
  large against the format's resolution, up to the whole step when they are near it (a
  bfloat16 MLP trained by gd for 20 steps, measured: 0.07 at lr = 0.05, 1.0 at lr = 0.005,
  where most updates round away). `Decomposition.additivity_error` reports it, and
  `HALF_ADDITIVITY_TOLERANCE` is the bound above which a warning says so.
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn

from pathkernel.training import TrainingPath

HALF = (torch.float16, torch.bfloat16)
WORKING = (torch.float32, torch.float64)
HALF_ADDITIVITY_TOLERANCE = {torch.float16: 2e-2, torch.bfloat16: 1e-1}


def working_dtype(dtype: torch.dtype, requested: torch.dtype | None = None) -> torch.dtype:
    """The dtype pathkernel computes in for a model of `dtype`: its own for float32/float64,
    float32 for half precision; `requested` (float32 or float64) overrides."""
    if requested is not None:
        if requested not in WORKING:
            raise ValueError(f"dtype={requested}; the arithmetic runs in torch.float32 or torch.float64")
        return requested
    return torch.float32 if dtype in HALF else dtype


def cast_model(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """`model` itself when it already has `dtype`, else a deep copy cast to it (same flags)."""
    if all(p.dtype == dtype for p in model.parameters()):
        return model
    return copy.deepcopy(model).to(dtype)


class CastRows:
    """A read-only (rows, P) view of `rows` (a tensor or a replayed view) cast to `dtype` on read."""

    def __init__(self, rows, dtype: torch.dtype) -> None:
        self.rows = rows
        self.dtype = dtype
        self.shape = torch.Size(rows.shape)

    def element_size(self) -> int:
        return torch.empty(0, dtype=self.dtype).element_size()

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> torch.Tensor:
        return self.rows[key].to(self.dtype)


def cast_path(path: TrainingPath, dtype: torch.dtype) -> TrainingPath:
    """`path` evaluated in `dtype`: a cast copy of the model, inputs and float targets cast, the
    parameter and scale rows cast as they are read (`CastRows`); `path` itself if nothing changes."""
    if path.params.dtype == dtype and all(p.dtype == dtype for p in path.model.parameters()):
        return path
    y = path.y.to(dtype) if path.y.dtype.is_floating_point else path.y
    return dataclasses.replace(
        path, model=cast_model(path.model, dtype), x=path.x.to(dtype), y=y,
        params=CastRows(path.params, dtype), lrs=path.lrs.to(dtype),
        scales=None if path.scales is None else CastRows(path.scales, dtype),
    )
