"""The Performance page's tables and prose numbers (pathkernel.plots.performance), checked against the
committed benchmark results read here with json and loops, and against edited copies of them."""

import copy
import json
from pathlib import Path

import pytest

from pathkernel.plots import performance

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


@pytest.fixture(scope="module")
def kernels():
    return json.loads((RESULTS / "kernels.json").read_text())


@pytest.fixture(scope="module")
def gpu():
    return json.loads((RESULTS / "gpu.json").read_text())


def test_the_page_reads_the_same_files(kernels, gpu):
    assert performance.load_results("kernels") == kernels and performance.load_results("gpu") == gpu


def test_kernel_tables_hold_every_row(kernels):
    table = performance.kernel_table(kernels)
    for row in kernels["kernels"]:
        assert table.loc[(row["dtype"], row["width"], row["n"]), row["route"]] == row["seconds"]
    ours = performance.speedup_table(kernels)
    structured = [row for row in kernels["kernels"] if row["route"] == "pathkernel (structured)"]
    assert ours["speedup_vs_contraction"].tolist() == [row["speedup_vs_contraction"] for row in structured]
    for dtype, gap in performance.largest_difference(kernels).items():
        assert gap == max(row["max_rel_diff_vs_ours"] for row in kernels["kernels"] if row["dtype"] == dtype)


def test_decomposition_table_and_workload(kernels):
    table = performance.decomposition_table(kernels)
    assert table["route"].tolist() == [row["route"] for row in kernels["decomposition"]]
    first = kernels["decomposition"][0]
    assert performance.decomposition_workload(kernels) == {key: first[key] for key in ("steps", "n", "m", "width")}
    mixed = copy.deepcopy(kernels)
    mixed["decomposition"][-1]["width"] += 1
    with pytest.raises(ValueError, match="different workloads"):
        performance.decomposition_workload(mixed)
    assert "largest relative error" in performance.snapshot_lines(kernels)


def test_gpu_tables(gpu):
    table = performance.gpu_kernel_table(gpu)
    for row in gpu["kernels"]["rows"]:
        assert table.loc[(row["dtype"], row["width"], row["n"], row["route"]), row["device"]] == row["seconds"]
    attribution = performance.gpu_attribution_table(gpu)
    assert attribution.loc["cuda", "decompose (s)"] == gpu["attribution"]["cuda"]["decompose_seconds"]
    assert gpu["environment"]["cuda_device"] in performance.gpu_line(gpu)


def test_page_numbers(kernels, gpu):
    numbers = performance.page_numbers(kernels, gpu)
    first = kernels["decomposition"][0]
    assert numbers["performance-steps"] == f"{first['steps']:,}" and numbers["performance-width"] == str(first["width"])
    assert numbers["performance-gpu-seconds"] == f"{gpu['total_seconds']:.0f}"
    for mode in ("default", "deterministic"):
        equal = all(r["bitwise_equal"] for r in gpu["reproducibility"][mode]["results"].values())
        assert numbers[f"performance-gpu-{mode}"] == ("bitwise equal" if equal else "not bitwise equal")
    page = (Path(__file__).resolve().parents[1] / "book" / "performance.md").read_text()
    assert all(f"{{glue:text}}`{name}`" in page for name in numbers)


def test_reproducibility_lines_name_what_differs(gpu):
    edited = copy.deepcopy(gpu)
    for mode in ("default", "deterministic"):
        part = edited["reproducibility"][mode]
        part["results"] = {"a.params": {"bitwise_equal": mode == "deterministic", "max_abs_diff": 0.0 if mode ==
                                        "deterministic" else 3e-17}}
        part["all_bitwise_equal"] = mode == "deterministic"
    lines = performance.reproducibility_lines(edited).splitlines()
    assert lines[1] == "a run and its repeat, default settings: not bitwise equal in a.params (largest gap 3.0e-17)"
    assert lines[2] == "a run and its repeat, deterministic settings: bitwise equal"


def test_stored_runs_table_counts_a_resumed_runs_earlier_time(tmp_path):
    """A stored run that resumed from checkpoints shows its whole time: this session's wall time
    plus the seconds its items read back took, and how many it read back."""
    from pathkernel.experiments import linear_regression
    from pathkernel import runs
    from pathkernel.runs.store import Store

    config = linear_regression.Config.quick()
    result = linear_regression.run(config, seed=0)
    record = runs.provenance(linear_regression, config, 0, "cpu", result)
    record["run"] = {"wall_s": 10.0, "peak_rss_mb": 100.0, "resumed_items": 3, "resumed_s": 32.5}
    Store(tmp_path).save(linear_regression, config, 0, result, record)
    row = performance.stored_runs_table(tmp_path).loc["linear_regression"]
    assert (row["wall (s)"], row["resumed"], row["status"]) == (42.5, 3, "finished")
