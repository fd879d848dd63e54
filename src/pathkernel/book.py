"""What a chapter's cells call: show a figure by its ID, glue a study's numbers into the prose.

    book.show("fig-linear-residual")            # a visible cell: one call per figure
    book.glue_numbers(linear_regression)        # a cell tagged remove-cell
    book.presets(linear_regression)             # a visible cell: the chapter's preset table

`show` draws the declared figure from ``runs.result`` (the same call as
``python -m pathkernel figures build``) and glues it under its ID for the chapter's
``{glue:figure}``; `glue_numbers` glues every entry of ``study.numbers(result)`` for the
prose's ``{glue:text}`` roles; `presets` is the table of the studies' quick and paper
values with where each paper value comes from (``Config.sources``), and of the results the papers
report against ours at the quick and the stored scale (`pathkernel.paper_values`). `show` and `glue_numbers` run each study once per process and take the scale
(default ``PATHKERNEL_SCALE``).
"""

from __future__ import annotations

import re

from types import ModuleType
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from pathkernel import figures, runs
from pathkernel.paper_values import PAPER_VALUES
from pathkernel.plots import _style as style
from pathkernel.runs import committed
from pathkernel.runs.provenance import run_seconds


#: the text of a prose number whose paper or large result the store lacks
NOT_STORED = "[not in the results store]"


def _glue(name: str, value: Any) -> None:
    from myst_nb import glue  # the book's extra: imported only where a notebook runs

    glue(name, value, display=False)


def _glue_markdown(name: str, text: str) -> None:
    from IPython.display import Markdown  # with myst_nb, where a notebook runs

    _glue(name, Markdown(text))


def show(figure_id: str, *, scale: str | None = None, seed: int | None = None) -> None:
    """Draw figure `figure_id` (`figures.draw`) and glue it under its ID, and the same figure from
    the stored run of its study's `large` preset under ``stored-<ID>`` with the caption note
    ``stored-<ID>-note`` (`stored_note`: the scale, where and when it ran, its provenance; or the
    command that computes it when the store has no current entry, drawn as a placeholder).
    Nothing is displayed in the cell: the chapter's ``{glue:figure}`` directives show them. At a
    paper or large `scale` the first figure is read from the store too, and is a placeholder naming
    the command that computes it when the store lacks the entry."""
    try:
        fig, _ = figures.draw(figure_id, scale=scale, seed=seed)
    except committed.StoredResultError as missing:  # a paper or large build of an entry the store lacks
        fig = style.placeholder(str(missing))
    _glue(figure_id, fig)
    plt.close(fig)
    stored_fig, note = stored_figure(figure_id, seed=seed)
    _glue(f"stored-{figure_id}", stored_fig)
    _glue_markdown(f"stored-{figure_id}-note", note)
    plt.close(stored_fig)


def stored_figure(figure_id: str, *, seed: int | None = None) -> tuple[Figure, str]:
    """Figure `figure_id` drawn from the committed store's entry of its study's `large` preset, and
    its caption note (Markdown); a placeholder figure naming the refresh command when the entry is
    missing, or stale and not on the stale-list."""
    spec = figures.spec(figure_id)
    entry = committed.Entry(runs.study_name(spec.experiment), figures.experiment_module(spec).Config.large(),
                             spec.seed if seed is None else seed)
    stored = committed.load(entry)
    if stored is None:
        command = committed.refresh_command(entry.study, entry.scale, entry.seed)
        listed = committed.stale_list().get((entry.study, entry.scale, entry.seed))
        why = f" **Not run** (listed in results/stale.txt): {listed}." if listed else ""
        return style.placeholder(f"No current stored run of {entry.study} at the {entry.scale} scale.\n"
                                 f"{command}"), f"not in the results store; `{command}` computes it.{why}"
    return spec.draw(stored.result), stored_note(entry, stored.record, stored.status)


def stored_note(entry: committed.Entry, record: dict[str, Any], state: str) -> str:
    """The caption note of a stored figure: which preset, why (for a separate large preset), the
    machine, device, commit (and whether the tree had changes beyond it) and wall time of its run
    (with the time of checkpoints a resumed run read back), a link to its provenance record, and
    "stale" with the stale-list's reason when the study's source changed since."""
    config_class = type(entry.config)
    machine = record["machine"]
    device = record.get("device_name", record["device"])
    where = "the CPU" if device == "cpu" else device
    tree = {False: "", True: " (from a modified tree)"}.get(record.get("git_dirty"), " (tree state not recorded)")
    seconds = run_seconds(record)
    ran = (f"run on {where} of a {machine['cpus']}-core {machine['platform'].split('-')[0]} machine in "
           f"{seconds:.0f} s at commit `{(record['git_commit'] or 'unknown')[:10]}`{tree}")
    note = f"the **{entry.scale}** preset, {ran}; [provenance record]({committed.provenance_url(entry)})"
    if config_class.has_large():
        note += f". Why not the paper preset: {config_class.large_reason}"
    if state == "stale":
        reason = committed.stale_list()[(entry.study, entry.scale, entry.seed)]
        note += f". **Stale**: the study's code changed since this run ({reason})"
    return note


def numbers(*studies: str | ModuleType, scale: str | None = None, seed: int = 0) -> dict[str, Any]:
    """The prose numbers of `studies`: ``study.numbers(runs.result(study, scale, seed))`` merged
    in order; at a paper or large `scale` whose entry the store lacks, every name of the study's
    numbers is `NOT_STORED`, and where the entry is stale (read because it is on the stale-list)
    every number says "(stale)". Raises ValueError when a study has no ``numbers`` or two studies
    give one name."""
    merged: dict[str, Any] = {}
    for study in studies:
        module = runs.study_module(study)
        if not hasattr(module, "numbers"):
            raise ValueError(f"study {module.__name__} has no numbers(result) function")
        try:
            values = module.numbers(runs.result(module, scale=scale, seed=seed))
            config = module.Config.from_scale(scale)
            if config.scale != "quick" and committed.status(committed.Entry(runs.study_name(module), config, seed)) \
                    == "stale":
                values = {name: f"{value} (stale)" for name, value in values.items()}
        except committed.StoredResultError:
            values = {name: NOT_STORED for name in module.numbers(runs.result(module, scale="quick", seed=seed))}
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


class WholeTable(pd.DataFrame):
    """A DataFrame that a notebook shows whole: pandas cuts cells at 50 characters by default, and
    the preset table's sources and the papers' quotes are longer."""

    @property
    def _constructor(self):
        return WholeTable

    def _repr_html_(self) -> str | None:
        with pd.option_context("display.max_colwidth", None, "display.max_rows", None):
            return super()._repr_html_()


def presets(*studies: str | ModuleType) -> pd.DataFrame:
    """The preset and results table of `studies`.

    One row per Config field (``Presets.preset_rows``) with its quick and paper values (and large,
    where a study has a separate large preset) and where the paper value comes from; then one row
    per result the papers report (`pathkernel.paper_values`): "ours: ..." at the quick scale
    (computed here, ``runs.result``) and at the stored scale (the committed store's entry of the
    study's `large` preset; "not run here" at the paper scale where the study has a separate large
    preset), "reported: ..." the papers' value with its section, and a sentence on how to compare. A ``study`` column when there are several
    studies. Raises ValueError when a study's Config does not say the source of a field.
    """
    modules = [runs.study_module(study) for study in studies]
    separate_large = any(module.Config.has_large() for module in modules)
    rows = []
    for module in modules:
        name = runs.study_name(module)
        large = module.Config.large()
        for field, quick, paper, source in module.Config.preset_rows():
            rows.append({"study": name, "parameter": field, "quick": _cell(quick),
                         **({"large": _cell(getattr(large, field)) if large.scale == "large" else "= paper"}
                            if separate_large else {}),
                         "paper": _cell(paper), "paper value from": source, "comparison": ""})
        rows.extend(_result_rows(module, separate_large))
    table = WholeTable(rows)
    if len(studies) == 1:
        table = table.drop(columns="study")
    if not table["comparison"].any():
        table = table.drop(columns="comparison")
    return table.set_index(table.columns[0])


def _result_rows(module: ModuleType, separate_large: bool) -> list[dict[str, str]]:
    """The results rows of `presets` for one study (none when the papers report nothing for it)."""
    name = runs.study_name(module)
    values = PAPER_VALUES.get(name, ())
    if not values:
        return []
    seed = committed.seed_of(name)
    quick = module.numbers(runs.result(module, scale="quick", seed=seed))
    entry = committed.Entry(name, module.Config.large(), seed)
    stored = committed.load(entry)
    at_stored = module.numbers(stored.result) if stored is not None else {}
    flag = " (stale)" if stored is not None and stored.status == "stale" else ""
    rows = []
    for value in values:
        ours = f"ours: {at_stored[value.number]}{flag}" if stored is not None else "not in the store"
        at_scale = ({"large": ours, "paper": "not run here (see the large preset's reason)"} if entry.scale == "large"
                    else {**({"large": "= paper"} if separate_large else {}), "paper": ours})
        rows.append({"study": name, "parameter": f"result: {value.quantity}", "quick": f"ours: {quick[value.number]}",
                     **{key: at_scale[key] for key in (("large", "paper") if separate_large else ("paper",))},
                     "paper value from": f"reported: {value.paper}",
                     "comparison": with_values(value.note, quick, {k: f"{v}{flag}" for k, v in at_stored.items()},
                                               entry.scale)})
    return rows


def with_values(note: str, quick: dict[str, str], stored: dict[str, str], scale: str) -> str:
    """`note` with each number it names in parentheses, ``(glue-name)``, replaced by our values:
    ``(ours: <quick> at quick, <stored> at <scale>)``, the stored one left out when there is none.
    Raises KeyError naming a glue name the study's numbers() does not give (a typo in paper_values)."""
    def values(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in quick:
            raise KeyError(f"the note {note!r} names {name!r}, which is not a number of its study")
        return f"(ours: {quick[name]} at quick" + (f", {stored[name]} at {scale})" if name in stored else ")")
    return re.sub(r"\(([a-z0-9]+(?:-[a-z0-9]+)+)\)", values, note)
