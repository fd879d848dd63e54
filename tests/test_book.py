"""pathkernel.book (what chapter cells call) and the form of the chapters: no glue code on the page."""

import ast
import re
import types
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from pathkernel import book, figures, runs
from pathkernel.experiments import linear_regression
from pathkernel.runs import committed

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"
CHAPTERS = sorted(NOTEBOOKS.glob("*.md"))
CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```$", flags=re.M | re.S)
TINY = linear_regression.Config(scale="quick", n=8, d=2, time=0.4, lrs=(0.2, 0.1), n_query=4, width=4, fit_max_lr=0.2)


@pytest.fixture
def glued(monkeypatch):
    store = {}
    monkeypatch.setattr(book, "_glue", lambda name, value: store.__setitem__(name, value))
    return store


@pytest.fixture
def tiny_preset(monkeypatch):
    runs.clear()
    monkeypatch.setattr(linear_regression.Config, "quick", classmethod(lambda cls: TINY))
    yield
    runs.clear()


def test_show_glues_the_declared_figure_under_its_id(glued, tiny_preset):
    book.show("fig-linear-residual")
    assert list(glued) == ["fig-linear-residual", "stored-fig-linear-residual", "stored-fig-linear-residual-note"]
    assert isinstance(glued["fig-linear-residual"], Figure) and isinstance(glued["stored-fig-linear-residual"], Figure)
    expected, _ = figures.draw("fig-linear-residual")
    assert [list(line.get_ydata()) for line in glued["fig-linear-residual"].axes[0].lines] == \
        [list(line.get_ydata()) for line in expected.axes[0].lines]
    # the second figure is the stored paper run's, drawn by the same function from the stored result
    if committed.load(committed.Entry("linear_regression", linear_regression.Config.paper(), 0)) is not None:
        stored, _ = figures.draw("fig-linear-residual", scale="paper")
        assert [list(line.get_ydata()) for line in glued["stored-fig-linear-residual"].axes[0].lines] == \
            [list(line.get_ydata()) for line in stored.axes[0].lines]
        assert "**paper** preset" in glued["stored-fig-linear-residual-note"].data
    else:
        assert "python -m pathkernel run linear_regression" in glued["stored-fig-linear-residual-note"].data
    plt.close("all")
    with pytest.raises(KeyError, match="unknown figure 'fig-nope'"):
        book.show("fig-nope")


def test_glue_numbers_glues_the_study_numbers(glued, tiny_preset):
    book.glue_numbers(linear_regression)
    assert glued == linear_regression.numbers(runs.result(linear_regression))


def test_numbers_refuses_a_study_without_numbers_and_a_clash(tiny_preset):
    without = types.ModuleType("pathkernel.experiments.without_numbers")
    without.Config, without.run = linear_regression.Config, linear_regression.run
    with pytest.raises(ValueError, match="without_numbers has no numbers"):
        book.numbers(without)
    with pytest.raises(ValueError, match="gives .*linear-max.* again"):
        book.numbers(linear_regression, linear_regression)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapters_show_no_glue_code(chapter):
    """Numbers are glued by one hidden call; figures are shown by one call each; no analysis hides
    behind remove-output; committed files are read through the package."""
    text = chapter.read_text()
    assert "myst_nb" not in text and not re.search(r"\bglue\(", text)
    assert "remove-output" not in text and 'Path("..")' not in text
    hidden = [cell for cell in CELL.findall(text) if re.match(r":tags: \[remove-cell\]", cell)]
    assert len(hidden) <= 1
    for cell in hidden:
        statements = ast.parse("\n".join(cell.splitlines()[1:])).body
        assert len(statements) == 1 and ast.unparse(statements[0]).startswith("book.glue_numbers("), cell
    names = set(re.findall(r"\{glue:text\}`([\w-]+)`", text))
    assert not names or hidden, "prose glues numbers but the chapter has no glue_numbers cell"


def test_a_paper_build_of_an_entry_the_store_lacks_shows_a_placeholder_and_computes_nothing(
        glued, tiny_preset, tmp_path, monkeypatch):
    """PATHKERNEL_SCALE=paper with a store lacking the entry: the figure is a placeholder naming the
    command, every prose number of the study says it is not stored, and the study never runs."""
    monkeypatch.setenv("PATHKERNEL_STORE", str(tmp_path))
    names = set(linear_regression.numbers(runs.result(linear_regression, scale="quick")))
    monkeypatch.setattr(linear_regression, "run", lambda *a, **k: pytest.fail("computed a paper config"))
    book.show("fig-linear-residual", scale="paper")
    texts = [text.get_text() for text in glued["fig-linear-residual"].findobj(plt.Text)]
    assert any("python -m pathkernel run linear_regression --scale paper" in text for text in texts)
    glued.clear()
    book.glue_numbers(linear_regression, scale="paper")
    assert set(glued) == names and set(glued.values()) == {book.NOT_STORED}
    plt.close("all")
