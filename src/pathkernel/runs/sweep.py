"""Seed sweeps of an experiment into a results store, in-process or on a Dask cluster.

`sweep(study, seeds=..., store=...)` runs every seed whose store entry is not finished and
current, and saves each as it completes; with a `dask.distributed` client the seeds run as
tasks on its workers (the results come back to this process, which writes the store, so the
workers need not see the store's folder). `connect("local")` starts a `LocalCluster` here,
`connect(ADDRESS)` joins a running scheduler; for SLURM or PBS start a dask-jobqueue cluster
and pass its client (see the book's page *Running at scale*).
"""

from __future__ import annotations

import contextlib
import re
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from pathkernel.experiments import DEVICES, check_device
from pathkernel.functional import progress as progress_bar
from pathkernel.runs import checkpoint
from pathkernel.runs.provenance import code_state, provenance, source_digest
from pathkernel.runs.store import Store
from pathkernel.runs.studies import study_module, study_name


@dataclass
class Outcome:
    """One seed of a sweep: "ran" or "skipped" (finished before), its provenance record and numbers."""

    seed: int
    status: str
    record: dict[str, Any]
    numbers: dict[str, Any]


def parse_seeds(text: str) -> list[int]:
    """"3", "0-9" or "0,2,5-7" as a sorted list of distinct seeds >= 0; ValueError naming `text` otherwise."""
    seeds: set[int] = set()
    for part in str(text).split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match or (match.group(2) is not None and int(match.group(2)) < int(match.group(1))):
            raise ValueError(f"seeds={text!r}: expected seeds >= 0 such as '0', '0-9' or '0,2,5-7'")
        low = int(match.group(1))
        seeds.update(range(low, int(match.group(2) or low) + 1))
    return sorted(seeds)


def run_one(name: str, config: Any, seed: int, device: str, checkpoints: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Run one seed (in this process or on a worker); the provenance record gains the wall time and
    the process's peak resident memory (``peak_rss_mb``: since the process started), and for a run
    that resumed from `checkpoints` the items it read back and the seconds they took before
    (``resumed_items``, ``resumed_s``: ``wall_s + resumed_s`` approximates an uninterrupted run's
    time, leaving out the earlier sessions' start-up and the item cut off by the interruption).

    The code the record names (`provenance.code_state`: the study's source digest, the package's,
    the commit) is taken before the run; RuntimeError when the study's source changed while it ran
    (the result belongs to no version of the code)."""
    module = study_module(name)
    code = code_state(module)
    keeping = contextlib.nullcontext()
    resumed = checkpoint.Resumed()
    if checkpoints is not None:
        try:
            Path(checkpoints).mkdir(parents=True, exist_ok=True)
            keeping = checkpoint.checkpointing(checkpoints, resumed)
        except OSError:  # a worker that cannot see the store's folder runs without checkpoints
            pass
    start = time.perf_counter()
    with keeping:
        result = module.run(config, seed=seed, device=device)
    wall = time.perf_counter() - start
    scale = 1024 if sys.platform != "darwin" else 1024 * 1024
    if source_digest(module) != code["source_sha256"]:
        raise RuntimeError(f"the source of {name} changed while it ran; run it again")
    record = provenance(module, config, seed, device, result, code=code)
    record["run"] = {"wall_s": round(wall, 3), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale, 1)}
    if resumed.items:
        record["run"].update(resumed_items=resumed.items, resumed_s=round(resumed.seconds, 3))
    if torch.device(device).type == "cuda":
        record["run"]["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return result, record


def _numbers(module: ModuleType, result: Any) -> dict[str, Any]:
    return module.numbers(result) if hasattr(module, "numbers") else {}


def sweep(
    study: str | ModuleType,
    *,
    seeds: list[int],
    store: str | Path | Store,
    scale: str | None = None,
    config: Any = None,
    device: str | torch.device = "cpu",
    client: Any = None,
    progress: bool | None = None,
) -> list[Outcome]:
    """Run `study` at `seeds` into `store`, skipping finished current entries; outcomes in seed order.

    `progress`: a tqdm bar over the seeds; None shows it on an interactive terminal outside CI
    (`pathkernel.functional.progress`). Every argument is checked before the first run: the
    study, the seeds, the device and that the store can be written (ValueError / OSError naming
    the value).
    """
    module = study_module(study)
    seeds = parse_seeds(",".join(map(str, seeds))) if seeds else []
    if not seeds:
        raise ValueError("seeds=[] : expected at least one seed")
    device = str(check_device(device, types=DEVICES))
    store = store if isinstance(store, Store) else Store(store)
    store.check_writable()
    config = config if config is not None else module.Config.from_scale(scale)
    name = study_name(module)
    outcomes: dict[int, Outcome] = {}
    todo = []
    for seed in seeds:
        if store.status(module, config, seed) == "finished":
            outcomes[seed] = Outcome(seed, "skipped", store.record(module, config, seed),
                                     _numbers(module, store.load(module, config, seed)))
        else:
            todo.append(seed)
    bar = progress_bar(todo, total=len(todo), desc=name, enabled=None if progress is None else progress and bool(todo))

    def finish(seed: int, result: Any, record: dict[str, Any]) -> None:
        store.save(module, config, seed, result, record)
        outcomes[seed] = Outcome(seed, "ran", record, _numbers(module, result))
        bar.update()

    if client is None:
        for seed in todo:
            finish(seed, *run_one(name, config, seed, device, str(store.checkpoints(module, config, seed))))
    else:
        from distributed import as_completed

        futures = {client.submit(run_one, name, config, seed, device, str(store.checkpoints(module, config, seed)),
                                 pure=False, key=f"pathkernel-{name}-seed{seed}-{time.time_ns()}"): seed for seed in todo}
        for future in as_completed(futures):
            finish(futures[future], *future.result())
    bar.close()
    return [outcomes[seed] for seed in seeds]


def summary(outcomes: list[Outcome], *, columns: int = 4) -> str:
    """A plain-text table: seed, status, wall time, peak memory and the first `columns` numbers."""
    names = list(outcomes[0].numbers)[:columns] if outcomes else []
    header = ["seed", "status", "wall s", "peak MB", *names]
    rows = [[str(o.seed), o.status, f"{o.record['run']['wall_s']:.1f}", f"{o.record['run']['peak_rss_mb']:.0f}",
             *(str(o.numbers.get(n, "")) for n in names)] for o in outcomes]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows])
