"""The tables of the book's Performance page (book/performance.md), read from the committed runs of
the benchmarks (``python -m benchmarks.<name>`` writes benchmarks/results/<name>.json).

    bench = performance.load_results("scale")
    performance.scale_table(bench)              # 1 and 2 workers, both splits, against in-process
    performance.projection_table(bench)         # 8, 64, 512 workers: every column labelled projected

The results are committed in the repository, outside the package: `results_file` finds them from
the package's location in a checkout (<repository>/src/pathkernel), whatever the working folder.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd

#: the benchmarks' results folder, relative to the repository's root
RESULTS = Path("benchmarks", "results")
#: the cost model's constants: symbol -> (what it is, unit)
CONSTANTS = {
    "c": ("compute per step and query", "s"),
    "b": ("path bytes per step", "MiB"),
    "R": ("path rows read per step", ""),
    "beta_disk": ("disk read bandwidth", "MiB/s"),
    "B": ("result bytes per query", "MiB"),
    "beta_net": ("bandwidth from a worker to the client", "MiB/s"),
    "o": ("round trip of one task", "s"),
}


def results_file(name: str, package: str | Path | None = None) -> Path:
    """benchmarks/results/`name`.json of the checkout the package runs from.

    Raises:
        FileNotFoundError: the package is not at <repository>/src/pathkernel (an installed copy,
            which does not ship the benchmarks), or the checkout has no such results file.
    """
    package = Path(str(files("pathkernel"))) if package is None else Path(package)
    relative = RESULTS / f"{name}.json"
    if package.parent.name != "src":
        raise FileNotFoundError(f"the benchmark results ({relative}) are committed in the pathkernel repository, not "
                                f"installed with the package; the package runs from {package}, not from a checkout")
    path = package.parent.parent / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: write it with `python -m benchmarks.{name}` "
                                f"in the repository {package.parent.parent}")
    return path


def load_results(name: str, package: str | Path | None = None) -> dict[str, Any]:
    """The committed results of ``python -m benchmarks.<name>`` (`results_file`)."""
    return json.loads(results_file(name, package).read_text())


def run_line(bench: dict[str, Any]) -> str:
    """When, where and with what a benchmark ran: date, processor, versions, commit, its note, and the
    environment of its Dask workers where recorded."""
    machine = bench["machine"]
    versions = ", ".join(f"{key} {machine[key]}" for key in ("torch", "distributed", "pathkernel") if key in machine)
    commit = f", commit {bench['commit'][:10]}" if bench.get("commit") else ""
    workers = machine.get("worker_environment")
    environment = f"\nworkers' environment: {', '.join(f'{k}={v}' for k, v in workers.items())}" if workers else ""
    return f"run of {bench['date']} on {machine['processor']}, {versions}{commit}. {machine.get('note', '')}".strip() + \
        environment


def scale_table(bench: dict[str, Any]) -> pd.DataFrame:
    """The measured decomposition (`benchmarks.scale`): seconds in this process and on 1 and 2 workers
    per split, the speed-up over one worker, the largest relative difference of any field from the
    in-process result (and whether it is within the tolerance) and the cost model's seconds."""
    attribution = bench["attribution"]
    model = {(r["split"], r["workers"]): r["model_seconds"] for r in bench["projection"]["model_against_measured_here"]}
    rows = [{"split": "-", "workers": "in this process", "seconds": attribution["in_process_seconds"]}]
    rows += [{"split": r["split"], "workers": str(r["workers"]), "seconds": r["seconds"],
              "speed-up over 1 worker": r["speedup_vs_one_worker"], "largest relative difference": r["max_rel_diff"],
              f"within {attribution['tolerance']:.0e}": r["equal"], "cost model (s)": model[r["split"], r["workers"]]}
             for r in attribution["runs"]]
    return pd.DataFrame(rows).set_index(["split", "workers"])


def sweep_table(bench: dict[str, Any]) -> pd.DataFrame:
    """The measured sweep (`benchmarks.scale`): seconds in this process and on 1 and 2 workers."""
    rows = [{"workers": str(r["workers"] or "in this process"), "seconds": r["seconds"],
             "speed-up over 1 worker": r["speedup_vs_one_worker"],
             "same numbers as in this process": r.get("same_numbers_as_in_process", True)}
            for r in bench["sweep"]["runs"]]
    return pd.DataFrame(rows).set_index("workers")


def constants_table(bench: dict[str, Any]) -> pd.DataFrame:
    """The cost model's constants for the projection, in readable units, and where each comes from."""
    projection, sources = bench["projection"], bench["projection"]["source"]["fields"]
    rows = []
    for symbol, (meaning, unit) in CONSTANTS.items():
        value = projection["constants"][symbol] / (2**20 if unit.startswith("MiB") else 1)
        source = (f"{projection['source']['file']}: {sources[symbol]}" if symbol in sources else "measured on this machine")
        rows.append({"symbol": symbol, "quantity": meaning, "value": value, "unit": unit, "source": source})
    return pd.DataFrame(rows).set_index("symbol")


def projection_table(bench: dict[str, Any]) -> pd.DataFrame:
    """The projected wall time (hours) of the 1M-parameter attribution per number of queries, split and
    workers, by term of the cost model, and the result bytes the client holds; every column says projected."""
    rows = [{"queries": r["queries"], "split": r["split"], "workers": r["workers"],
             "compute (h, projected)": r["compute_seconds"] / 3600,
             "communication (h, projected)": r["communication_seconds"] / 3600,
             "reading the path (h, projected)": r["reading_seconds"] / 3600,
             "total (h, projected)": r["total_seconds"] / 3600,
             "client holds (GB, projected)": r["client_result_bytes"] / 1e9}
            for r in bench["projection"]["rows"] if r["projected"]]
    return pd.DataFrame(rows).set_index(["queries", "split", "workers"])
