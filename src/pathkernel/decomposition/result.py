"""What a decomposition returns, and the warnings and errors of its self-checks."""

from __future__ import annotations

from dataclasses import dataclass

import torch


class AdditivityWarning(UserWarning):
    """The per-sample contributions do not add up to rhs - initial (`Decomposition.additivity_error`)."""


class QuadratureWarning(UserWarning):
    """exact=True: some steps' segment quadrature stopped short of round-off (`MAX_LEVEL`)."""


class NonSmoothExactError(ValueError):
    """exact=True on a model whose kinks (ReLU, ...) the segment quadrature cannot resolve."""


class IncompleteDecompositionError(RuntimeError):
    """``domingos(..., client=)``: some blocks of queries (or of steps) could not be computed.

    Attributes:
        split: "queries" or "steps".
        missing: the missing blocks, as (start, stop) index ranges of that axis.
    """

    def __init__(self, message: str, split: str, missing: list[tuple[int, int]]) -> None:
        super().__init__(message)
        self.split, self.missing = split, missing


@dataclass
class Decomposition:
    """The terms of f(theta_T, x) = initial + kernel part + residual.

    Shapes for m query points: (m,) for scalar outputs, (m, c) for c outputs.

    Attributes:
        prediction: f(theta_T, x).
        initial: f(theta_0, x).
        rhs: initial + kernel part (Theorem 2/3 form, or the exact form).
        residual: prediction - rhs.
        exact: whether the segment-averaged (exact) kernel was used.
        quadrature_levels: (T,) in exact mode: step k used `nodes` Gauss-Legendre points on
            each of 2**level pieces of its segment (refined where the step is long).
        per_sample: (m, n[, c]) contribution of each training point; sums over n to rhs - initial.
        path_kernel: (m, n) sum_k lr_k K_k(x, x_i); (m, n, c, c) for c outputs.
        weights: a_i(x) of Theorem 1, (m, n) with per_sample == -weights * path_kernel;
            for c outputs (m, n, c, c) with per_sample[..., a] == -sum_b (weights * path_kernel)[..., a, b].
            Zero where the path kernel is zero (x_i never in a batch).
        regularization: (m[, c]) contribution of weight decay (per_sample=True on a path
            trained with weight decay; None otherwise): per_sample.sum(1) + regularization
            == rhs - initial.
        additivity_error: per_sample=True: ``max abs(per_sample.sum(1) (+ regularization)
            - (rhs - initial)) / max abs(rhs - initial)``, the decomposition's own check that
            the contributions add up (round-off: ~1e-14 in float64; larger when the loop
            did not follow the recorded rule, e.g. gradient clipping, or with stride > 1,
            where it measures the snapshot quadrature's error). None otherwise.
    """

    prediction: torch.Tensor
    initial: torch.Tensor
    rhs: torch.Tensor
    residual: torch.Tensor
    exact: bool
    quadrature_levels: torch.Tensor | None = None
    per_sample: torch.Tensor | None = None
    path_kernel: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    regularization: torch.Tensor | None = None
    additivity_error: float | None = None
