"""The book's figure gallery, generated at build time from ``pathkernel.figures.FIGURES``.

A local Sphinx extension (listed in _config.yml). The page book/figures.md holds the marker
``<!-- figure-gallery -->``; on ``source-read`` it is replaced by MyST Markdown written from
the registry, one section per chapter (in table-of-contents order) and one per figure: its
ID, description, a ``{numref}`` link to the figure in its chapter (the ID is the figure's
MyST label) and the command that regenerates it. So the page can never go stale, and ``-W``
fails the build when a registered figure has no label in a built chapter.

Thumbnails reuse the image each chapter produced when it was executed for this build (no
second run of any experiment): a ``{figure-thumbnail}`` placeholder is resolved on
``doctree-resolved`` by looking the label up in the chapter's doctree. A figure whose image
cannot be found gets no thumbnail (and an info line in the log), never a broken image.
"""

from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

PAGE = "book/figures"
MARKER = "<!-- figure-gallery -->"
COMMAND = "python -m pathkernel figures build {id} --scale quick"


class figure_thumbnail(nodes.General, nodes.Element):
    """Placeholder for the image of figure ``figure_id``, replaced on doctree-resolved."""


class FigureThumbnail(SphinxDirective):
    """``{figure-thumbnail} ID``: a small copy of the registered figure ID, linked to it."""

    required_arguments = 1

    def run(self):
        node = figure_thumbnail(figure_id=self.arguments[0])
        self.set_source_info(node)
        return [node]


def _toc_order(app) -> list[str]:
    """Docnames in table-of-contents order (empty outside Jupyter Book's external toc)."""
    site_map = getattr(app.config, "external_site_map", None)
    if site_map is None:
        return []
    order: list[str] = []

    def walk(name: str) -> None:
        document = site_map.get(name)
        name = re.sub(r"\.(md|ipynb|rst)$", "", name)
        if name in order:
            return
        order.append(name)
        if document is not None:
            for child in document.child_files():
                walk(child)

    walk(site_map.root.docname)
    return order


def _chapter_numbers(app) -> dict[str, int]:
    """docname -> chapter number for the root's chapters in numbered parts (numbered
    continuously across parts, as Jupyter Book does)."""
    site_map = getattr(app.config, "external_site_map", None)
    if site_map is None:
        return {}
    numbers: dict[str, int] = {}
    for tree in site_map.root.subtrees:
        for name in tree.files():
            if tree.numbered:
                numbers[re.sub(r"\.(md|ipynb|rst)$", "", name)] = len(numbers) + 1
    return numbers


def _chapter_title(app, chapter: str) -> str:
    """The first level-1 heading of notebooks/<chapter>.md (the chapter's title)."""
    path = Path(app.srcdir, "notebooks", f"{chapter}.md")
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return chapter


def gallery_markdown(app) -> str:
    """The gallery as MyST Markdown (imports the registry on every build)."""
    from pathkernel.figures import FIGURES

    order = _toc_order(app)
    numbers = _chapter_numbers(app)
    chapters: dict[str, list] = {}
    for spec in FIGURES.values():
        chapters.setdefault(spec.chapter, []).append(spec)

    def position(chapter: str) -> int:
        docname = f"notebooks/{chapter}"
        return order.index(docname) if docname in order else len(order)

    lines = []
    for chapter in sorted(chapters, key=position):  # sorted() is stable: registry order breaks ties
        docname = f"/notebooks/{chapter}"
        specs = chapters[chapter]
        number = f"{numbers[docname[1:]]}. " if docname[1:] in numbers else ""
        lines += [f"## {number}{_chapter_title(app, chapter)}", "",
                  f"{len(specs)} figure{'s' * (len(specs) > 1)} in the chapter {{doc}}`{docname}`.", "",
                  "::::{grid} 1 1 2 2", ":gutter: 3", ""]
        for spec in specs:
            lines += [
                f":::{{grid-item-card}} {spec.id}",
                ":class-title: figure-gallery-id",
                "",
                f"```{{figure-thumbnail}} {spec.id}",
                "```",
                "",
                f"{spec.description.rstrip('.')}.",
                "",
                f"Drawn by `pathkernel.plots.{spec.plot}` from the study `{spec.experiment}`.",
                "",
                f"{{numref}}`Fig. %s <{spec.id}>` in {{doc}}`{docname}`",
                "",
                "```{card-footer}",
                f"`{COMMAND.format(id=spec.id)}`",
                "```",
                ":::",
                "",
            ]
        lines += ["::::", ""]
    return "\n".join(lines)


def _source_read(app, docname, source):
    if docname == PAGE and MARKER in source[0]:
        source[0] = source[0].replace(MARKER, gallery_markdown(app))


def _always_reread(app, env, added, changed, removed):
    """The gallery depends on the registry and on every chapter: read it on every build."""
    return [PAGE] if PAGE in env.found_docs else []


def _find_image(env, figure_id: str):
    """(docname, labelid, image node) of a labelled figure, or None."""
    docname, labelid, _ = env.get_domain("std").labels.get(figure_id, (None, None, None))
    if docname is None:
        return None
    for node in env.get_doctree(docname).findall(nodes.Element):
        if labelid in node.get("ids", ()):
            for image in node.findall(nodes.image):
                return docname, labelid, image
            return None
    return None


def _resolve_thumbnails(app, doctree, fromdocname):
    for node in list(doctree.findall(figure_thumbnail)):
        figure_id = node["figure_id"]
        found = _find_image(app.env, figure_id)
        if found is None:
            logger.info("figure gallery: no image found for %s, no thumbnail", figure_id)
            node.parent.remove(node)
            continue
        docname, labelid, image = found
        thumbnail = nodes.image(uri=image["uri"], candidates=dict(image.get("candidates", {})),
                                alt=f"thumbnail of {figure_id}", width="100%",
                                classes=["figure-thumbnail"])
        link = nodes.reference("", "", internal=True, classes=["figure-thumbnail-link"],
                               refuri=app.builder.get_relative_uri(fromdocname, docname) + "#" + labelid)
        link += thumbnail
        node.replace_self(nodes.paragraph("", "", link))


def setup(app):
    app.add_node(figure_thumbnail)
    app.add_directive("figure-thumbnail", FigureThumbnail)
    app.connect("source-read", _source_read)
    app.connect("env-get-outdated", _always_reread)
    app.connect("doctree-resolved", _resolve_thumbnails)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
