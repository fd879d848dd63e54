"""Run the book's chapters as tests.

Every chapter is a jupytext MyST notebook (``notebooks/*.md``). Plain ``pytest`` collects each
one (``testpaths`` in pyproject.toml), converts it in memory with jupytext and executes it with
nbval in lax mode: one test per code cell, in one kernel of this Python environment; a cell that
raises fails the run, outputs are not compared (the notebooks store none). Markdown pages without
a kernelspec (``book/*.md``, README.md) are not notebooks and are not collected.
"""

import os
import time
from collections import defaultdict
from types import SimpleNamespace
from unittest import mock

import jupytext
from hypothesis import HealthCheck, settings
from nbval import plugin as nbval

os.environ.setdefault("PATHKERNEL_QUIET", "1")  # inherited by the kernels

# Hypothesis: CI replays a fixed set of examples (derandomized, no database) so a run is
# reproducible and its time bounded; locally, `--hypothesis-profile=dev` explores afresh.
# Failures that Hypothesis shrank are kept as explicit tests beside the property tests.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")

collect_ignore = ["_build", "book/_mathjax"]

_seconds = defaultdict(float)  # notebook path -> setup + call + teardown time of its cells


class MystNotebook(nbval.IPyNbFile):
    """A jupytext Markdown notebook, validated like ``pytest --nbval-lax``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.compare_outputs = False

    def collect(self):
        # nbval reads the file with nbformat.read; hand it the jupytext conversion instead
        reader = SimpleNamespace(read=lambda *args, **kwargs: jupytext.read(self.path))
        with mock.patch.object(nbval, "nbformat", reader):
            yield from super().collect()


def _is_notebook(path):
    return path.suffix == ".md" and "kernelspec" in jupytext.read(path).metadata


def pytest_configure(config):
    if not config.option.nbval_kernel_name:
        config.option.nbval_current_env = True  # run chapters with this interpreter


def pytest_collect_file(file_path, parent):
    if _is_notebook(file_path):
        return MystNotebook.from_parent(parent, path=file_path)


def pytest_runtest_logreport(report):
    path, _, cell = report.nodeid.partition("::")
    if path.endswith(".md") and cell.startswith("Cell "):
        _seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _seconds:
        return
    terminalreporter.section("notebook execution times")
    width = max(map(len, _seconds))
    for path, seconds in sorted(_seconds.items()):
        terminalreporter.line(f"{path:<{width}}  {seconds:8.1f} s")
    terminalreporter.line(f"{'total':<{width}}  {sum(_seconds.values()):8.1f} s")
