"""What a chapter's cells call: show a figure by its ID, glue a study's numbers into the prose.

    book.show("fig-linear-residual")            # a visible cell: one call per figure
    book.glue_numbers(linear_regression)        # a cell tagged remove-cell
    book.presets(linear_regression)             # a visible cell: the chapter's preset table

`show` draws the declared figure from ``runs.result`` (the same call as
``python -m pathkernel figures build``) and glues it under its ID for the chapter's
``{glue:figure}``; `glue_numbers` glues every entry of ``study.numbers(result)`` for the
prose's ``{glue:text}`` roles; `presets` is the table of the studies' quick and paper
values with where each paper value comes from (``Config.sources``). `show` and `glue_numbers` run each study once per process and take the scale
(default ``PATHKERNEL_SCALE``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from pathkernel import figures, runs


def _glue(name: str, value: Any) -> None:
    from myst_nb import glue  # the book's extra: imported only where a notebook runs

    glue(name, value, display=False)


def show(figure_id: str, *, scale: str | None = None, seed: int | None = None) -> None:
    """Draw figure `figure_id` (`figures.draw`) and glue it under its ID; nothing is displayed
    in the cell (the chapter's ``{glue:figure}`` directive shows it with its caption)."""
    fig, _ = figures.draw(figure_id, scale=scale, seed=seed)
    _glue(figure_id, fig)
    plt.close(fig)


def numbers(*studies: str | ModuleType, scale: str | None = None, seed: int = 0) -> dict[str, Any]:
    """The prose numbers of `studies`: ``study.numbers(runs.result(study, scale, seed))`` merged
    in order. Raises ValueError when a study has no ``numbers`` or two studies give one name."""
    merged: dict[str, Any] = {}
    for study in studies:
        module = runs.study_module(study)
        if not hasattr(module, "numbers"):
            raise ValueError(f"study {module.__name__} has no numbers(result) function")
        values = module.numbers(runs.result(module, scale=scale, seed=seed))
        clash = merged.keys() & values.keys()
        if clash:
            raise ValueError(f"{module.__name__}.numbers gives {sorted(clash)} again")
        merged.update(values)
    return merged


def glue_numbers(*studies: str | ModuleType, scale: str | None = None, seed: int = 0) -> None:
    """Glue every entry of `numbers` (``{glue:text}`name``` in the prose shows it)."""
    for name, value in numbers(*studies, scale=scale, seed=seed).items():
        _glue(name, value)


def _cell(value: Any, nested: bool = False) -> str:
    if isinstance(value, tuple):
        text = ", ".join(_cell(item, nested=True) for item in value)
        return f"({text})" if nested else text
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def presets(*studies: str | ModuleType) -> pd.DataFrame:
    """The preset table of `studies`: one row per Config field (``Presets.preset_rows``) with its
    quick and paper values and where the paper value comes from; a ``study`` column when there are
    several studies. Raises ValueError when a study's Config does not say the source of a field."""
    rows = []
    for study in studies:
        module = runs.study_module(study)
        for name, quick, paper, source in module.Config.preset_rows():
            rows.append({"study": runs.study_name(module), "parameter": name, "quick": _cell(quick),
                         "paper": _cell(paper), "paper value from": source})
    table = pd.DataFrame(rows)
    if len(studies) == 1:
        table = table.drop(columns="study")
    return table.set_index(table.columns[0])
