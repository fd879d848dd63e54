"""Fixtures shared by the unit tests."""

import pytest

from pathkernel import figures


@pytest.fixture
def no_experiment(monkeypatch):
    """Fail the test if any experiment is loaded or a figure built: every argument check must come first."""
    def ran(*args, **kwargs):
        raise AssertionError("an experiment ran before the bad argument was reported")
    monkeypatch.setattr(figures, "experiment_module", ran)
    monkeypatch.setattr(figures, "build", ran)
    monkeypatch.delenv("PATHKERNEL_SCALE", raising=False)
