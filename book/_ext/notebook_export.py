"""The chapters as notebooks that Colab can open, and the book's buttons that open them.

A script (the book workflow, .github/workflows/book.yml, runs it and pushes the result to
the ``notebooks`` branch)::

    python book/_ext/notebook_export.py OUT [--ref COMMIT]

writes ``OUT/<chapter>.ipynb`` for every chapter ``notebooks/<chapter>.md`` (a jupytext
MyST notebook): the chapter's cells, tags and kernelspec, no outputs, stable cell ids, and
a first code cell that installs pathkernel at COMMIT (default: the checkout's HEAD) when it
runs on Colab and does nothing elsewhere.

A Sphinx extension (``local_extensions`` in _config.yml). sphinx-book-theme's Colab button
opens ``notebooks/<chapter>.md`` on the source branch, which Colab cannot read, and the theme
has no setting for another branch or suffix; so on every chapter page

* the Colab button opens ``<colab_url>/github/<org>/<repo>/blob/notebooks/<chapter>.ipynb``;
* the download button's ``.ipynb`` is the exported notebook (the theme's is the executed
  one, without the install cell);
* on the other notebook pages (``book/performance.md``: not exported, it reads the
  repository's files) the Colab button is dropped.

Binder keeps the theme's link to the MyST file: jupytext is in environment.yml.
"""

from __future__ import annotations

import argparse
import functools
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[2]
BRANCH = "notebooks"                     # the branch the workflow publishes the notebooks on
COLAB = "https://colab.research.google.com"
INSTALL_TAG = "colab-install"            # the tag of the install cell
EXTRAS = ("myst-nb",)                    # installed beside pathkernel: the chapters glue with myst_nb


def chapters(root: Path = ROOT) -> list[Path]:
    """The chapters, ``notebooks/*.md``, in name order."""
    return sorted((root / "notebooks").glob("*.md"))


def repository(root: Path = ROOT) -> tuple[str, str]:
    """The repository URL and branch of _config.yml."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))["repository"]
    return config["url"].rstrip("/"), config.get("branch", "main")


@functools.lru_cache
def head_commit(root: Path = ROOT) -> str | None:
    """The checkout's HEAD commit, None outside a git checkout."""
    try:
        run = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return run.stdout.strip() or None


def colab_link(repository_url: str, chapter: str, colab: str = COLAB) -> str:
    """Colab's URL of the exported `chapter` on the notebooks branch of the GitHub repository."""
    org, repo = urlsplit(repository_url).path.strip("/").split("/")[:2]
    return f"{colab.rstrip('/')}/github/{org}/{repo}/blob/{BRANCH}/{chapter}.ipynb"


def install_cell(repository_url: str, ref: str) -> nbformat.NotebookNode:
    """A code cell that pip-installs pathkernel at `ref` on Colab, and does nothing elsewhere."""
    source = (f"# On Colab: install pathkernel (commit {ref}) and what the chapter imports.\n"
              "# Elsewhere this cell does nothing: install the package as its README says.\n"
              "import sys\n"
              "\n"
              'if "google.colab" in sys.modules:\n'
              f'    %pip install --quiet "pathkernel @ git+{repository_url}@{ref}" {" ".join(EXTRAS)}')
    return nbformat.v4.new_code_cell(source, metadata={"tags": [INSTALL_TAG]})


def export(source: Path, repository_url: str, ref: str) -> nbformat.NotebookNode:
    """The chapter `source` as a notebook: its cells after the install cell, no outputs."""
    notebook = jupytext.read(source)
    notebook.metadata.pop("jupytext", None)  # kernelspec stays
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    notebook.cells.insert(0, install_cell(repository_url, ref))
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"  # jupytext's are random: the export is byte-identical for one ref
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.validate(notebook)
    return notebook


def export_all(out: Path, ref: str | None = None, root: Path = ROOT) -> list[Path]:
    """Write ``out/<chapter>.ipynb`` for every chapter; `ref` defaults to HEAD (else the branch)."""
    url, branch = repository(root)
    ref = ref or head_commit(root) or branch
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for source in chapters(root):
        written.append(out / f"{source.stem}.ipynb")
        nbformat.write(export(source, url, ref), written[-1])
    return written


def _point_buttons(app, pagename, templatename, context, doctree) -> None:
    """html-page-context, after the theme's buttons (priority 501): see the module docstring."""
    options = app.config.html_theme_options
    url, branch = options.get("repository_url", "").rstrip("/"), options.get("repository_branch") or "main"
    colab = options.get("launch_buttons", {}).get("colab_url") or COLAB
    if not url:  # no repository: the theme shows no launch button either
        return
    source = Path(app.env.doc2path(pagename))
    root = Path(app.srcdir)
    chapter = source if source in chapters(root) else None
    for group in context.get("header_buttons", []):
        if not (isinstance(group, dict) and group.get("label") == "launch-buttons"):
            continue
        for button in [b for b in group["buttons"] if b.get("text") == "Colab"]:
            if chapter is None:
                group["buttons"].remove(button)
            else:
                button["url"] = colab_link(url, chapter.stem, colab)
    if chapter is not None and context.get("ipynb_source"):
        target = Path(app.outdir, "_sources", context["ipynb_source"])
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(export(chapter, url, head_commit(root) or branch), target)


def setup(app):
    app.connect("html-page-context", _point_buttons, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the .ipynb files")
    parser.add_argument("--ref", help="the commit (or branch) the install cell installs; default: HEAD")
    args = parser.parse_args(argv)
    for path in export_all(args.out, args.ref):
        print(path)


if __name__ == "__main__":
    main()
