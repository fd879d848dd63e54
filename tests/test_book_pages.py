"""The book's generated reference pages: the API reference and the figure gallery.

The HTML itself is checked in a browser by tests/browser/test_book_html.py after a build.
"""

import importlib
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import pathkernel
from pathkernel import data
from pathkernel.figures import FIGURES

ROOT = Path(__file__).parents[1]
API = ROOT / "book" / "api.md"


def test_api_page_documents_every_public_name():
    page = API.read_text()
    documented = set(re.findall(r"^\.\. (?:auto\w+|py:\w+):: ([\w.]+)", page, flags=re.M))
    documented |= {name.removeprefix("pathkernel.") for name in documented}
    missing = [name for name in pathkernel.__all__ if name not in documented]
    assert not missing, f"add {missing} to book/api.md (an autoclass/autofunction/automodule entry)"
    # pathkernel.data's functions come with `automodule:: pathkernel.data :members:`; its modules need their own
    modules = [name for name in data.__all__ if isinstance(getattr(data, name), type(data))]
    missing = [name for name in modules if f"data.{name}" not in documented]
    assert not missing, f"add `.. automodule:: pathkernel.data.<name>` for {missing} to book/api.md"


def test_gallery_lists_every_registered_figure():
    pytest.importorskip("sphinx")
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        gallery = importlib.import_module("figure_gallery")
    finally:
        sys.path.remove(str(ROOT / "book" / "_ext"))
    assert gallery.MARKER in (ROOT / "book" / "figures.md").read_text()
    text = gallery.gallery_markdown(SimpleNamespace(config=SimpleNamespace(), srcdir=str(ROOT)))
    for spec in FIGURES.values():
        assert f"{{numref}}`Fig. %s <{spec.id}>` in {{doc}}`/notebooks/{spec.chapter}`" in text
        assert f"`python -m pathkernel figures build {spec.id} --scale quick`" in text
        assert f"{{figure-thumbnail}} {spec.id}" in text
    chapters = {spec.chapter for spec in FIGURES.values()}
    assert text.count("\n## ") + text.startswith("## ") == len(chapters)
