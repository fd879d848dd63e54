"""GPU check of the core API (issue 19): tests, speed, attribution and reproducibility on CUDA.

    python -m benchmarks.gpu --out DIR        # at most ~4 minutes; writes DIR/gpu.json after every section
    python -m benchmarks.gpu --out DIR --quick   # small sizes (a smoke test of the script itself)

Sections, each with its own time budget (a section or a measurement that runs out of time is
recorded as "timeout" and the script goes on; the whole run stops starting new work after
`TOTAL_SECONDS`):

* environment: torch, CUDA and cuDNN versions, the GPU's name, capability, memory and
  driver (``torch._C._cuda_getDriverVersion``, else nvidia-smi), TF32 settings, threads.
* tests: ``pytest tests/test_devices.py -q -p no:cacheprovider --noconftest`` in a
  subprocess (the root conftest.py needs jupytext and nbval), pass/fail/skip counts and the
  failures' lines.
* kernels: ``pk.tangent_kernel(pk.MLP(2, 500, 3, activation="gelu"), x)`` with n = 1000,
  float32 and float64, the structured route and ``method="generic"`` (its own budget),
  on CUDA (``torch.cuda.synchronize()`` around each call, one warm-up call) and on the
  CPU: the median of several calls, the CPU / CUDA ratio, the largest relative difference
  from the CPU's structured kernel.
* attribution: the chapter's model (`pathkernel.experiments.attribution`: ``small_cnn``
  on ``digits(...)``, float64, Adam with weight decay, the Config.quick sizes) recorded
  for `--attribution-steps` steps of a hand-written loop by ``pk.Recorder(...,
  storage="disk")``, then ``pk.domingos(path, x_test[:3], exact=True, per_sample=True)``,
  on CUDA and on the CPU: times, additivity_error, max |residual|, and the largest
  difference of per_sample between the two devices (each device trains its own path, so
  that difference includes the paths' round-off differences).
* reproducibility: the same float64 work (an MLP trained by pk.train (sgd) and decomposed
  exactly per sample; the chapter's CNN recorded and decomposed) run twice in one
  process, results compared bit for bit: once with the defaults, once with
  ``torch.use_deterministic_algorithms(True)`` and ``CUBLAS_WORKSPACE_CONFIG=:4096:8``,
  each in a fresh subprocess (the variable must be set before CUDA starts).

Without CUDA the script still runs: CPU rows are measured, CUDA rows say "no CUDA".
"""

from __future__ import annotations

import time

STARTED = time.monotonic()  # before torch's import: the 4 minutes count from here

import argparse
import contextlib
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import traceback
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:  # this working tree's package, installed or not
    sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import pathkernel as pk  # noqa: E402

RESULTS = Path(__file__).parent / "results"
TOTAL_SECONDS = 225  # sections are cut to end by then (a section's backstop adds at most BACKSTOP): < 4 minutes
BACKSTOP = 10
BUDGETS = {"environment": 15, "tests": 90, "kernels": 45, "attribution": 30, "reproducibility": 45}


# --- time limits ------------------------------------------------------------------------------------------

class Timeout(Exception):
    """A time budget ran out."""


_deadlines: list[float] = []


def _arm() -> None:
    if _deadlines:
        signal.setitimer(signal.ITIMER_REAL, max(min(_deadlines) - time.monotonic(), 1e-3))
    else:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _alarm(signum, frame) -> None:
    raise Timeout("time budget exhausted")


@contextlib.contextmanager
def limit(seconds: float):
    """Raise Timeout in this block after `seconds` (or at an enclosing limit's deadline, if earlier;
    at once when that has passed already)."""
    deadline = time.monotonic() + seconds
    if _deadlines and min(_deadlines) <= time.monotonic() or seconds <= 0:
        raise Timeout("no time left")
    _deadlines.append(deadline)
    _arm()
    try:
        yield
    finally:
        _deadlines.remove(deadline)
        _arm()


def remaining() -> float:
    return TOTAL_SECONDS - (time.monotonic() - STARTED)


class Budget:
    """A section's time: `left()` seconds until its deadline; `limit(s)` a block limited to s seconds
    or to the deadline, whichever comes first."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def limit(self, seconds: float | None = None):
        return limit(self.left() if seconds is None else min(seconds, self.left()))


def timeout_status(error: Timeout, allowed: float) -> str:
    return "skipped: out of time" if str(error) == "no time left" else f"timeout ({allowed:.0f} s)"


# --- helpers --------------------------------------------------------------------------------------------

SIMULATE = False  # --simulate-cuda: the "cuda" rows computed on the CPU (to test this script without a GPU)


def real(device: str) -> str:
    """The device a row labelled `device` computes on ("cpu" for "cuda" with --simulate-cuda)."""
    return "cpu" if SIMULATE and device == "cuda" else device


def sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device) -> tuple[float, object]:
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| (b the reference), in float64 on the CPU."""
    a, b = a.detach().cpu().double(), b.detach().cpu().double()
    scale = float(b.abs().max())
    return float((a - b).abs().max()) / scale if scale > 0 else float((a - b).abs().max())


def error_text(error: BaseException) -> str:
    frames = [f"{Path(f.filename).name}:{f.lineno}" for f in traceback.extract_tb(error.__traceback__)][-4:]
    return f"{type(error).__name__}: {str(error)[:500]} (at {' < '.join(reversed(frames))})"


def cuda_devices(cuda: bool) -> list[str]:
    return ["cuda", "cpu"] if cuda else ["cpu"]


# --- (a) environment ------------------------------------------------------------------------------------

def environment(args, info: dict) -> dict:
    """Fills `info` as it goes (a timeout keeps what was found)."""
    info.update({
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
        "torch_cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available()
        else None, "pathkernel": pk.__version__, "pathkernel_file": pk.__file__,
        "cpu_threads": torch.get_num_threads(), "cpus": len(os.sched_getaffinity(0)),
        "cuda_available": torch.cuda.is_available(),
        "tf32": {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32},
        "cudnn_benchmark": torch.backends.cudnn.benchmark, "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "quick": args.quick, "simulated_cuda": SIMULATE,
    })
    try:
        from benchmarks.kernels import cpu_model
        info["cpu"] = cpu_model()
    except Exception as error:  # noqa: BLE001
        info["cpu"] = error_text(error)
    with contextlib.suppress(Exception):
        info["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                            timeout=5).stdout.strip() or None
    if torch.cuda.is_available():
        start = time.perf_counter()
        torch.zeros(1, device="cuda")  # start CUDA here, not inside a timed section
        info["cuda_init_seconds"] = round(time.perf_counter() - start, 2)
        properties = torch.cuda.get_device_properties(0)
        info.update(cuda_device_count=torch.cuda.device_count(), cuda_device=torch.cuda.get_device_name(0),
                    capability=".".join(map(str, torch.cuda.get_device_capability(0))),
                    memory_gib=round(properties.total_memory / 2**30, 1),
                    multiprocessors=properties.multi_processor_count)
        try:
            version = torch._C._cuda_getDriverVersion()  # e.g. 12040: the CUDA version the driver supports
            info["driver_cuda_version"] = f"{version // 1000}.{version % 1000 // 10}"
        except Exception as error:  # noqa: BLE001
            info["driver_cuda_version"] = error_text(error)
        try:
            smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=10)
            info["driver"] = smi.stdout.strip().splitlines()[0] if smi.returncode == 0 and smi.stdout.strip() \
                else f"nvidia-smi: {smi.stderr.strip()[:200]}"
        except Exception as error:  # noqa: BLE001
            info["driver"] = error_text(error)
    return info


# --- (b) tests ------------------------------------------------------------------------------------------

def tests(args, budget: Budget) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(min(4, args.threads)), PATHKERNEL_QUIET="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    command = [sys.executable, "-m", "pytest", "tests/test_devices.py", "-q", "-p", "no:cacheprovider",
               "--noconftest", "-rfEsx", "--durations=12"]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=max(1.0, budget.left()))
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode(errors="replace") if isinstance(expired.stdout, bytes) \
            else (expired.stdout or "")
        progress = "".join(line.split(" [")[0] for line in output.splitlines()
                           if re.fullmatch(r"[.sFExX]+ *(\[ *\d+%\])?", line.strip()))
        counts = {"passed": progress.count("."), "failed": progress.count("F"), "errors": progress.count("E"),
                  "skipped": progress.count("s"), "xfailed": progress.count("x"), "xpassed": progress.count("X")}
        return {"status": "timeout", "seconds": round(time.perf_counter() - start, 1), "budget_s": budget.seconds,
                "command": " ".join(command), "counts_before_timeout": counts, "output_tail": output[-4000:]}
    output = done.stdout + done.stderr
    summary = next((line for line in reversed(output.splitlines()) if re.search(r"\d+ (passed|failed|error)", line)),
                   "")
    counts = {key: int(value) for value, key in re.findall(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?)",
                                                            summary)}
    return {"status": "ok" if done.returncode == 0 else f"pytest exit code {done.returncode}",
            "seconds": round(time.perf_counter() - start, 1), "command": " ".join(command), "summary": summary,
            "counts": counts,
            "failures": [line for line in output.splitlines() if line.startswith(("FAILED", "ERROR"))][:60],
            "output_tail": output[-6000:]}


# --- (c) tangent-kernel benchmark ------------------------------------------------------------------------

def kernel_benchmark(args, cuda: bool, budget: Budget) -> dict:
    n, width = (200, 100) if args.quick else (1000, 500)
    rows, kernels = [], {}
    # per measurement: (device, dtype, route) -> seconds allowed
    allowance = {"structured": 6.0, "generic": 9.0}
    plan = [(device, dtype, route) for device in cuda_devices(cuda) for dtype in ("float32", "float64")
            for route in ("structured", "generic")]
    for device, name, route in plan:
        dtype = getattr(torch, name)
        row = {"device": device, "dtype": name, "route": route, "n": n, "width": width}
        rows.append(row)
        allowed = min(allowance[route], budget.left())
        try:
            with budget.limit(allowance[route]):
                model = pk.MLP(2, width, 3, activation="gelu", seed=0, dtype=dtype).to(real(device))
                x = torch.randn(n, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(dtype)
                x = x.to(real(device))
                method = "auto" if route == "structured" else "generic"
                call = lambda: pk.tangent_kernel(model, x, method=method)  # noqa: E731
                warm, _ = timed(lambda: pk.tangent_kernel(model, x[:50], method=method), real(device))
                times = []
                repeats = 5 if route == "structured" else 3
                result = None
                for _ in range(repeats + (1 if route == "structured" else 0)):
                    seconds, result = timed(call, real(device))
                    times.append(seconds)
                    if route == "generic" and sum(times) > allowed / 3:
                        break
                if route == "structured":
                    times = times[1:]  # the first full-size call is the warm-up
                row.update(status="ok", seconds=statistics.median(times), times=[round(t, 5) for t in times],
                           warmup_small_s=round(warm, 4))
                kernels[(device, name, route)] = result.cpu()
        except Timeout as error:
            row.update(status=timeout_status(error, allowed))
        except Exception as error:  # noqa: BLE001
            row.update(status=error_text(error))
        if real(device) == "cuda":
            with contextlib.suppress(Exception):
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
        print(f"  {device:>4} {name:>7} {route:<10} {row.get('seconds', float('nan')):>9.4f} s  {row['status']}",
              flush=True)
    if not cuda:
        for name in ("float32", "float64"):
            for route in ("structured", "generic"):
                rows.append({"device": "cuda", "dtype": name, "route": route, "n": n, "width": width,
                             "status": "no CUDA"})
    for row in rows:
        reference = kernels.get(("cpu", row["dtype"], "structured"))
        mine = kernels.get((row["device"], row["dtype"], row["route"]))
        if reference is not None and mine is not None:
            row["max_rel_diff_vs_cpu_structured"] = relative(mine, reference)
        cpu_row = next((r for r in rows if r["device"] == "cpu" and r["dtype"] == row["dtype"]
                        and r["route"] == row["route"] and "seconds" in r), None)
        if row["device"] == "cuda" and "seconds" in row and cpu_row is not None:
            row["cpu_over_cuda"] = cpu_row["seconds"] / row["seconds"]
    return {"status": "ok", "rows": rows}


# --- (d) attribution chapter on CUDA and on the CPU --------------------------------------------------------

def chapter_run(device: str, steps: int, queries: int = 3, seed: int = 0) -> dict:
    """The attribution chapter's CNN and data (float64), `steps` recorded Adam steps, exact per-sample split."""
    from pathkernel.experiments import attribution as chapter

    config = chapter.Config.quick()
    x_train, y_train, x_test, _ = chapter.digits(config.n_train, config.n_test, seed)
    x_train, y_train, x_test = x_train.to(device), y_train.to(device), x_test[:queries].to(device)
    model = chapter.small_cnn(config.channels, seed).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))
    batches = list(order.split(config.batch_size))
    with tempfile.TemporaryDirectory(prefix="pathkernel-gpu-") as directory:
        sync(device)
        start = time.perf_counter()
        recorder = pk.Recorder(model, optimizer, x_train, y_train, loss="cross_entropy", storage="disk",
                               directory=directory)
        for k in range(steps):
            index = batches[k % len(batches)]
            optimizer.zero_grad()
            F.cross_entropy(model(x_train[index]), y_train[index]).backward()
            optimizer.step()
            recorder.step(index)
        sync(device)
        record_seconds = time.perf_counter() - start
        path = recorder.path
        seconds, dec = timed(lambda: pk.domingos(path, x_test, exact=True, per_sample=True, progress_bar=False),
                             device)
        params = torch.stack([path.params[k] for k in range(path.steps + 1)]).clone()
        recorder.close()
    top = pk.top_examples(dec, 6)
    return {"record_seconds": record_seconds, "decompose_seconds": seconds, "steps": steps,
            "parameters": params.shape[1], "params": params, "dec": dec, "proponents": top.proponents.cpu(),
            "result_device": str(dec.per_sample.device)}


def attribution(args, cuda: bool, budget: Budget) -> dict:
    steps = 5 if args.quick else args.attribution_steps
    runs, out = {}, {"steps": steps}
    for device in cuda_devices(cuda):
        entry = out.setdefault(device, {})
        allowed = budget.left() / 2 if device == "cuda" else budget.left()
        try:
            with budget.limit(allowed):
                run = chapter_run(real(device), steps)
            runs[device] = run
            dec = run["dec"]
            entry.update(status="ok", record_seconds=round(run["record_seconds"], 3),
                         decompose_seconds=round(run["decompose_seconds"], 3), parameters=run["parameters"],
                         additivity_error=dec.additivity_error, max_abs_residual=float(dec.residual.abs().max()),
                         max_abs_per_sample=float(dec.per_sample.abs().max()), result_device=run["result_device"],
                         quadrature_levels=torch.bincount(dec.quadrature_levels.cpu()).tolist())
        except Timeout as error:
            entry["status"] = timeout_status(error, allowed)
        except Exception as error:  # noqa: BLE001
            entry["status"] = error_text(error)
        if real(device) == "cuda":
            with contextlib.suppress(Exception):
                torch.cuda.synchronize()
        print(f"  {device:>4}: {entry}", flush=True)
    if not cuda:
        out["cuda"] = {"status": "no CUDA"}
    if "cuda" in runs and "cpu" in runs:
        a, b = runs["cuda"]["dec"], runs["cpu"]["dec"]
        out["cuda_vs_cpu"] = {
            "per_sample_max_abs_diff": float((a.per_sample.cpu() - b.per_sample).abs().max()),
            "per_sample_max_rel_diff": relative(a.per_sample, b.per_sample),
            "prediction_max_rel_diff": relative(a.prediction, b.prediction),
            "path_max_rel_diff": relative(runs["cuda"]["params"], runs["cpu"]["params"]),
            "top6_proponents_equal": bool(torch.equal(runs["cuda"]["proponents"], runs["cpu"]["proponents"])),
        }
    return {"status": "ok" if all(out.get(d, {}).get("status") == "ok" for d in cuda_devices(cuda)) else "partial",
            **out}


# --- (e) bitwise reproducibility on CUDA (subprocess workers) ----------------------------------------------

def mlp_run(device: str, steps: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, generator=g, dtype=torch.float64)
    y = torch.sin(3 * x[:, 0]) * x[:, 1]
    xq = torch.randn(8, 2, generator=g, dtype=torch.float64)
    model = pk.MLP(2, 64, 3, activation="gelu", seed=0, dtype=torch.float64).to(device)
    path = pk.train(model, x.to(device), y.to(device), lr=0.1, steps=steps, optimizer="sgd", batch_size=16,
                    progress_bar=False)
    dec = pk.domingos(path, xq.to(device), exact=True, per_sample=True, progress_bar=False)
    kernel = pk.tangent_kernel(model, xq.to(device), x.to(device))
    return {"mlp.params": path.params.clone(), "mlp.per_sample": dec.per_sample.cpu(), "mlp.rhs": dec.rhs.cpu(),
            "mlp.tangent_kernel": kernel.cpu()}


def cnn_run(device: str, steps: int) -> dict[str, torch.Tensor]:
    run = chapter_run(device, steps)
    return {"cnn.params": run["params"].cpu(), "cnn.per_sample": run["dec"].per_sample.cpu(),
            "cnn.rhs": run["dec"].rhs.cpu()}


def repro_worker(mode: str, steps: int) -> int:
    """Run each workload twice in this process and print one JSON line: bitwise equality per tensor.

    In "deterministic" mode an operation without a deterministic CUDA implementation raises; its
    message is recorded, and the workload is run again with warn_only=True (the warnings name
    the operations), so that the comparison is still made."""
    import warnings

    report: dict[str, object] = {"mode": mode, "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
                                 "results": {}, "errors": {}}
    if mode == "deterministic":
        torch.use_deterministic_algorithms(True)
    report["deterministic_algorithms"] = torch.are_deterministic_algorithms_enabled()
    device = real("cuda")
    for name, workload in (("mlp", mlp_run), ("cnn", cnn_run)):
        try:
            try:
                first, second = workload(device, steps), workload(device, steps)
            except RuntimeError as error:
                if mode != "deterministic" or "determinis" not in str(error):
                    raise
                report["errors"][name] = error_text(error)
                torch.use_deterministic_algorithms(True, warn_only=True)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    first, second = workload(device, steps), workload(device, steps)
                report.setdefault("warn_only_warnings", {})[name] = sorted({str(w.message)[:300] for w in caught})[:10]
                torch.use_deterministic_algorithms(True)
            for key in first:
                report["results"][key] = {"bitwise_equal": bool(torch.equal(first[key], second[key])),
                                          "max_abs_diff": float((first[key] - second[key]).abs().max())}
        except Exception as error:  # noqa: BLE001
            report["errors"][name] = error_text(error)
    results = report["results"]
    report["all_bitwise_equal"] = bool(results) and all(r["bitwise_equal"] for r in results.values())
    report["status"] = "ok" if results and not report["errors"] else (
        "partial" if results else "failed: " + "; ".join(f"{k}: {v}" for k, v in report["errors"].items())[:600])
    print("REPRO " + json.dumps(report), flush=True)
    return 0


def reproducibility(args, cuda: bool, budget: Budget) -> dict:
    if not cuda:
        return {"status": "no CUDA"}
    steps = 3 if args.quick else 8
    out = {"steps": steps}
    for mode in ("default", "deterministic"):
        env = dict(os.environ, OMP_NUM_THREADS=str(min(4, args.threads)), PATHKERNEL_QUIET="1",
                   PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]))
        env.pop("CUBLAS_WORKSPACE_CONFIG", None)
        if mode == "deterministic":
            env["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
        left = budget.left() / (2 if mode == "default" else 1) - 1
        if left < 5:
            out[mode] = {"status": "skipped: out of time"}
            continue
        start = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, "-m", "benchmarks.gpu", "--repro-worker", mode, "--steps",
                                   str(steps)] + (["--simulate-cuda"] if SIMULATE else []),
                                  cwd=ROOT, env=env, capture_output=True, text=True, timeout=left)
            line = next((l for l in done.stdout.splitlines() if l.startswith("REPRO ")), None)
            out[mode] = json.loads(line[6:]) if line else {"status": f"no report (exit {done.returncode})",
                                                          "stderr_tail": done.stderr[-2000:]}
        except subprocess.TimeoutExpired:
            out[mode] = {"status": f"timeout ({left:.0f} s)"}
        out[mode]["seconds"] = round(time.perf_counter() - start, 1)
        print(f"  {mode}: {out[mode].get('status')} all bitwise equal: {out[mode].get('all_bitwise_equal')}",
              flush=True)
    return {"status": "ok", **out}


# --- driver ----------------------------------------------------------------------------------------------

def write(record: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    temporary = out / ".gpu.json.tmp"
    temporary.write_text(json.dumps(record, indent=2, default=str) + "\n")
    os.replace(temporary, out / "gpu.json")


def table(record: dict) -> str:
    lines = [f"{'section':<16} {'item':<44} {'result'}"]
    add = lambda section, item, result: lines.append(f"{section:<16} {item:<44} {result}")  # noqa: E731
    env = record.get("environment", {})
    add("environment", "torch / CUDA / cuDNN", f"{env.get('torch')} / {env.get('torch_cuda')} / {env.get('cudnn')}")
    add("environment", "GPU", f"{env.get('cuda_device', 'no CUDA')} (capability {env.get('capability', '-')}, "
                              f"driver {env.get('driver', '-')})")
    if "tests" in record:
        t = record["tests"]
        add("tests", "pytest tests/test_devices.py",
            f"{t.get('status')}: {t.get('summary') or t.get('counts_before_timeout', '')}")
        for line in t.get("failures", [])[:10]:
            add("tests", "", line[:120])
    if record.get("simulated_cuda"):
        add("note", "--simulate-cuda", "the rows labelled cuda were computed on the CPU")
    for row in record.get("kernels", {}).get("rows", []):
        result = row["status"] if row["status"] != "ok" else (
            f"{row['seconds']:.4f} s" + (f", CPU/CUDA {row['cpu_over_cuda']:.1f}x" if "cpu_over_cuda" in row else "")
            + (f", diff {row['max_rel_diff_vs_cpu_structured']:.1e}" if "max_rel_diff_vs_cpu_structured" in row
               else ""))
        add("kernels", f"{row['device']} {row['dtype']} {row['route']} n={row['n']} w={row['width']}", result)
    a = record.get("attribution", {})
    for device in ("cuda", "cpu"):
        e = a.get(device, {})
        if e.get("status") == "ok":
            add("attribution", f"{device}: record {a.get('steps')} steps / decompose",
                f"{e['record_seconds']:.2f} s / {e['decompose_seconds']:.2f} s, "
                f"additivity {e['additivity_error']:.1e}, "
                f"|residual| {e['max_abs_residual']:.1e}")
        elif e:
            add("attribution", device, e.get("status"))
    if "cuda_vs_cpu" in a:
        c = a["cuda_vs_cpu"]
        add("attribution", "per_sample CUDA vs CPU", f"max abs {c['per_sample_max_abs_diff']:.1e}, rel "
                                                     f"{c['per_sample_max_rel_diff']:.1e}, top-6 equal "
                                                     f"{c['top6_proponents_equal']}")
    r = record.get("reproducibility", {})
    for mode in ("default", "deterministic"):
        if mode in r:
            e = r[mode]
            differing = [k for k, v in e.get("results", {}).items() if not v["bitwise_equal"]]
            add("reproducibility", mode, f"{e.get('status')}; bitwise equal: {e.get('all_bitwise_equal')}"
                                         + (f" (differ: {', '.join(differing)})" if differing else ""))
    if r.get("status") == "no CUDA":
        add("reproducibility", "", "no CUDA")
    for name, section in record.get("sections", {}).items():
        add("time", name, f"{section['seconds']:.1f} s ({section['status']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory of gpu.json (default benchmarks/results)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test of the script")
    parser.add_argument("--threads", type=int, default=min(16, len(os.sched_getaffinity(0))),
                        help="torch CPU threads (default: the CPUs available, at most 16)")
    parser.add_argument("--attribution-steps", type=int, default=20)
    parser.add_argument("--skip", nargs="*", default=[], choices=list(BUDGETS), help="sections to leave out")
    parser.add_argument("--repro-worker", choices=["default", "deterministic"], help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=8, help=argparse.SUPPRESS)
    parser.add_argument("--simulate-cuda", action="store_true",
                        help="compute the CUDA rows on the CPU (tests this script on a machine without a GPU)")
    args = parser.parse_args(argv)
    global SIMULATE
    SIMULATE = args.simulate_cuda
    os.environ.setdefault("PATHKERNEL_QUIET", "1")
    if args.repro_worker:
        return repro_worker(args.repro_worker, args.steps)
    torch.set_num_threads(args.threads)
    signal.signal(signal.SIGALRM, _alarm)
    cuda = torch.cuda.is_available() or SIMULATE
    record: dict[str, object] = {"sections": {}, "simulated_cuda": SIMULATE}
    sections = [("environment", lambda budget: environment(args, record.setdefault("environment", {}))),
                ("tests", lambda budget: tests(args, budget)),
                ("kernels", lambda budget: kernel_benchmark(args, cuda, budget)),
                ("attribution", lambda budget: attribution(args, cuda, budget)),
                ("reproducibility", lambda budget: reproducibility(args, cuda, budget))]
    for name, section in sections:
        if name in args.skip:
            continue
        budget = Budget(min(BUDGETS[name], remaining()))
        print(f"\n== {name} (budget {budget.seconds:.0f} s)", flush=True)
        start = time.perf_counter()
        status = "ok"
        try:
            if budget.seconds < 3:
                raise Timeout("no time left")
            with limit(budget.seconds + BACKSTOP):  # the section keeps to its budget; this is the backstop
                record[name] = section(budget)
            status = record[name].get("status", "ok") if isinstance(record[name], dict) else "ok"
        except Timeout as error:
            status = "skipped: out of time" if str(error) == "no time left" else "timeout"
            if cuda:
                with contextlib.suppress(Exception):
                    torch.cuda.synchronize()
        except Exception as error:  # noqa: BLE001
            status = error_text(error)
        if not isinstance(record.get(name), dict):
            record[name] = {}
        if status != "ok":
            record[name].setdefault("status", status)  # a timed-out section keeps what it recorded
        record["sections"][name] = {"seconds": round(time.perf_counter() - start, 1), "status": status}
        record["total_seconds"] = round(time.monotonic() - STARTED, 1)
        write(record, args.out)
        print(f"   {name}: {status} in {record['sections'][name]['seconds']} s", flush=True)
    print("\n" + table(record))
    print(f"\ntotal {time.monotonic() - STARTED:.1f} s; wrote {args.out / 'gpu.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
