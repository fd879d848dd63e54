"""Preset tables: every Config says where each paper value comes from, and every chapter shows its table."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from pathkernel import book, runs
from pathkernel.experiments import Presets
from pathkernel.plots import FIGURES

ROOT = Path(__file__).resolve().parents[1]
SOURCE = re.compile(r"^ours: \S|^(Courtois et al\.|Morel talk|Domingos|Guo et al\.|NTK blog|Jacot et al\.)[ ,§:]")


@dataclass(frozen=True)
class Toy(Presets):
    scale: str
    n: int
    lrs: tuple[float, ...]
    sources = {"n": "Courtois et al. §5.2: n = 100", "lrs": "ours: the paper gives none"}

    @classmethod
    def quick(cls) -> "Toy":
        return cls(scale="quick", n=10, lrs=(0.1, 0.05))

    @classmethod
    def paper(cls) -> "Toy":
        return cls(scale="paper", n=100, lrs=(0.2, 0.1, 0.05))


def test_preset_rows_give_both_presets_and_the_source_in_field_order():
    assert Toy.preset_rows() == [("n", 10, 100, "Courtois et al. §5.2: n = 100"),
                                 ("lrs", (0.1, 0.05), (0.2, 0.1, 0.05), "ours: the paper gives none")]


def test_a_field_without_a_source_or_a_source_without_a_field_is_refused():
    @dataclass(frozen=True)
    class Missing(Toy):
        width: int = 3
        sources = {"n": "S1", "lrs": "ours: x", "depth": "ours: y"}

    with pytest.raises(ValueError, match=r"no source for \['width'\].*\['depth'\] are not fields"):
        Missing.preset_rows()


def test_presets_table_formats_tuples_and_floats(monkeypatch):
    class Module:  # a study module: Config and run
        Config = Toy
        run = None
        __name__ = "pathkernel.experiments.toy"

    monkeypatch.setattr(runs, "study_module", lambda study: Module)
    monkeypatch.setattr(runs, "study_name", lambda study: "toy")
    table = book.presets("toy")
    assert list(table.columns) == ["quick", "paper", "paper value from"]
    assert table.loc["lrs", "paper"] == "0.2, 0.1, 0.05"
    assert table.loc["n", "quick"] == "10"
    assert book._cell(((0, 0.55), (1.5, 2))) == "(0, 0.55), (1.5, 2)"
    both = book.presets("toy", "toy")
    assert both.index.name == "study" and list(both["parameter"]) == ["n", "lrs", "n", "lrs"]


def test_result_rows_set_ours_at_both_scales_beside_the_papers_value(monkeypatch, tmp_path):
    """A study with a separate large preset: the large column holds its values; a results row gives
    the number glued at the quick scale (computed) and from the stored large run (read), the paper's
    value and the comparison; without a stored run the row says so."""
    import dataclasses

    from pathkernel.experiments import linear_regression as lin
    from pathkernel.paper_values import PaperValue
    from pathkernel.runs.store import Store

    quick = lin.Config(scale="quick", n=8, d=2, time=0.4, lrs=(0.2, 0.1), n_query=4, width=4, fit_max_lr=0.2)
    large = dataclasses.replace(quick, scale="large", n=12)
    monkeypatch.setattr(lin.Config, "quick", classmethod(lambda cls: quick))
    monkeypatch.setattr(lin.Config, "large", classmethod(lambda cls: large))
    monkeypatch.setattr(book, "PAPER_VALUES", {"linear_regression": (
        PaperValue("linear-slope", "order of the remainder", "1 (S1 §3.1)", "compare the slopes"),)})
    monkeypatch.setenv("PATHKERNEL_STORE", str(tmp_path))
    runs.clear()
    table = book.presets(lin)
    assert list(table.columns) == ["quick", "large", "paper", "paper value from", "comparison"]
    assert table.loc["n", "large"] == "12" and table.loc["n", "quick"] == "8"
    row = table.loc["result: order of the remainder"]
    assert row["quick"] == "ours: " + lin.numbers(lin.run(quick, seed=0))["linear-slope"]
    assert row["large"] == "not in the store" and row["paper value from"] == "reported: 1 (S1 §3.1)"
    assert row["comparison"] == "compare the slopes"
    stored = lin.run(large, seed=0)
    Store(tmp_path).save(lin, large, 0, stored, {**runs.provenance(lin, large, 0, "cpu", stored), "run": {"wall_s": 1.0}})
    html = table._repr_html_()  # shown whole in a notebook: no cell cut at pandas' 50 characters
    assert all(text in html for text in table["paper value from"]) and "compare the slopes" in html
    row = book.presets(lin).loc["result: order of the remainder"]
    assert row["large"] == "ours: " + lin.numbers(stored)["linear-slope"] and row["paper"].startswith("not run")
    runs.clear()

CHAPTER_STUDIES: dict[str, set[str]] = {}
for spec in FIGURES.values():
    CHAPTER_STUDIES.setdefault(spec.chapter, set()).add(spec.experiment)


@pytest.mark.parametrize("chapter", sorted(CHAPTER_STUDIES))
def test_every_chapter_shows_the_preset_table_of_every_study_it_draws(chapter):
    text = (ROOT / "notebooks" / f"{chapter}.md").read_text()
    calls = re.findall(r"^book\.presets\((.*)\)$", text, flags=re.M)
    assert len(calls) == 1, f"{chapter}.md: expected one book.presets(...) cell, found {len(calls)}"
    for study in CHAPTER_STUDIES[chapter]:
        module = runs.study_module(study)
        for name, _, _, source in module.Config.preset_rows():
            assert SOURCE.match(source), f"{study}.Config.sources[{name!r}] = {source!r}: expected a paper " \
                                         f"reference ('Courtois et al. §6.1: …', 'Morel talk: …', 'Domingos …', 'NTK blog …') or 'ours: <why>'"
        shown = {runs.study_name(runs.study_module(arg.strip().strip('"\''))) if arg.strip()[0] in "\"'"
                 else arg.strip() for arg in calls[0].split(",")}
        assert runs.study_name(module) in shown or study.split(".")[0] in shown, \
            f"{chapter}.md: book.presets(...) does not show study {study}"
