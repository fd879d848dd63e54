"""The book's figures: one module per chapter, named after notebooks/<chapter>.md.

Each drawing function is declared where it is written, with its figure ID and the experiment
study it draws (`pathkernel.plots._declare.figure`); importing this package imports every
chapter module (`CHAPTERS`), so `FIGURES` holds them all. A drawing function takes that study's `Result`
and returns a matplotlib Figure; it computes nothing the result does not hold.
``pathkernel.figures`` builds a declared figure with provenance, and a chapter shows one by its
ID with ``pathkernel.book.show``.
"""

from pathkernel.plots import (
    attribution,
    ball_sphere,
    discrete_exact,
    generative,
    gradient_flow,
    kernel_evolution,
    kernel_machines,
    kernel_regime,
    last_layer,
    linear_regression,
    null_space,
    parity_1d,
    question,
    separable,
    shape_filling,
    stochastic,
    stochastic_kernel,
    two_peaks,
)
from pathkernel.plots._declare import FIGURES, FigureSpec, figure
from pathkernel.plots._style import PALETTE, style

CHAPTERS = (attribution, ball_sphere, discrete_exact, generative, gradient_flow, kernel_evolution,
            kernel_machines, kernel_regime, last_layer, linear_regression, null_space, parity_1d, question,
            separable, shape_filling, stochastic, stochastic_kernel, two_peaks)

__all__ = ["CHAPTERS", "FIGURES", "FigureSpec", "figure", "PALETTE", "style"]
