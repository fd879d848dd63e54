"""Scale-out benchmark: the exact decomposition and a seed sweep on 1 and 2 Dask workers, and a
projection of the 1M-parameter, 10,000-step attribution onto 8, 64 and 512 workers.

    python -m benchmarks.scale                  # about two minutes on 2 cores
    python -m benchmarks.scale --quick          # smoke run on tiny sizes (tests/test_benchmark_scale.py)
    python -m benchmarks.scale --out FILE.json  # default benchmarks/results/scale.json

Attribution: a narrow `benchmarks.attribution.million_cnn` trained by torch.optim.SGD, recorded with
`pk.Recorder(storage="disk", directory=...)`; `pk.domingos(exact=True, per_sample=True, nodes=8)` of a
few queries (ten logits) in this process (one thread) and on a LocalCluster of 1 and 2 one-thread
workers, both splits, each compared with the in-process result as tests/test_distributed.py does.
Measured costs: compute (seconds per step and query), communication (result bytes per query, the
bandwidth from a worker, an empty task's round trip), reading (rows read per step, seconds per row
from disk with the page cache evicted). Sweep: `runs.sweep` of the linear-regression study (the
paper preset with its five largest learning rates), four seeds, in this process and on 1 and 2
workers. Projection: `FORMULA`, with the compute and path bytes per step of the 1M-parameter CNN
from benchmarks/results/attribution.json, every row labelled projected. Timings on a shared CPU
are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import distributed
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import pathkernel as pk
from benchmarks.kernels import cpu_model
from pathkernel.decomposition.distributed import RowRange
from pathkernel.experiments import linear_regression
from pathkernel.recording.snapshots import open_snapshot
from pathkernel.runs import cluster, git_commit, sweep

RESULTS = Path(__file__).parent / "results" / "scale.json"
ATTRIBUTION = Path(__file__).parent / "results" / "attribution.json"
TOLERANCE = 1e-12
FIELDS = ("prediction", "initial", "rhs", "per_sample", "path_kernel")
SPLITS = ("queries", "steps")
PROJECTED_WORKERS = (8, 64, 512)
PROJECTED_QUERIES = (1, 1000)
PROJECTED_STEPS = 10_000
FORMULA = {
    "queries": "T(W) = T c ceil(m / W) + R T b / beta_disk + m B / beta_net + min(W, m) o",
    "steps": "T(W) = ceil(T / W) (c m + R b / beta_disk) + W (m B / beta_net + o)",
}
SYMBOLS = ("T steps, m queries, W workers; c compute seconds per step and query; b path bytes per step, "
           "R rows read per step; beta_disk disk read bandwidth (bytes/s); B result bytes per query; "
           "beta_net bandwidth from a worker to the client (bytes/s); o round trip of one task (s)")


@dataclass(frozen=True)
class Workload:
    """The measured attribution run: model channels and hidden width, images, training set, steps."""

    channels: tuple[int, int] = (4, 8)
    hidden: int = 32
    side: int = 28
    n: int = 256
    batch: int = 32
    steps: int = 40
    queries: int = 4
    nodes: int = 8
    sweep_config: linear_regression.Config = replace(linear_regression.Config.paper(), lrs=(0.4, 0.2, 0.1, 0.05, 0.025))

    @classmethod
    def quick(cls) -> "Workload":
        tiny = linear_regression.Config(scale="quick", n=8, d=2, time=0.4, lrs=(0.2, 0.1), n_query=4, width=4,
                                        fit_max_lr=0.2)
        return cls(channels=(2, 2), hidden=4, side=8, n=16, batch=4, steps=4, queries=2, nodes=3, sweep_config=tiny)


def cnn(work: Workload, seed: int = 0) -> nn.Sequential:
    """Conv(1->c1) GELU Conv(c1->c2, stride 2) GELU Linear(c2 (side/2)^2 -> hidden) GELU Linear(hidden->10), float64."""
    torch.manual_seed(seed)
    (c1, c2), half = work.channels, work.side // 2
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.GELU(), nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.GELU(),
        nn.Flatten(), nn.Linear(c2 * half * half, work.hidden), nn.GELU(), nn.Linear(work.hidden, 10),
    ).double()


def record(work: Workload, directory: Path, seed: int = 0) -> tuple[pk.TrainingPath, torch.Tensor]:
    """SGD on random mini-batches, recorded to `directory`; returns the path and the query images."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(work.n, 1, work.side, work.side, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (work.n,), generator=g)
    model = cnn(work, seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    recorder = pk.Recorder(model, optimizer, x, y, loss="cross_entropy", storage="disk", directory=directory)
    for _ in range(work.steps):
        index = torch.randint(0, work.n, (work.batch,), generator=g)
        optimizer.zero_grad()
        F.cross_entropy(model(x[index]), y[index]).backward()
        optimizer.step()
        recorder.step(index)
    return recorder.path, torch.rand(work.queries, 1, work.side, work.side, generator=g, dtype=torch.float64)


def differences(remote: pk.Decomposition, local: pk.Decomposition) -> dict[str, float]:
    """Largest difference of each field from the in-process one, relative to that field's largest entry
    (the residual relative to the prediction, the weights as weights x path kernel)."""
    pairs = {name: (getattr(remote, name), getattr(local, name), getattr(local, name)) for name in FIELDS}
    pairs["residual"] = (remote.residual, local.residual, local.prediction)
    weighted = local.weights * local.path_kernel
    pairs["weights x path_kernel"] = (remote.weights * remote.path_kernel, weighted, weighted)
    return {name: float((a - b).abs().max() / scale.abs().max()) for name, (a, b, scale) in pairs.items()}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def disk_read(path: pk.TrainingPath) -> dict[str, float]:
    """Seconds per step to read the recorded rows from disk, as a worker maps them: from a copy of
    the snapshot file evicted from the page cache (the recording's own pages stay mapped here)."""
    copy = path.params.file.with_name("read-test.f8")
    shutil.copyfile(path.params.file, copy)
    with open(copy, "rb") as handle:
        os.fsync(handle.fileno())
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    rows = open_snapshot(copy, path.params.dtype, tuple(path.params.shape), temporary=False)
    seconds, _ = timed(lambda: [rows[k].clone() for k in range(len(rows))])
    size = rows[0].numel() * rows.element_size()
    copy.unlink()
    return {"seconds_per_step": seconds / (path.steps + 1), "bytes_per_step": size,
            "bandwidth_bytes_per_s": size * (path.steps + 1) / seconds}


class CountedRows(RowRange):
    """The rows of a path, counting how many are read."""

    read = 0  # rows read so far

    def __getitem__(self, key: int | slice) -> torch.Tensor:
        rows = super().__getitem__(key)
        self.read += 1 if rows.dim() == 1 else rows.shape[0]
        return rows


def rows_read_per_step(path: pk.TrainingPath, queries: torch.Tensor, options: dict) -> float:
    """R: path rows the decomposition reads per step (counted; re-reads of a recent row hit the page cache)."""
    rows = CountedRows(path.params, 0, path.steps + 1)
    pk.domingos(replace(path, params=rows), queries, **options)
    return rows.read / path.steps


def transfer(client: distributed.Client, megabytes: float) -> dict[str, float]:
    """An empty task's round trip (o), and the bandwidth of bringing random bytes held by a worker to
    this process (beta_net: the payload's bytes over its fetch time less that of an 8-byte one)."""
    empty = min(timed(lambda: client.submit(int, 0, pure=False).result())[0] for _ in range(5))
    size = int(megabytes * 2**20)
    small, large = (client.submit(lambda k: np.random.default_rng(0).random(k), k, pure=False) for k in (1, size // 8))
    distributed.wait([small, large])
    fetch = {name: min(timed(future.result)[0] for _ in range(3)) for name, future in (("small", small), ("large", large))}
    return {"task_round_trip_seconds": empty, "payload_bytes": size,
            "bandwidth_bytes_per_s": size / max(fetch["large"] - fetch["small"], 1e-9)}


def warm_up(client: distributed.Client | None, directory: Path) -> None:
    """A tiny decomposition on every split, so that imports and compilation on a (new) worker are not timed."""
    path, queries = record(Workload.quick(), directory / "warm-up")
    for split in SPLITS[: 1 if client is None else 2]:
        pk.domingos(path, queries, exact=True, per_sample=True, client=client, split=split)
    shutil.rmtree(directory / "warm-up")


def measure(work: Workload, client: distributed.Client) -> tuple[dict, dict]:
    """The decomposition in this process (one thread) and on `client` grown to 1 then 2 workers, both
    splits, each compared with the in-process one, and its measured costs; the sweep likewise."""
    directory, store = (Path(tempfile.mkdtemp(prefix=f"pathkernel-scale-{what}-")) for what in ("path", "sweep"))
    options = {"exact": True, "per_sample": True, "nodes": work.nodes}
    sweep_options = {"seeds": [0, 1, 2, 3], "config": work.sweep_config, "progress": False}
    threads = torch.get_num_threads()
    try:
        train, (path, queries) = timed(lambda: record(work, directory))
        torch.set_num_threads(1)
        warm_up(None, directory)
        local_seconds, local = timed(lambda: pk.domingos(path, queries, **options))
        seconds, outcomes = timed(lambda: sweep.sweep(linear_regression, store=store / "0", **sweep_options))
        torch.set_num_threads(threads)
        sweeps, numbers, runs = [{"workers": 0, "seconds": seconds}], [o.numbers for o in outcomes], []
        for workers in (1, 2):
            client.cluster.scale(workers)
            client.wait_for_workers(workers)
            warm_up(client, directory)
            for split in SPLITS:
                seconds, dec = timed(lambda: pk.domingos(path, queries, client=client, split=split, **options))
                diffs = differences(dec, local)
                runs.append({"workers": workers, "split": split, "seconds": seconds, "max_rel_diff": max(diffs.values()),
                             "equal": max(diffs.values()) <= TOLERANCE, "fields": diffs})
            seconds, outcomes = timed(lambda: sweep.sweep(linear_regression, store=store / str(workers), client=client,
                                                          **sweep_options))
            sweeps.append({"workers": workers, "seconds": seconds,
                           "same_numbers_as_in_process": [o.numbers for o in outcomes] == numbers})
        c = local.per_sample.shape[2]
        costs = {"compute_seconds_per_step_per_query": local_seconds / work.steps / work.queries,
                 "result_bytes_per_query": len(pickle.dumps(local)) / work.queries,
                 "result_bytes_formula_per_query": 8 * work.n * (c + 2 * c * c),
                 "rows_read_per_step": rows_read_per_step(path, queries[:1], options),
                 "disk": disk_read(path), "network": transfer(client, 8 if work.steps < 10 else 64)}
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(directory)
        shutil.rmtree(store)
    for run in runs + sweeps:
        run["speedup_vs_one_worker"] = next(r["seconds"] for r in runs + sweeps if r["workers"] == 1
                                            and r.get("split") == run.get("split")) / run["seconds"]
    parameters = sum(p.numel() for p in cnn(work).parameters())
    attribution = {"workload": {"parameters": parameters, "channels": list(work.channels), "hidden": work.hidden,
                                "side": work.side, "n": work.n, "batch": work.batch, "steps": work.steps,
                                "queries": work.queries, "outputs": c, "nodes": work.nodes, "optimizer": "sgd",
                                "storage": "disk", "dtype": "float64", "record_seconds": train},
                   "tolerance": TOLERANCE, "in_process_seconds": local_seconds, "runs": runs, "costs": costs}
    return attribution, {"study": "linear_regression", "config": repr(work.sweep_config),
                         "seeds": sweep_options["seeds"], "runs": sweeps}


def predict(split: str, workers: int, steps: int, queries: int, k: dict[str, float]) -> dict[str, float]:
    """The terms of `FORMULA` (seconds) for `split` on `workers`, with constants `k` (`SYMBOLS`), and
    the result bytes the client holds at once."""
    if split == "queries":
        compute, reading = steps * k["c"] * math.ceil(queries / workers), k["R"] * steps * k["b"] / k["beta_disk"]
        communication = queries * k["B"] / k["beta_net"] + min(workers, queries) * k["o"]
    else:
        share = math.ceil(steps / workers)
        compute, reading = share * k["c"] * queries, k["R"] * share * k["b"] / k["beta_disk"]
        communication = workers * (queries * k["B"] / k["beta_net"] + k["o"])
    held = queries * k["B"] * (1 if split == "queries" else workers)  # the step split adds W whole results
    return {"compute_seconds": compute, "communication_seconds": communication, "reading_seconds": reading,
            "total_seconds": compute + communication + reading, "client_result_bytes": held}


def projection(measured: dict) -> dict:
    """The 1M-parameter attribution at PROJECTED_STEPS on PROJECTED_WORKERS, every row projected; and
    the model with the constants of the `measured` workload beside its measured times."""
    costs, work = measured["costs"], measured["workload"]
    bench = json.loads(ATTRIBUTION.read_text())["scale"]["float64"]["measured"][-1]
    c = bench["outputs"]
    constants = {"c": bench["exact_seconds_per_step"] / bench["queries"], "b": bench["disk_bytes"] / bench["steps"],
                 "R": costs["rows_read_per_step"], "beta_disk": costs["disk"]["bandwidth_bytes_per_s"],
                 "B": 8 * bench["n"] * (c + 2 * c * c), "beta_net": costs["network"]["bandwidth_bytes_per_s"],
                 "o": costs["network"]["task_round_trip_seconds"]}
    rows = [{"projected": True, "queries": m, "split": split, "workers": w, **predict(split, w, PROJECTED_STEPS, m, constants)}
            for m in PROJECTED_QUERIES for split in SPLITS for w in PROJECTED_WORKERS]
    here = {**constants, "c": costs["compute_seconds_per_step_per_query"], "b": costs["disk"]["bytes_per_step"],
            "B": costs["result_bytes_per_query"]}
    check = [{"workers": r["workers"], "split": r["split"], "measured_seconds": r["seconds"],
              "model_seconds": predict(r["split"], r["workers"], work["steps"], work["queries"], here)["total_seconds"]}
             for r in measured["runs"]]
    return {"projected": True, "formula": FORMULA, "symbols": SYMBOLS, "steps": PROJECTED_STEPS,
            "parameters": bench["parameters"], "constants": constants,
            "source": {"file": "benchmarks/results/attribution.json", "fields": {
                "c": f"scale.float64.measured[-1].exact_seconds_per_step / queries (Adam, {c} logits, nodes {bench['nodes']})",
                "b": "scale.float64.measured[-1].disk_bytes / steps (Adam: parameters and step scales)",
                "B": "8 n (c + 2 c^2) bytes: per_sample (n, c), path_kernel and weights (n, c, c) of one query"}},
            "note": "Adam paths take the query split only; the step split assumes an SGD run of the same per-step cost",
            "rows": rows, "model_against_measured_here": check}


def print_tables(record: dict) -> None:
    attribution, work = record["attribution"], record["attribution"]["workload"]
    print(f"attribution: {work['parameters']} parameters, {work['steps']} steps, {work['queries']} queries; "
          f"in this process (1 thread) {attribution['in_process_seconds']:.2f} s")
    for run in attribution["runs"] + record["sweep"]["runs"]:
        print(f"{run.get('split', 'sweep'):>7} {run['workers']} worker(s) {run['seconds']:8.2f} s "
              f"{run['speedup_vs_one_worker']:5.2f}x" + (f"  max rel diff {run['max_rel_diff']:.1e}" if "split" in run else ""))
    print(f"{'queries':>7} {'split':>7} {'workers':>7} {'compute h':>10} {'comm h':>8} {'read h':>8} {'total h':>8}")
    for r in record["projection"]["rows"]:
        print(f"{r['queries']:>7} {r['split']:>7} {r['workers']:>7} {r['compute_seconds'] / 3600:>10.2f} "
              f"{r['communication_seconds'] / 3600:>8.3f} {r['reading_seconds'] / 3600:>8.3f} "
              f"{r['total_seconds'] / 3600:>8.2f}  projected")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run on tiny sizes")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--note", default="", help="a remark on the machine recorded with the results (e.g. shared CPU)")
    args = parser.parse_args(argv)
    work = Workload.quick() if args.quick else Workload()
    logging.getLogger("distributed").setLevel(logging.WARNING)
    client = cluster.connect("local", workers=1)
    try:
        record = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": git_commit(),
                  "quick": args.quick, "machine": {
                      "processor": cpu_model(), "cores": os.cpu_count(), "threads_per_worker": 1, "torch": torch.__version__,
                      "distributed": distributed.__version__, "pathkernel": pk.__version__,
                      "note": args.note}}
        # connect("local") starts workers without Dask's MALLOC_TRIM_THRESHOLD_ (runs/cluster.py): recorded
        record["machine"]["worker_environment"] = next(iter(client.run(lambda: {key: os.environ.get(key) for key in (
            "MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}).values()))
        record["attribution"], record["sweep"] = measure(work, client)
    finally:
        client.close()
        client.cluster.close()
    record["projection"] = projection(record["attribution"])
    print_tables(record)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
