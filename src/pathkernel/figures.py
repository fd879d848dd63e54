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
from pathkernel.runs import committed, result_digest
from pathkernel.runs.store import Store
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
    store: str | Path | None = None,
    recompute: bool = False,
) -> tuple[Figure, Any]:
    """Figure `figure_id` and the result it is drawn from: ``spec.draw(runs.result(...))``.

    Args as `build`; the study runs once per process for a given config, seed and device
    (`pathkernel.runs.result`), so the figures of one chapter share it. A paper or large
    config is read from the results store unless `recompute`.
    """
    figure = spec(figure_id)
    seed = figure.seed if seed is None else integer("seed", seed, low=0)
    result = runs.result(figure.experiment, scale=scale, seed=seed, device=device, config=config, store=store,
                         recompute=recompute)
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
    store: str | Path | None = None,
    recompute: bool = False,
) -> dict[str, Any]:
    """Regenerate a figure into `out`/<ID>.png, .pdf and .json (the provenance sidecar).

    A quick figure is computed here. A paper or large one is drawn from the results store
    (`store`, default the book's committed store) and its sidecar carries the stored run's
    provenance (machine, device, commit, wall time) and the entry's folder; with `recompute`
    the study runs here instead (writing a store is ``python -m pathkernel run``'s job).

    Args:
        figure_id: a declared ID (see `FIGURES`).
        scale: "quick", "paper" or "large"; default ``PATHKERNEL_SCALE`` (quick).
        seed: default the seed the chapter uses; an integer >= 0.
        out: output folder (created).
        config: an explicit experiment Config instead of a preset (tests use small ones).
        device: where the experiment computes, "cpu" (default) or "cuda" ("cuda:N"); the
            figure is drawn from CPU arrays either way.
        store: the results store a paper or large figure is read from.
        recompute: run a paper or large study here instead of reading the store.

    Returns:
        The provenance record written to the sidecar.

    Raises:
        KeyError: an unknown figure ID. ValueError: a bad scale (or ``PATHKERNEL_SCALE``),
        seed or device (not cpu or cuda, or CUDA not available here). OSError
        (NotADirectoryError, PermissionError): `out` is a file or cannot be written. All of
        them before the experiment runs. `runs.committed.StoredResultError`: a paper or large
        figure whose entry is not in the store (the message gives the command that computes it).
    """
    figure = spec(figure_id)
    seed = figure.seed if seed is None else integer("seed", seed, low=0)
    device = check_device(device, types=DEVICES)
    folder = output_folder(out)
    config = config if config is not None else experiment_module(figure).Config.from_scale(scale)
    fig, result = draw(figure_id, seed=seed, config=config, device=device, store=store, recompute=recompute)
    fig.savefig(folder / f"{figure_id}.png", dpi=150, metadata={"Software": None})
    fig.savefig(folder / f"{figure_id}.pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
    plt.close(fig)
    record = {
        "id": figure_id,
        "chapter": figure.chapter,
        "description": figure.description,
        "plot": figure.plot,
        **_provenance(figure, config, seed, device, result, store, recompute),
        "files": [f"{figure_id}.png", f"{figure_id}.pdf"],
    }
    (folder / f"{figure_id}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def _provenance(figure: FigureSpec, config: Any, seed: int, device: torch.device, result: Any,
                store: str | Path | None, recompute: bool) -> dict[str, Any]:
    """The result's provenance: the stored entry's record, folder and status ("finished", or "stale"
    for a stale-listed entry) when `runs.result` read it from a store (a paper or large config, or a
    quick one whose entry `store` holds), else computed here."""
    where = store if store is not None else committed.default_store() if config.scale != "quick" else None
    if recompute or where is None:
        return runs.provenance(figure.experiment, config, seed, device, result)
    stored = Store(where)
    record = stored.record(figure.experiment, config, seed)
    if record is None or record["result_sha256"] != result_digest(result):  # computed: no (matching) entry
        return runs.provenance(figure.experiment, config, seed, device, result)
    return {**record, "stored_entry": str(stored.entry(figure.experiment, config, seed)),
            "stored_status": stored.status(figure.experiment, config, seed)}
