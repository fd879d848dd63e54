"""Tangent-kernel and Domingos-decomposition benchmark: prints tables, writes JSON.

    python -m benchmarks.kernels                  # full run (a few minutes on 2 cores)
    python -m benchmarks.kernels --skip-slow      # without the NTK-vector-product route at n = 1000
    python -m benchmarks.kernels --out FILE.json  # default benchmarks/results/kernels.json

Workload (DESIGN §6): the 3-layer GELU MLP, in_dim 2, scalar output, K(x, x) for n
points. Routes: naive per-example autograd, PyTorch's NTK tutorial (Jacobian
contraction and NTK-vector products, `benchmarks.routes`), and pathkernel's
`tangent_kernel` (structured Gram products). Every route's answer is compared with
ours. "effective GFLOP/s" divides the structured route's useful flop count (the Gram
products) by each route's time, and "of peak" relates it to this machine's measured
matmul rate.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch

import pathkernel as pk
from benchmarks import routes

RESULTS = Path(__file__).parent / "results" / "kernels.json"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def best_time(fn: Callable[[], torch.Tensor], repeats: int) -> tuple[float, torch.Tensor]:
    """Smallest wall time over `repeats` calls (after one warm-up call), and the result."""
    out = fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def matmul_peak(dtype: torch.dtype, n: int = 2000) -> float:
    """Measured GFLOP/s of an n x n matrix product (2 n^3 flops)."""
    a = torch.randn(n, n, dtype=dtype)
    seconds, _ = best_time(lambda: a @ a, repeats=5)
    return 2 * n**3 / seconds / 1e9


def gram_flops(width: int, depth: int, in_dim: int, n1: int, n2: int) -> float:
    """Flops of the structured route: per layer an activation Gram (fan_in) and a delta Gram (fan_out)."""
    sizes = [in_dim] + [width] * (depth - 1) + [1]
    return sum(2.0 * n1 * n2 * (fan_in + fan_out) for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))


def kernel_table(widths, sizes, dtypes, skip_slow: bool) -> list[dict]:
    rows = []
    for dtype in dtypes:
        peak = matmul_peak(dtype)
        for width in widths:
            for n in sizes:
                model = pk.MLP(2, width, 3, dtype=dtype, seed=0)
                x = torch.randn(n, 2, generator=torch.Generator().manual_seed(1), dtype=dtype)
                candidates = {
                    "pathkernel (structured)": lambda: pk.tangent_kernel(model, x),
                    "torch.func Jacobian contraction": lambda: routes.jacobian_contraction(model, x, x),
                    "naive per-example autograd": lambda: routes.naive(model, x, x),
                }
                if not (skip_slow and n >= 1000):
                    candidates["torch.func NTK-vector products"] = lambda: routes.ntk_vector_products(model, x, x)
                times, answers = {}, {}
                for name, fn in candidates.items():
                    slow = name != "pathkernel (structured)"
                    times[name], answers[name] = best_time(fn, repeats=1 if slow else 5)
                ours = answers["pathkernel (structured)"]
                flops = gram_flops(width, 3, 2, n, n)
                for name, seconds in times.items():
                    rows.append({
                        "dtype": str(dtype).removeprefix("torch."), "width": width, "n": n, "route": name,
                        "seconds": seconds,
                        "speedup_vs_contraction": times["torch.func Jacobian contraction"] / seconds,
                        "effective_gflops": flops / seconds / 1e9,
                        "fraction_of_peak": flops / seconds / 1e9 / peak,
                        "max_rel_diff_vs_ours": float((answers[name] - ours).abs().max() / ours.abs().max()),
                        "matmul_peak_gflops": peak,
                    })
                print_row(rows[-len(times):])
    return rows


def print_row(rows: list[dict]) -> None:
    for r in rows:
        print(f"{r['dtype']:>8} {r['width']:>5} {r['n']:>5}  {r['route']:<34} {r['seconds']:>9.4f} s "
              f"{r['speedup_vs_contraction']:>8.1f}x {r['fraction_of_peak']:>7.1%}  diff {r['max_rel_diff_vs_ours']:.1e}",
              flush=True)


def domingos_table(steps: int, n: int, m: int, width: int, baseline_steps: int) -> list[dict]:
    """The decomposition of a GD path: per-step full kernels (torch.func contraction) against ours."""
    dtype = torch.float64
    x, y = pk.data.ball_sphere(n, seed=0)
    xq = torch.randn(m, 2, generator=torch.Generator().manual_seed(2), dtype=dtype)
    path = pk.train(pk.MLP(2, width, 3, dtype=dtype, seed=0), x, y, lr=0.05, steps=steps)
    f = pk.functional.flat_function(path.model)

    def per_step_full_kernel(k_steps: int) -> torch.Tensor:
        rhs = f(path.params[0], xq)[:, 0].clone()
        model = pk.MLP(2, width, 3, dtype=dtype, seed=0)
        for k in range(k_steps):
            torch.nn.utils.vector_to_parameters(path.params[k], model.parameters())
            K = routes.jacobian_contraction(model, xq, x)
            lprime = (f(path.params[k], x)[:, 0] - y) / n
            rhs -= path.lrs[k] * K @ lprime
        return rhs

    start = time.perf_counter()
    per_step_full_kernel(baseline_steps)
    baseline = (time.perf_counter() - start) * steps / baseline_steps
    rows = [{"route": f"per-step full kernel (torch.func contraction; {baseline_steps} steps timed, x{steps // baseline_steps})",
             "seconds": baseline}]
    full = None
    for name, kwargs in [("pathkernel prediction path (one JVP per step)", {}),
                         ("pathkernel exact (segment quadrature)", {"exact": True}),
                         ("pathkernel per_sample (structured kernel per step)", {"per_sample": True}),
                         ("pathkernel per_sample, kernel snapshots every 10 steps", {"per_sample": True, "stride": 10})]:
        start = time.perf_counter()
        dec = pk.domingos(path, xq, **kwargs)
        rows.append({"route": name, "seconds": time.perf_counter() - start})
        if kwargs.get("stride"):
            rows[-1]["max_rel_error_vs_every_step"] = float(
                (dec.per_sample - full).abs().max() / full.abs().max())
        elif kwargs.get("per_sample"):
            full = dec.per_sample
    for r in rows:
        r.update(steps=steps, n=n, m=m, width=width, speedup_vs_per_step_kernel=baseline / r["seconds"])
        error = f"  rel. error {r['max_rel_error_vs_every_step']:.1e}" if "max_rel_error_vs_every_step" in r else ""
        print(f"  {r['route']:<72} {r['seconds']:>8.2f} s {r['speedup_vs_per_step_kernel']:>8.1f}x{error}", flush=True)
    return rows


MEMORY_SCRIPT = """
import resource, time, torch, pathkernel as pk
model = pk.MLP(2, {width}, 3, dtype=torch.float64)
x = torch.randn({n}, 2, dtype=torch.float64)
pk.tangent_kernel(model, x[:10])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
K = pk.tangent_kernel(model, x)
seconds = time.perf_counter() - start
print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, seconds)
"""


def memory_row(n: int, width: int) -> dict:
    """Peak resident memory of one tangent_kernel call in a fresh process (ru_maxrss, KiB)."""
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT.format(n=n, width=width)],
                         capture_output=True, text=True, check=True).stdout.split()
    before, after, seconds = int(out[0]), int(out[1]), float(out[2])
    row = {"n1": n, "n2": n, "width": width, "dtype": "float64", "peak_rss_gib": after / 2**20,
           "rss_increase_gib": (after - before) / 2**20, "kernel_gib": n * n * 8 / 2**30, "seconds": seconds}
    print(f"  n1 = n2 = {n}, width {width}: peak RSS {row['peak_rss_gib']:.2f} GiB "
          f"(+{row['rss_increase_gib']:.2f} GiB during the call; the kernel itself {row['kernel_gib']:.2f} GiB), "
          f"{seconds:.2f} s", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-slow", action="store_true", help="skip NTK-vector products at n = 1000")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu_model()}")
    print("\ntangent kernel K(x, x), 3-layer GELU MLP, in_dim 2")
    kernels = kernel_table([100, 500], [100, 1000], [torch.float64, torch.float32], args.skip_slow)
    print("\nDomingos decomposition, T = 1000, n = 100, m = 1000, width 100 (float64)")
    decomposition = domingos_table(steps=1000, n=100, m=1000, width=100, baseline_steps=20)
    print("\nmemory")
    memory = memory_row(n=5000, width=300)
    record = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": cpu_model(),
                    "threads": torch.get_num_threads(), "python": platform.python_version(),
                    "torch": torch.__version__, "pathkernel": pk.__version__},
        "kernels": kernels, "decomposition": decomposition, "memory": memory,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
