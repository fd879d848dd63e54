"""Figure declarations: a figure's ID, chapter and experiment study live on the function that draws it.

    @figure("fig-linear-residual", linear_regression)
    def residual(result: linear_regression.Result) -> Figure:
        \"\"\"One-line description (the figure index and ``figures list`` show it).\"\"\"

The decorator records a `FigureSpec` in `FIGURES` when the chapter's plot module is imported
(``import pathkernel.plots`` imports them all) and returns the function unchanged. The chapter
is the plot module's name, which is the notebook's (notebooks/<chapter>.md); the experiment is
the study module whose ``run(config, seed) -> Result`` the function draws.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

from matplotlib.figure import Figure

FIGURE_ID = re.compile(r"fig-[a-z0-9]+(-[a-z0-9]+)+")
EXPERIMENTS_PACKAGE = "pathkernel.experiments."


@dataclass(frozen=True)
class FigureSpec:
    """One citable figure.

    Attributes:
        id: its MyST label and caption tag in notebooks/<chapter>.md, ``fig-<chapter>-<what>``.
        chapter: the notebook it appears in (the plot module's name).
        description: the first paragraph of the drawing function's docstring.
        experiment: the study module under ``pathkernel.experiments`` that computes its result
            (dotted for a study inside a chapter package, e.g. "stochastic.residual").
        plot: the drawing function's qualified name, ``<plot module>.<function>``.
        seed: the seed the chapter shows.
        draw: the function, ``draw(result) -> matplotlib Figure``.
    """

    id: str
    chapter: str
    description: str
    experiment: str
    plot: str
    seed: int = 0
    draw: Callable[..., Figure] | None = field(default=None, compare=False, repr=False)


#: every declared figure by ID, in declaration order (filled as the plot modules are imported)
FIGURES: dict[str, FigureSpec] = {}


def figure(figure_id: str, study: ModuleType, *, seed: int = 0) -> Callable[[Callable[..., Figure]], Callable[..., Figure]]:
    """Declare the decorated function as the drawing of figure `figure_id` from `study`'s result.

    Raises ValueError at import time for an ID that is not ``fig-<words>``, one declared twice,
    a `study` that is not a ``pathkernel.experiments`` module with ``Config`` and ``run``, or a
    function without a docstring.
    """
    if not isinstance(figure_id, str) or not FIGURE_ID.fullmatch(figure_id):
        raise ValueError(f"figure ID {figure_id!r} must look like 'fig-<chapter>-<what>' (lowercase words and digits)")
    name = getattr(study, "__name__", "")
    if not name.startswith(EXPERIMENTS_PACKAGE) or not hasattr(study, "Config") or not hasattr(study, "run"):
        raise ValueError(f"{figure_id}: study={study!r} must be a pathkernel.experiments module with Config and run")

    def declare(draw: Callable[..., Figure]) -> Callable[..., Figure]:
        if figure_id in FIGURES:
            raise ValueError(f"{figure_id} is declared twice: by {FIGURES[figure_id].plot} and {draw.__module__}.{draw.__name__}")
        doc = inspect.getdoc(draw)
        if not doc:
            raise ValueError(f"{figure_id}: {draw.__qualname__} needs a docstring (its first paragraph describes the figure)")
        module = draw.__module__.rsplit(".", 1)[-1]
        FIGURES[figure_id] = FigureSpec(
            id=figure_id,
            chapter=module,
            description=" ".join(doc.split("\n\n", 1)[0].split()).rstrip("."),
            experiment=name.removeprefix(EXPERIMENTS_PACKAGE),
            plot=f"{module}.{draw.__name__}",
            seed=seed,
            draw=draw,
        )
        return draw

    return declare
