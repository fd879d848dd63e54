"""Registry of the book's figures: stable IDs -> the experiment and plot that make them.

A figure is `plots.<plot>(experiments.<experiment>.run(Config.from_scale(scale), seed))`,
the same two calls its chapter makes, so the chapter and
``python -m pathkernel figures build ID`` draw it with one piece of code. `build` saves
PNG and PDF and a provenance sidecar (ID, scale, seed, device, versions, git commit, sha256
of the result's arrays). Same seed, same machine, same device: byte-identical files (a GPU's
arithmetic differs from the CPU's in the last bits, so its results and figures may too).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import platform
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch

from pathkernel import __version__, plots
from pathkernel.experiments import DEVICES, check_device
from pathkernel.validation import integer


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
        FigureSpec(
            id="fig-kernelevolution-neighbours",
            chapter="kernel_evolution",
            description="Disk/circle: Euclidean and normalized-tangent-kernel neighbourhoods of anchors at init, mid-training, end, label homogeneity",
            experiment="kernel_evolution",
            plot="kernelevolution_neighbours",
        ),
        FigureSpec(
            id="fig-kernelevolution-waves",
            chapter="kernel_evolution",
            description="sin x and square-wave regression: predictions and normalized tangent kernel matrices at init and after training",
            experiment="kernel_evolution",
            plot="kernelevolution_waves",
        ),
        FigureSpec(
            id="fig-kernelevolution-svm",
            chapter="kernel_evolution",
            description="Linear SVM on tangent features against an RBF SVM on inputs: circle and ellipse 100 x1^2 + x2^2",
            experiment="kernel_evolution",
            plot="kernelevolution_svm",
        ),
        FigureSpec(
            id="fig-kernelevolution-digits",
            chapter="kernel_evolution",
            description="Normalized trace tangent kernel of handwritten digits ordered by class, at init and after training",
            experiment="kernel_evolution_digits",
            plot="kernelevolution_digits",
        ),
        FigureSpec(
            id="fig-kernelevolution-umap",
            chapter="kernel_evolution",
            description="UMAP of tangent features, network trained on digits 0-4: seen digits cluster, unseen 5-9 blur",
            experiment="kernel_evolution_digits",
            plot="kernelevolution_umap",
        ),
        FigureSpec(
            id="fig-kernelevolution-printed",
            chapter="kernel_evolution",
            description="Handwritten against printed (font-rendered) digits: kernel blocks at init and trained, confusion matrix",
            experiment="kernel_evolution_digits",
            plot="kernelevolution_printed",
        ),
        FigureSpec(
            id="fig-ballsphere-decision",
            chapter="ball_sphere",
            description="Ball vs sphere (paper Fig. 1): data, the trained network's sign regions, its boundary radius per direction",
            experiment="ball_sphere",
            plot="ballsphere_decision",
        ),
        FigureSpec(
            id="fig-ballsphere-neighbours",
            chapter="ball_sphere",
            description="Ball vs sphere (paper Fig. 2): k nearest training points under the normalized NTK and in Euclidean distance",
            experiment="ball_sphere",
            plot="ballsphere_neighbours",
        ),
        FigureSpec(
            id="fig-ballsphere-svm",
            chapter="ball_sphere",
            description="Ball vs sphere (paper Fig. 3): linear SVM on the tangent features against the network",
            experiment="ball_sphere",
            plot="ballsphere_svm",
        ),
        FigureSpec(
            id="fig-ballsphere-residual",
            chapter="ball_sphere",
            description="Remainder of Domingos' discrete formula and of the exact form against lr, width and steps",
            experiment="ball_sphere",
            plot="ballsphere_residual",
        ),
        FigureSpec(
            id="fig-separable-decision",
            chapter="separable",
            description="Half-plane task (paper Fig. 4): data and the trained network's sign regions",
            experiment="separable",
            plot="separable_decision",
        ),
        FigureSpec(
            id="fig-separable-neighbours",
            chapter="separable",
            description="Half-plane task (paper Fig. 5): normalized-NTK against Euclidean neighbourhoods, their anisotropy",
            experiment="separable",
            plot="separable_neighbours",
        ),
        FigureSpec(
            id="fig-separable-anisotropy",
            chapter="separable",
            description="Anisotropy of kernel neighbourhoods on a probe grid: stretched along the boundary after training",
            experiment="separable",
            plot="separable_anisotropy",
        ),
        FigureSpec(
            id="fig-separable-snapshots",
            chapter="separable",
            description="Kernel neighbourhoods at initialization, mid-training and the end, label homogeneity along training",
            experiment="separable",
            plot="separable_snapshots",
        ),
        FigureSpec(
            id="fig-kernelregime-functions",
            chapter="kernel_regime",
            description="Random 2-hidden-layer ReLU networks of a 1D input, and trained ones beside their linearization",
            experiment="lazy_training",
            plot="kernelregime_functions",
        ),
        FigureSpec(
            id="fig-kernelregime-weight-change",
            chapter="kernel_regime",
            description="Lazy training: relative weight change ||w_T - w_0|| / ||w_0|| against width, fitted power law",
            experiment="lazy_training",
            plot="kernelregime_weight_change",
        ),
        FigureSpec(
            id="fig-kernelregime-linearization",
            chapter="kernel_regime",
            description="Distance between the network and its linearization against width and output scale alpha, kappa",
            experiment="lazy_training",
            plot="kernelregime_linearization",
        ),
        FigureSpec(
            id="fig-kernelregime-toy",
            chapter="kernel_regime",
            description="The blog's 1-parameter model: alpha f against its tangent line, normalized loss surfaces",
            experiment="output_scale",
            plot="kernelregime_toy",
        ),
        FigureSpec(
            id="fig-kernelregime-ellipses",
            chapter="kernel_regime",
            description="Two data points: the 2x2 tangent kernel as an ellipse along training for several alpha, outputs",
            experiment="output_scale",
            plot="kernelregime_ellipses",
        ),
        FigureSpec(
            id="fig-kernelregime-ode",
            chapter="kernel_regime",
            description="Kernel-regime ODE u(t) = exp(-t K0 / n) u(0) (scipy expm) against the real trajectory, gap vs alpha",
            experiment="output_scale",
            plot="kernelregime_ode",
        ),
        FigureSpec(
            id="fig-kernelregime-ntk-limit",
            chapter="kernel_regime",
            description="Empirical NTK at width m against the analytic infinite-width NTK (ReLU, erf): O(m^-1/2)",
            experiment="ntk_limit",
            plot="kernelregime_ntk_limit",
        ),
        FigureSpec(
            id="fig-kernelregime-regression",
            chapter="kernel_regime",
            description="Kernel regression with the analytic NTK against trained wide centred networks",
            experiment="ntk_limit",
            plot="kernelregime_regression",
        ),
        FigureSpec(
            id="fig-stochastic-residual",
            chapter="stochastic",
            description="Remainder of the Domingos theorems for GD, SGD, momentum and Adam against lr at fixed time, and of their exact forms",
            experiment="stochastic",
            plot="stochastic_residual",
        ),
        FigureSpec(
            id="fig-stochastic-expectation",
            chapter="stochastic",
            description="SGD over many mini-batch orders: mean prediction against the mean decomposition, Monte Carlo error against the number of seeds, expected contributions",
            experiment="stochastic",
            plot="stochastic_expectation",
        ),
        FigureSpec(
            id="fig-stochastic-per-sample",
            chapter="stochastic",
            description="Per-sample contributions of SGD, momentum and Adam against GD at the same query points, Spearman rank correlations",
            experiment="stochastic",
            plot="stochastic_per_sample",
        ),
        FigureSpec(
            id="fig-shapefilling-examples",
            chapter="shape_filling",
            description="U-Net shape filling in distribution: filtered boundary (input), prediction and ground truth, IoU per image",
            experiment="shape_filling",
            plot="shapefilling_examples",
        ),
        FigureSpec(
            id="fig-shapefilling-complexity",
            chapter="shape_filling",
            description="U-Net IoU against the complexity of five out-of-distribution suites, beside the nesting-depth oracle (100%), flood fill and the naive parity scan",
            experiment="shape_filling",
            plot="shapefilling_complexity",
        ),
        FigureSpec(
            id="fig-shapefilling-failures",
            chapter="shape_filling",
            description="The U-Net's worst image at the highest complexity of each out-of-distribution suite (Fig. 7 of the paper)",
            experiment="shape_filling",
            plot="shapefilling_failures",
        ),
        FigureSpec(
            id="fig-parity1d-levels",
            chapter="parity_1d",
            description="The exact ParityNet level by level: block parities down the encoder, prefix parities up the decoder",
            experiment="parity_training",
            plot="parity1d_levels",
        ),
        FigureSpec(
            id="fig-parity1d-training",
            chapter="parity_1d",
            description="ParityNet trained from random init and with inserted convolutions: losses, pixel error on Omega_(n,k') for unseen k'",
            experiment="parity_training",
            plot="parity1d_training",
        ),
        FigureSpec(
            id="fig-parity1d-noise",
            chapter="parity_1d",
            description="ParityNet trained from w* + sigma noise: fraction of exact runs and unseen-k' error against sigma, enlarged kernel beside",
            experiment="parity_training",
            plot="parity1d_noise",
        ),
        FigureSpec(
            id="fig-twopeaks-examples",
            chapter="two_peaks",
            description="Two-peak inputs of each peak-position group, their filled rows and the central-pixel label (Fig. 11)",
            experiment="two_peaks",
            plot="twopeaks_examples",
        ),
        FigureSpec(
            id="fig-twopeaks-tsne",
            chapter="two_peaks",
            description="t-SNE of the tangent features of all two-peak inputs by class and peak group (Fig. 12)",
            experiment="two_peaks",
            plot="twopeaks_tsne",
        ),
        FigureSpec(
            id="fig-twopeaks-neighbours",
            chapter="two_peaks",
            description="Nearest training points under the normalized NTK against Euclidean: sharing exactly one peak, sharing the label",
            experiment="two_peaks",
            plot="twopeaks_neighbours",
        ),
        FigureSpec(
            id="fig-twopeaks-multipeak",
            chapter="two_peaks",
            description="More than two peaks: training and unseen accuracy along full-batch GD and Adam",
            experiment="two_peaks",
            plot="twopeaks_multipeak",
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


def output_folder(out: str | Path) -> Path:
    """`out` as a folder that exists and can be written, checked before any experiment runs.

    Creates the folder (and its parents) when missing, then writes and deletes a temporary
    file in it. Raises NotADirectoryError when `out` (or a parent) is a file, PermissionError
    (or another OSError) when it cannot be created or written; the message names `out`.
    """
    if not isinstance(out, (str, Path)) or not str(out):
        raise ValueError(f"out={out!r} must be a folder path (str or pathlib.Path)")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"out={str(out)!r} is an existing file, not a folder; expected a folder to write into")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".pathkernel-write-test-"):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise type(error)(f"out={str(out)!r} cannot be used as the output folder: {reason}") from error
    return folder


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
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Regenerate a figure into `out`/<ID>.png, .pdf and .json (the provenance sidecar).

    Args:
        figure_id: a registered ID (see `FIGURES`).
        scale: "quick" or "paper"; default ``PATHKERNEL_SCALE`` (quick).
        seed: default the seed the chapter uses; an integer >= 0.
        out: output folder (created).
        config: an explicit experiment Config instead of a preset (tests use small ones).
        device: where the experiment computes, "cpu" (default) or "cuda" ("cuda:N"); the
            figure is drawn from CPU arrays either way.

    Returns:
        The provenance record written to the sidecar.

    Raises:
        KeyError: an unknown figure ID. ValueError: a bad scale (or ``PATHKERNEL_SCALE``),
        seed or device (not cpu or cuda, or CUDA not available here). OSError
        (NotADirectoryError, PermissionError): `out` is a file or cannot be written. All of
        them before the experiment runs.
    """
    figure = spec(figure_id)
    seed = figure.seed if seed is None else integer("seed", seed, low=0)
    device = check_device(device, types=DEVICES)
    folder = output_folder(out)
    module = experiment_module(figure)
    config = config if config is not None else module.Config.from_scale(scale)
    result = module.run(config, seed=seed, device=device)
    fig = getattr(plots, figure.plot)(result)
    fig.savefig(folder / f"{figure_id}.png", dpi=150, metadata={"Software": None})
    fig.savefig(folder / f"{figure_id}.pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
    matplotlib.pyplot.close(fig)
    record = {
        "id": figure_id,
        "chapter": figure.chapter,
        "description": figure.description,
        "scale": config.scale,
        "seed": seed,
        "device": str(device),
        **({"device_name": torch.cuda.get_device_name(device)} if device.type == "cuda" else {}),
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
