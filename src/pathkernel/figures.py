"""Build a declared figure to files with provenance; ``python -m pathkernel figures list|build``.

A figure is declared where it is drawn (``pathkernel.plots``, `FIGURES`): its ID, chapter,
experiment study and drawing function. `draw` computes it the one way the book and the command
line share, ``spec.draw(runs.result(study, scale, seed))``; `build` saves PNG and PDF and a
provenance sidecar (the record of `pathkernel.runs.provenance` plus the figure's ID, chapter,
description and files). Same seed, same machine, same device: byte-identical files (a GPU's
arithmetic differs from the CPU's in the last bits, so its results and figures may too).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from pathkernel import runs
from pathkernel.experiments import DEVICES, check_device
from pathkernel.plots import FIGURES, FigureSpec
from pathkernel.runs import result_digest
from pathkernel.validation import integer

__all__ = ["FIGURES", "FigureSpec", "build", "draw", "experiment_module", "output_folder", "result_digest", "spec"]


def spec(figure_id: str) -> FigureSpec:
    """The declared figure `figure_id`; KeyError listing the known IDs otherwise."""
    if figure_id not in FIGURES:
        raise KeyError(f"unknown figure {figure_id!r}; known: {', '.join(sorted(FIGURES))}")
    return FIGURES[figure_id]


def experiment_module(figure: FigureSpec):
    """The `pathkernel.experiments` study module that computes `figure`."""
    return runs.study_module(figure.experiment)


def draw(
    figure_id: str,
    *,
    scale: str | None = None,
    seed: int | None = None,
    config: Any = None,
    device: str | torch.device = "cpu",
) -> tuple[Figure, Any]:
    """Figure `figure_id` and the result it is drawn from: ``spec.draw(runs.result(...))``.

    Args as `build`; the study runs once per process for a given config, seed and device
    (`pathkernel.runs.result`), so the figures of one chapter share it.
    """
    figure = spec(figure_id)
    seed = figure.seed if seed is None else integer("seed", seed, low=0)
    result = runs.result(figure.experiment, scale=scale, seed=seed, device=device, config=config)
    return figure.draw(result), result


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
        figure_id: a declared ID (see `FIGURES`).
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
    config = config if config is not None else experiment_module(figure).Config.from_scale(scale)
    fig, result = draw(figure_id, seed=seed, config=config, device=device)
    fig.savefig(folder / f"{figure_id}.png", dpi=150, metadata={"Software": None})
    fig.savefig(folder / f"{figure_id}.pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
    plt.close(fig)
    record = {
        "id": figure_id,
        "chapter": figure.chapter,
        "description": figure.description,
        "plot": figure.plot,
        **runs.provenance(figure.experiment, config, seed, device, result),
        "files": [f"{figure_id}.png", f"{figure_id}.pdf"],
    }
    (folder / f"{figure_id}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record
