"""Small HTML fixes for the book (a local Sphinx extension, loaded from _config.yml).

* MathJax: use the local copy that book/install_mathjax.sh puts in an ``html_extra_path``
  folder; when it is missing, fall back to Sphinx's default CDN URL (and drop the missing
  folder, which Sphinx would warn about) so that ``-W`` builds still pass.
* Sphinx 7.4 emits the sphinx-thebe and togglebutton inline scripts twice (once with filename
  None, once with ''), which browsers report as "Identifier ... has already been declared".
"""

from pathlib import Path

from sphinx.ext.mathjax import MATHJAX_URL
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _mathjax_fallback(app, config):
    if "://" in config.mathjax_path:
        return
    extra = [Path(app.confdir, folder) for folder in config.html_extra_path]
    if not any((folder / "_static" / config.mathjax_path).is_file() for folder in extra):
        logger.info("MathJax not installed locally (bash book/install_mathjax.sh); using %s", MATHJAX_URL)
        config.mathjax_path = MATHJAX_URL
        config.html_extra_path = [str(folder) for folder in extra if folder.is_dir()]


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    unique = {}
    for script in context.get("script_files", []):
        unique.setdefault((script.filename or "", tuple(sorted(script.attributes.items()))), script)
    context["script_files"] = list(unique.values())


def setup(app):
    app.connect("config-inited", _mathjax_fallback)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
