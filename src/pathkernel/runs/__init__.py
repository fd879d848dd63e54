"""Experiment runs: one result per (study, config, seed, device), computed once per process,
or read from a results store.

`result(study, scale=..., seed=...)` is what a chapter, ``pathkernel.book.show`` and
``python -m pathkernel figures build`` call, so a chapter's figures, tables and glued numbers
come from one run of each study and the command line draws from the same call. With a
`store` (a folder, `pathkernel.runs.store.Store`), a finished entry whose config and study
source match is read instead of running. `provenance` is the one record format of a result:
store entries and figure sidecars extend it. ``python -m pathkernel run`` sweeps seeds into a
store, in-process or on a Dask cluster (`pathkernel.runs.sweep`).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from pathkernel.experiments import DEVICES, check_device
from pathkernel.runs.provenance import config_digest, git_commit, provenance, result_digest, source_digest
from pathkernel.runs.studies import study_module, study_name
from pathkernel.validation import integer

__all__ = ["clear", "config_digest", "git_commit", "provenance", "result", "result_digest", "source_digest",
           "study_module", "study_name"]

_RESULTS: dict[tuple[str, str, int, str, str], Any] = {}


def result(
    study: str | ModuleType,
    *,
    scale: str | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    config: Any = None,
    store: str | Path | None = None,
    recompute: bool = False,
) -> Any:
    """``study.run(config, seed, device=device)``, computed once per process and then reused.

    Args:
        study: a module of ``pathkernel.experiments`` or its name ("linear_regression").
        scale: the preset, "quick", "paper" or "large"; default ``PATHKERNEL_SCALE`` (quick).
        seed: an integer >= 0.
        device: where the study computes ("cpu", "cuda", "cuda:N").
        config: an explicit ``study.Config`` instead of the preset.
        store: a results store folder: its finished, current entry for this study, config and
            seed is read (its arrays checked against the recorded digest) instead of running a
            quick config. A paper or large config is always read, from `store` or the book's
            committed store (`committed.default_store`; a stale entry only when its stale-list
            names it): computing those is the command line's job (``python -m pathkernel run``).
        recompute: run a paper or large config here instead of reading it from the store.

    Raises:
        committed.StoredResultError: a paper or large config with no current stored entry
            (and no `recompute`); the message gives the command that computes it.

    Returns:
        The study's `Result`. The same object is returned to every caller with the same
        study, config, seed, device and store: treat it as read-only.
    """
    module = study_module(study)
    seed = integer("seed", seed, low=0)
    device = check_device(device, types=DEVICES)
    config = config if config is not None else module.Config.from_scale(scale)
    from pathkernel.runs import committed
    from pathkernel.runs.store import Store

    strict = config.scale != "quick" and not recompute
    store = committed.default_store() if strict and store is None else store
    # a stored and a computed result of one config are different objects: never served for each other
    key = (module.__name__, repr(config), seed, str(device), f"stored {store}" if strict else
           f"store {store}" if store is not None else "computed")
    if key not in _RESULTS:
        if strict:
            name = study_name(module)
            stored = committed.load(committed.Entry(name, config, seed), store) if store is not None else None
            if stored is None:
                raise committed.StoredResultError(
                    committed.not_stored(name, config.scale, seed, store, store or "results") + " (or pass recompute=True)")
            _RESULTS[key] = stored.result
        else:
            stored = Store(store).load(module, config, seed) if store is not None else None
            _RESULTS[key] = stored if stored is not None else module.run(config, seed=seed, device=device)
    return _RESULTS[key]


def clear() -> None:
    """Forget every result computed in this process."""
    _RESULTS.clear()
