"""The chapters exported for Colab (book/_ext/notebook_export.py): valid notebooks with the
chapter's cells and no outputs after an install cell that only acts on Colab, and the book's
Colab and download buttons pointed at them."""

import sys
import types
from pathlib import Path

import jupytext
import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import notebook_export  # noqa: E402  (book/_ext is not a package)

REF = "0123456789abcdef0123456789abcdef01234567"
REPOSITORY = "https://github.com/pathkernel/pathkernel"
INSTALL = f'install --quiet "pathkernel @ git+{REPOSITORY}@{REF}" myst-nb'


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("notebooks")
    return out, notebook_export.export_all(out, ref=REF)


def test_every_chapter_is_exported_once(exported):
    out, written = exported
    chapters = sorted(path.stem for path in (ROOT / "notebooks").glob("*.md"))
    assert len(chapters) >= 15
    assert [path.stem for path in written] == chapters
    assert sorted(path.name for path in out.iterdir()) == [f"{name}.ipynb" for name in chapters]


def test_a_notebook_is_the_chapter_after_an_install_cell(exported):
    _, written = exported
    for path in written:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        chapter = jupytext.read(ROOT / "notebooks" / f"{path.stem}.md")
        assert notebook.metadata["kernelspec"] == chapter.metadata["kernelspec"]
        assert "jupytext" not in notebook.metadata
        install, *cells = notebook.cells
        assert install.cell_type == "code" and install.metadata["tags"] == [notebook_export.INSTALL_TAG]
        assert [(c.cell_type, c.source, c.metadata.get("tags")) for c in cells] == \
               [(c.cell_type, c.source, c.metadata.get("tags")) for c in chapter.cells], path.name
        assert sum(c.cell_type == "code" for c in cells) > 0
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
        assert [cell.id for cell in notebook.cells] == [f"cell-{i}" for i in range(len(notebook.cells))]


def test_the_export_is_byte_identical_for_one_commit(exported, tmp_path):
    _, written = exported
    again = notebook_export.export_all(tmp_path, ref=REF)
    assert [path.read_bytes() for path in again] == [path.read_bytes() for path in written]


def _run_install_cell(source):
    """Run the install cell as IPython would, recording its magics instead of running pip."""
    magics = []
    shell = types.SimpleNamespace(run_line_magic=lambda name, line: magics.append((name, line)))
    exec(TransformerManager().transform_cell(source), {"get_ipython": lambda: shell})
    return magics


def test_the_install_cell_installs_this_commit_on_colab_only(exported, monkeypatch):
    _, written = exported
    source = nbformat.read(written[0], as_version=4).cells[0].source
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert _run_install_cell(source) == []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert _run_install_cell(source) == [("pip", INSTALL)]


def test_the_default_ref_is_the_checkout_head(tmp_path, monkeypatch):
    monkeypatch.setattr(notebook_export, "head_commit", lambda root: "feedbeef")
    path = notebook_export.export_all(tmp_path)[0]
    assert "git+https://github.com/pathkernel/pathkernel@feedbeef" in nbformat.read(path, 4).cells[0].source


def test_the_script_writes_to_the_folder_it_is_given(tmp_path, capsys):
    notebook_export.main([str(tmp_path / "out"), "--ref", REF])
    printed = capsys.readouterr().out.split()
    assert printed and all(Path(line).is_file() and Path(line).parent == tmp_path / "out" for line in printed)


def test_the_colab_link_opens_the_notebooks_branch():
    assert notebook_export.colab_link(REPOSITORY + "/", "question") == \
        "https://colab.research.google.com/github/pathkernel/pathkernel/blob/notebooks/question.ipynb"


# --- the Sphinx extension, on the context sphinx-book-theme gives a page -------------------------

def _page(tmp_path, source):
    app = types.SimpleNamespace(
        srcdir=str(ROOT), outdir=str(tmp_path),
        env=types.SimpleNamespace(doc2path=lambda name: str(ROOT / f"{name}.md")),
        config=types.SimpleNamespace(html_theme_options={
            "repository_url": REPOSITORY, "repository_branch": "main",
            "launch_buttons": {"colab_url": "https://colab.research.google.com"}}))
    binder = f"https://mybinder.org/v2/gh/pathkernel/pathkernel/main?urlpath=lab/tree/{source}.md"
    context = {"ipynb_source": f"{source}.ipynb", "header_buttons": [
        {"type": "group", "label": "download-buttons", "buttons": []},
        {"type": "group", "label": "launch-buttons", "buttons": [
            {"type": "link", "text": "Binder", "url": binder},
            {"type": "link", "text": "Colab",
             "url": f"https://colab.research.google.com/github/pathkernel/pathkernel/blob/main/{source}.md"}]}]}
    notebook_export._point_buttons(app, source, "page.html", context, None)
    return {button["text"]: button["url"] for button in context["header_buttons"][1]["buttons"]}, binder


def test_a_chapter_page_opens_its_notebook_in_colab_and_downloads_it(tmp_path):
    buttons, binder = _page(tmp_path, "notebooks/question")
    assert buttons == {"Binder": binder, "Colab": notebook_export.colab_link(REPOSITORY, "question")}
    download = nbformat.read(tmp_path / "_sources" / "notebooks" / "question.ipynb", as_version=4)
    assert download.cells[0].metadata["tags"] == [notebook_export.INSTALL_TAG]
    assert all(cell.get("outputs", []) == [] for cell in download.cells)


def test_a_notebook_page_that_is_not_a_chapter_has_no_colab_button(tmp_path):
    buttons, binder = _page(tmp_path, "book/performance")
    assert buttons == {"Binder": binder}
    assert not (tmp_path / "_sources").exists()  # the theme's executed copy stays the download
