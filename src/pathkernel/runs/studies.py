"""Experiment studies by module or name: ``pathkernel.experiments.<name>`` with ``Config`` and ``run``."""

from __future__ import annotations

import importlib
from types import ModuleType

EXPERIMENTS_PACKAGE = "pathkernel.experiments."


def study_module(name: str | ModuleType) -> ModuleType:
    """The study module ``pathkernel.experiments.<name>`` (a module is returned as it is).

    Raises ValueError naming `name` when it is not an experiment study (a module with
    ``Config`` and ``run``).
    """
    module = name
    if isinstance(name, str):
        try:
            module = importlib.import_module(EXPERIMENTS_PACKAGE + name)
        except ModuleNotFoundError:
            module = None
    if not isinstance(module, ModuleType) or not (hasattr(module, "Config") and hasattr(module, "run")):
        raise ValueError(f"study={name!r} is not an experiment study; expected a pathkernel.experiments "
                         f"module (or its name) with Config and run")
    return module


def study_name(study: str | ModuleType) -> str:
    """The study's name relative to ``pathkernel.experiments`` ("linear_regression", "stochastic.residual")."""
    return study_module(study).__name__.removeprefix(EXPERIMENTS_PACKAGE)
