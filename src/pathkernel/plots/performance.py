"""The tables of the book's Performance page (book/performance.md), read from the committed runs of
the benchmarks (``python -m benchmarks.<name>`` writes benchmarks/results/<name>.json).

    bench = performance.load_results("scale")
    performance.scale_table(bench)              # 1 and 2 workers, both splits, against in-process
    performance.projection_table(bench)         # 8, 64, 512 workers: every column labelled projected
    performance.page_numbers(performance.load_results("kernels"), performance.load_results("gpu"))

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
    threads = f", {machine['threads']} threads" if "threads" in machine else ""
    return f"run of {bench['date']} on {machine['processor']}{threads}, {versions}{commit}. {machine.get('note', '')}".strip() + \
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


def kernel_table(bench: dict[str, Any]) -> pd.DataFrame:
    """Seconds per kernel K(x, x) (`benchmarks.kernels`): one row per (dtype, width, n), one column per route."""
    return pd.DataFrame(bench["kernels"]).pivot_table(index=["dtype", "width", "n"], columns="route", values="seconds")


def speedup_table(bench: dict[str, Any]) -> pd.DataFrame:
    """pathkernel's rows of the kernel benchmark: speed-up over the Jacobian contraction, effective
    GFLOP/s of the Gram products, their share of the measured matmul peak, and that peak."""
    kernels = pd.DataFrame(bench["kernels"])
    ours = kernels[kernels.route == "pathkernel (structured)"]
    return ours[["dtype", "width", "n", "speedup_vs_contraction", "effective_gflops", "fraction_of_peak",
                 "matmul_peak_gflops"]].reset_index(drop=True)


def largest_difference(bench: dict[str, Any]) -> dict[str, float]:
    """dtype -> the largest relative difference of any route's kernel from pathkernel's."""
    kernels = pd.DataFrame(bench["kernels"])
    return {dtype: float(group.max_rel_diff_vs_ours.max()) for dtype, group in kernels.groupby("dtype", sort=False)}


def decomposition_table(bench: dict[str, Any]) -> pd.DataFrame:
    """The Domingos decomposition benchmark: seconds per route and speed-up over the per-step full kernel."""
    return pd.DataFrame(bench["decomposition"])[["route", "seconds", "speedup_vs_per_step_kernel"]]


def decomposition_workload(bench: dict[str, Any]) -> dict[str, int]:
    """steps, n (training points), m (queries) and width of the decomposition benchmark.

    Raises:
        ValueError: the routes ran different workloads (the values are named).
    """
    keys = ("steps", "n", "m", "width")
    workloads = {tuple(row[key] for key in keys) for row in bench["decomposition"]}
    if len(workloads) != 1:
        raise ValueError(f"the decomposition routes ran different workloads {sorted(workloads)} of {keys}")
    return dict(zip(keys, workloads.pop()))


def snapshot_lines(bench: dict[str, Any]) -> str:
    """The snapshot route's error against every step, and the memory benchmark's peak RSS."""
    snapshot = next(row for row in bench["decomposition"] if "max_rel_error_vs_every_step" in row)
    memory = bench["memory"]
    return (f"{snapshot['route']}: largest relative error of the per-sample terms "
            f"{snapshot['max_rel_error_vs_every_step']:.1e}\n"
            f"memory: n1 = n2 = {memory['n1']}, width {memory['width']}, {memory['dtype']}: peak RSS "
            f"{memory['peak_rss_gib']:.2f} GiB (the kernel itself {memory['kernel_gib']:.2f} GiB)\n"
            f"{memory.get('note', '')}").strip()


def gpu_line(gpu: dict[str, Any]) -> str:
    """When and on which device ``benchmarks.gpu`` ran, and the device tests' summary on it."""
    env = gpu["environment"]
    return (f"run of {env['date'][:10]} on {env['cuda_device']} (capability {env['capability']}, driver "
            f"{env['driver']}), torch {env['torch']}\ntests/test_devices.py on that GPU: {gpu['tests_rerun']['summary']}")


def gpu_kernel_table(gpu: dict[str, Any]) -> pd.DataFrame:
    """Seconds per kernel on the GPU and on the CPU: one row per (dtype, width, n, route), one column per device."""
    return pd.DataFrame(gpu["kernels"]["rows"]).pivot_table(index=["dtype", "width", "n", "route"], columns="device",
                                                            values="seconds")


def gpu_attribution_table(gpu: dict[str, Any]) -> pd.DataFrame:
    """The attribution chapter's CNN recorded and decomposed on each device: seconds and the checks."""
    part = gpu["attribution"]
    return pd.DataFrame([{"device": device, "record (s)": part[device]["record_seconds"],
                          "decompose (s)": part[device]["decompose_seconds"],
                          "additivity error": part[device]["additivity_error"],
                          "max |residual|": part[device]["max_abs_residual"]} for device in ("cuda", "cpu")]
                        ).set_index("device")


def _bitwise(gpu: dict[str, Any], mode: str) -> str:
    return "bitwise equal" if gpu["reproducibility"][mode]["all_bitwise_equal"] else "not bitwise equal"


def reproducibility_lines(gpu: dict[str, Any]) -> str:
    """CUDA against the CPU (per-sample contributions), and a run against its repeat in each mode."""
    lines = [f"per-sample contributions, CUDA against CPU: largest relative difference "
             f"{gpu['attribution']['cuda_vs_cpu']['per_sample_max_rel_diff']:.1e}"]
    for mode in ("default", "deterministic"):
        results = gpu["reproducibility"][mode]["results"]
        gaps = {name: r["max_abs_diff"] for name, r in results.items() if not r["bitwise_equal"]}
        detail = f" in {', '.join(gaps)} (largest gap {max(gaps.values()):.1e})" if gaps else ""
        lines.append(f"a run and its repeat, {mode} settings: {_bitwise(gpu, mode)}{detail}")
    return "\n".join(lines)


def page_numbers(kernels: dict[str, Any], gpu: dict[str, Any]) -> dict[str, str]:
    """The Performance page's prose numbers, by glue name: the decomposition benchmark's workload
    (`decomposition_workload`), the GPU benchmark's wall time (s), whether a run and its repeat
    were bitwise equal with default and deterministic settings, and the largest relative
    difference of the per-sample contributions between CUDA and the CPU."""
    workload = decomposition_workload(kernels)
    return {**{f"performance-{key}": f"{value:,}" for key, value in workload.items()},
            "performance-gpu-seconds": f"{gpu['total_seconds']:.0f}",
            "performance-gpu-default": _bitwise(gpu, "default"),
            "performance-gpu-deterministic": _bitwise(gpu, "deterministic"),
            "performance-gpu-vs-cpu": f"{gpu['attribution']['cuda_vs_cpu']['per_sample_max_rel_diff']:.0e}"}


def stored_runs_table(store: str | Path | None = None) -> pd.DataFrame:
    """One row per entry of the results store (default: the book's committed one): the study, its
    scale, seed and status, where it ran, its wall time and the process's peak resident memory
    (from its provenance; a resumed run's wall time adds the seconds its items read back took when
    computed, about an uninterrupted run's time, and "resumed" says how many items it read back)."""
    from pathkernel import runs
    from pathkernel.runs import committed
    from pathkernel.runs.provenance import run_seconds
    from pathkernel.runs.store import Store

    where = store if store is not None else committed.default_store()
    rows = [{"study": record["experiment"], "scale": record["scale"], "seed": record["seed"],
             "status": Store(where).status(record["experiment"], runs.study_module(record["experiment"]).Config.from_scale(
                 record["scale"]), record["seed"]),
             "device": record.get("device_name", record["device"]), "CPUs": record["machine"]["cpus"],
             "wall (s)": run_seconds(record),
             "resumed": record["run"].get("resumed_items", 0), "peak memory (MB)": record["run"]["peak_rss_mb"],
             "commit": (record["git_commit"] or "")[:10]}
            for _, record in (Store(where).records() if where is not None else [])]
    return pd.DataFrame(rows).set_index("study") if rows else pd.DataFrame()
