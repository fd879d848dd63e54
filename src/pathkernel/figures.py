"""Registry of the book's figures: stable IDs -> the experiment and plot that make them.

A figure is `plots.<plot>(experiments.<experiment>.run(Config.from_scale(scale), seed))`,
the same two calls its chapter makes, so the chapter and
``python -m pathkernel figures build ID`` draw it with one piece of code. `build` saves
PNG and PDF and a provenance sidecar (ID, scale, seed, versions, git commit, sha256 of
the result's arrays). Same seed, same machine: byte-identical files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch

from pathkernel import __version__, plots


@dataclass(frozen=True)
class FigureSpec:
    """One citable figure: `id` is its MyST label in notebooks/<chapter>.md."""

    id: str
    chapter: str
    description: str
    experiment: str
    plot: str
    seed: int = 0


FIGURES: dict[str, FigureSpec] = {
    spec.id: spec
    for spec in [
        FigureSpec(
            id="fig-discrete-residual-lr",
            chapter="discrete_exact",
            description="Remainder of the discrete Domingos theorem against lr at fixed time, and of the exact form",
            experiment="discrete_theorem",
            plot="residual_vs_lr",
        ),
        FigureSpec(
            id="fig-question-fill",
            chapter="question",
            description="A random shape's boundary filled by flood fill (exact) and by the parity scan of Eq. 10 (wrong pixels)",
            experiment="planar_fill",
            plot="question_fill",
        ),
        FigureSpec(
            id="fig-question-thin",
            chapter="question",
            description="Parity scan on thin outlines: exact on a diamond, wrong on the tangent rows of an odd rectangle",
            experiment="planar_fill",
            plot="question_thin",
        ),
        FigureSpec(
            id="fig-kernelmachines-features",
            chapter="kernel_machines",
            description="Random Fourier features of the RBF kernel: Gram entries and RMS error against the number of features",
            experiment="kernel_machines",
            plot="kernelmachines_features",
        ),
        FigureSpec(
            id="fig-kernelmachines-svm",
            chapter="kernel_machines",
            description="RBF SVM on the ball/sphere task: decision function rebuilt from dual coefficients, support vectors",
            experiment="kernel_machines",
            plot="kernelmachines_svm",
        ),
        FigureSpec(
            id="fig-linear-residual",
            chapter="linear_regression",
            description="Remainder of Theorem 2 against lr: round-off for linear regression, O(lr) for a GELU MLP",
            experiment="linear_regression",
            plot="linear_residual",
        ),
        FigureSpec(
            id="fig-linear-kernels",
            chapter="linear_regression",
            description="Linear regression: NTK = linear kernel, normalized NTK = cosine, path kernel, kernel machine",
            experiment="linear_regression",
            plot="linear_kernels",
        ),
        FigureSpec(
            id="fig-gradientflow-convergence",
            chapter="gradient_flow",
            description="Gradient descent against the gradient flow (scipy solve_ivp) at fixed time: O(lr) distance, Theorem 1 on the flow",
            experiment="gradient_flow",
            plot="gradient_flow_convergence",
        ),
        FigureSpec(
            id="fig-gradientflow-contributions",
            chapter="gradient_flow",
            description="Path kernel, weights a_i and per-training-point contributions to three predictions (ball/sphere)",
            experiment="gradient_flow",
            plot="gradient_flow_contributions",
        ),
        FigureSpec(
            id="fig-discrete-vector-outputs",
            chapter="discrete_exact",
            description="Theorem 3 on three rings (3 logits, cross-entropy): remainder per output against lr, exact form",
            experiment="vector_outputs",
            plot="vector_outputs",
        ),
        FigureSpec(
            id="fig-lastlayer-svm",
            chapter="last_layer",
            description="Network against a linear SVM on its tangent features: trained, stopped early, noisy labels, narrow",
            experiment="last_layer",
            plot="last_layer_svm",
        ),
        FigureSpec(
            id="fig-attribution-examples",
            chapter="attribution",
            description="Test digits and the training digits that pushed their predicted logit up and down most (exact, Adam CNN)",
            experiment="attribution",
            plot="attribution_examples",
        ),
        FigureSpec(
            id="fig-attribution-tracin",
            chapter="attribution",
            description="TracIn-CP against the exact contributions: scores of one digit, rank agreement against the number of checkpoints",
            experiment="attribution",
            plot="attribution_tracin",
        ),
    ]
}


def spec(figure_id: str) -> FigureSpec:
    """The registered figure `figure_id`; a clear error lists the known IDs otherwise."""
    if figure_id not in FIGURES:
        raise KeyError(f"unknown figure {figure_id!r}; known: {', '.join(sorted(FIGURES))}")
    return FIGURES[figure_id]


def experiment_module(figure: FigureSpec):
    """The `pathkernel.experiments` module that computes `figure`."""
    return importlib.import_module(f"pathkernel.experiments.{figure.experiment}")


def result_digest(result: Any) -> str:
    """sha256 over a result dataclass: its config's repr, then every field in order
    (arrays by dtype, shape and bytes; numbers and strings by repr). Fields marked
    ``metadata={"volatile": True}`` (wall-clock timings) are left out: they change from run to run."""
    digest = hashlib.sha256()
    for field in dataclasses.fields(result):
        if field.metadata.get("volatile"):
            continue
        value = getattr(result, field.name)
        digest.update(field.name.encode())
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        if isinstance(value, np.ndarray):
            value = np.ascontiguousarray(value)
            digest.update(f"{value.dtype}{value.shape}".encode() + value.tobytes())
        else:
            digest.update(repr(value).encode())
    return digest.hexdigest()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def build(
    figure_id: str,
    *,
    scale: str | None = None,
    seed: int | None = None,
    out: str | Path = "figures",
    config: Any = None,
) -> dict[str, Any]:
    """Regenerate a figure into `out`/<ID>.png, .pdf and .json (the provenance sidecar).

    Args:
        figure_id: a registered ID (see `FIGURES`).
        scale: "quick" or "paper"; default ``PATHKERNEL_SCALE`` (quick).
        seed: default the seed the chapter uses.
        out: output folder (created).
        config: an explicit experiment Config instead of a preset (tests use small ones).

    Returns:
        The provenance record written to the sidecar.
    """
    figure = spec(figure_id)
    module = experiment_module(figure)
    config = config if config is not None else module.Config.from_scale(scale)
    seed = figure.seed if seed is None else seed
    result = module.run(config, seed=seed)
    fig = getattr(plots, figure.plot)(result)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    fig.savefig(folder / f"{figure_id}.png", dpi=150, metadata={"Software": None})
    fig.savefig(folder / f"{figure_id}.pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
    matplotlib.pyplot.close(fig)
    record = {
        "id": figure_id,
        "chapter": figure.chapter,
        "description": figure.description,
        "scale": config.scale,
        "seed": seed,
        "config": repr(config),
        "pathkernel": __version__,
        "git_commit": _git_commit(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": np.__version__, "matplotlib": matplotlib.__version__},
        "result_sha256": result_digest(result),
        "files": [f"{figure_id}.png", f"{figure_id}.pdf"],
    }
    (folder / f"{figure_id}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record
