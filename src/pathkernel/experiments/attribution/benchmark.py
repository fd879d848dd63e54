"""The committed run of ``python -m benchmarks.attribution`` (a 1M-parameter CNN recorded with stored
snapshots and with replay), as the chapter reads it.

The results file, benchmarks/results/attribution.json, is committed in the repository, outside the
package: `benchmark_file` finds it from the package's location in a checkout (the package at
<repository>/src/pathkernel), whatever the working folder, and raises FileNotFoundError saying so
when the package runs from an installed copy or the file is missing.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

#: the results file, relative to the repository's root
BENCHMARK = Path("benchmarks", "results", "attribution.json")
#: the recorder's storage modes and their sections in the file
STORAGES = (("disk", "scale"), ("replay", "replay"))


def benchmark_file(package: str | Path | None = None) -> Path:
    """The committed benchmarks/results/attribution.json of the checkout the package runs from.

    Args:
        package: the folder of the ``pathkernel`` package (default: the one imported).

    Raises:
        FileNotFoundError: the package is not at <repository>/src/pathkernel (an installed copy,
            which does not ship the benchmarks), or the checkout has no results file.
    """
    package = Path(str(files("pathkernel"))) if package is None else Path(package)
    if package.parent.name != "src":
        raise FileNotFoundError(
            f"the attribution benchmark's results ({BENCHMARK}) are committed in the pathkernel repository, "
            f"not installed with the package; the package runs from {package}, not from a checkout "
            f"(<repository>/src/pathkernel): run the chapter from a clone of the repository")
    path = package.parent.parent / BENCHMARK
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: write it with `python -m benchmarks.attribution` "
                                f"in the repository {package.parent.parent}")
    return path


def load_benchmark(path: str | Path | None = None) -> dict[str, Any]:
    """The benchmark's results (default: `benchmark_file()`), as written by ``benchmarks.attribution``."""
    return json.loads(Path(path or benchmark_file()).read_text())


def scale_rows(bench: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per storage mode and dtype: the last measured run (steps, seconds per step for all ten
    logits and for one, additivity error) and the extrapolation to T = 10^4 steps (hours per query,
    disk GB, RAM GiB)."""
    rows = []
    for storage, key in STORAGES:
        for dtype, part in bench[key].items():
            measured, extrapolated = part["measured"][-1], part["extrapolated"]
            rows.append({
                "storage": storage, "dtype": dtype, "measured steps": measured["steps"],
                "s / step (10 logits)": measured["exact_seconds_per_step"],
                "s / step (1 logit)": measured["one_output_seconds_per_step"],
                "h / query at T=10⁴ (10 logits)": extrapolated["exact_hours_per_query"],
                "h / query at T=10⁴ (1 logit)": extrapolated["one_output_hours_per_query"],
                "disk GB at T=10⁴": extrapolated["disk_gigabytes"],
                "RAM GiB at T=10⁴": extrapolated["ram_gigabytes"],
                "sum gap": measured["additivity_error"],
            })
    return rows


def benchmark_numbers(bench: dict[str, Any]) -> dict[str, str]:
    """The chapter's numbers from the benchmark, by glue name: the CNN's parameter count and the
    number of steps T extrapolated to (the same in every run, else ValueError naming the values),
    replay's automatic checkpoint interval, and per storage mode the float32 disk (GB) and
    one-logit time (hours per query) at T and the largest RAM (GiB) over the dtypes."""
    parts = [part for _, key in STORAGES for part in bench[key].values()]
    parameters = {run["parameters"] for part in parts for run in part["measured"]}
    targets = {part["extrapolated"]["target_steps"] for part in parts}
    if len(parameters) != 1 or len(targets) != 1:
        raise ValueError(f"the benchmark's runs disagree: parameters {sorted(parameters)}, "
                         f"extrapolated steps {sorted(targets)}")
    numbers = {"attribution-scale-parameters": f"{parameters.pop():,}",
               "attribution-scale-target": f"{targets.pop():,}",
               "attribution-scale-every": str(bench["replay"]["float32"]["extrapolated"]["checkpoint_every"])}
    for storage, key in STORAGES:
        float32 = bench[key]["float32"]["extrapolated"]
        numbers[f"attribution-scale-{storage}-disk32"] = f"{float32['disk_gigabytes']:.1f}"
        ram = max(part["extrapolated"]["ram_gigabytes"] for part in bench[key].values())
        numbers[f"attribution-scale-{storage}-ram"] = f"{ram:.1f}"
        numbers[f"attribution-scale-{storage}-hours32"] = f"{float32['one_output_hours_per_query']:.1f}"
    return numbers
