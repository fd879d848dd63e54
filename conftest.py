"""Run the book's chapters as tests, and cache them for the book build.

Every chapter is a jupytext MyST notebook (``notebooks/*.md``; also book pages with a
kernelspec). Plain ``pytest`` collects each one (``testpaths`` in pyproject.toml) as one test
that executes it top to bottom in a kernel of this Python environment, through nbclient as
jupyter-cache runs it; a cell that raises fails the test with the cell's traceback, outputs
are not compared (the notebooks store none). The executed notebook is stored in the cache
that ``jupyter-book build`` reads (``execute_notebooks: cache``), so a CI run executes every
chapter once (`book/_ext/notebook_cache.py` empties the cache when the package changed).
Markdown pages without a kernelspec (``book/*.md``, README.md) are not collected.
"""

import os
import sys
from collections import defaultdict
from pathlib import Path

import jupytext
import pytest
from hypothesis import HealthCheck, settings
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import notebook_cache  # noqa: E402  (book/_ext is not a package)

os.environ.setdefault("PATHKERNEL_QUIET", "1")  # inherited by the kernels

# Hypothesis: CI replays a fixed set of examples (derandomized, no database) so a run is
# reproducible and its time bounded; locally, `--hypothesis-profile=dev` explores afresh.
# Failures that Hypothesis shrank are kept as explicit tests beside the property tests.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")

collect_ignore = ["_build", "book/_mathjax"]
CELL_TIMEOUT = 600  # seconds, as the book build's execute.timeout

_seconds = defaultdict(float)  # notebook path -> execution time


class NotebookFailed(Exception):
    """A chapter's cell raised; the message is the cell and its traceback."""


class ChapterNotebook(pytest.File):
    def collect(self):
        yield ChapterRun.from_parent(self, name="execute")


class ChapterRun(pytest.Item):
    """Execute one chapter and store it, executed, in the book build's cache."""

    def runtest(self):
        notebook = jupytext.read(self.path)  # same code cells and kernelspec as myst-nb reads: same cache key
        result = single_nb_execution(notebook, cwd=str(self.path.parent), timeout=CELL_TIMEOUT,
                                     allow_errors=False, meta_override=True)
        _seconds[self.nodeid.partition("::")[0]] = result.time
        if result.err is not None:
            raise NotebookFailed(result.exc_string)
        cache = get_cache(str(notebook_cache.CACHE))
        cache.cache_notebook_bundle(CacheBundleIn(notebook, str(self.path), data={"execution_seconds": result.time}),
                                    check_validity=False, overwrite=True)

    def repr_failure(self, excinfo):
        if excinfo.errisinstance(NotebookFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"{self.path.name}: execute"


def _is_notebook(path):
    return path.suffix == ".md" and "kernelspec" in jupytext.read(path).metadata


def pytest_sessionstart(session):
    notebook_cache.invalidate_if_stale()


def pytest_collect_file(file_path, parent):
    if _is_notebook(file_path):
        return ChapterNotebook.from_parent(parent, path=file_path)


def pytest_terminal_summary(terminalreporter):
    if not _seconds:
        return
    terminalreporter.section("notebook execution times")
    width = max(map(len, _seconds))
    for path, seconds in sorted(_seconds.items()):
        terminalreporter.line(f"{path:<{width}}  {seconds:8.1f} s")
    terminalreporter.line(f"{'total':<{width}}  {sum(_seconds.values()):8.1f} s")
