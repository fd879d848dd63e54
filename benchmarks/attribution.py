"""Exact attribution benchmark: scale (a 1M-parameter CNN) and TracIn-CP (ours and Captum's).

    python -m benchmarks.attribution                  # both parts (about 10 minutes on 2 cores)
    python -m benchmarks.attribution --steps 40       # recorded steps of the scale part
    python -m benchmarks.attribution --out FILE.json  # default benchmarks/results/attribution.json
    python -m benchmarks.attribution --skip-tracin --dtypes float32   # scale part only, keeps TracIn
    python -m benchmarks.attribution --skip-tracin --storages replay  # the replay rows only

Scale: a CNN of 1.02M parameters (28 x 28 inputs, two 3 x 3 convolutions with GELU, a
12544 -> 80 -> 10 head), in float64 and in float32 (the snapshot files are in the model's
dtype, and so is the round-off to which the contributions add up), trained by Adam on
mini-batches of 32 random images with 10 classes, recorded by `pk.Recorder` (snapshots on
disk by default; replay below), then `pk.domingos(exact=True, per_sample=True,
nodes=8)` for one query: all 10 logits, and the predicted logit only (`outputs=[class]`; the
backward route costs one Jacobian-vector product of each step's batch per explained
output). Measured over `--steps` and `2 * --steps` steps only (not 10,000): seconds per
step of the recorded loop and of the decomposition, peak anonymous memory (RssAnon: what
must fit in RAM; the memory-mapped snapshots are file pages the kernel may evict) and the
snapshot bytes on disk, then extrapolated linearly to T = 10,000 steps (the per-step work
does not depend on T; the memory is checked not to grow with T). Timings on a shared CPU
are upper bounds and vary by 2x between runs.

Replay (`storage="replay"`): the same run with a checkpoint every `--checkpoint-every` steps
(default 1: with two segments cached, each sweep of `domingos` replays every step but the
last two, as it would with K << T), measured over `--replay-steps` and twice as many steps:
the same per-step figures, the checkpoint size, the replayed steps and the peak of cached
snapshot rows; at T = 10,000
the automatic K (`pathkernel.replay.automatic_interval`) keeps T / K + 1 checkpoints (disk)
and two segments of K + 1 snapshots and K step scales in RAM (the measured peak, with the
measured cache replaced by that one). A checkpoint load and a model copy per replayed step
make the measured per-step times upper bounds of those with the automatic K.

TracIn: the chapter's experiment (`pathkernel.experiments.attribution`, quick preset),
with Captum's `TracInCP` timed on the same checkpoints as our `tracin_cp`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import pathkernel as pk
from benchmarks.kernels import cpu_model
from pathkernel.experiments import attribution as experiment
from pathkernel.replay import automatic_interval

RESULTS = Path(__file__).parent / "results" / "attribution.json"
TARGET_STEPS = 10_000
# Gauss-Legendre nodes per step segment: Adam moves every coordinate by about lr, so a step of
# the 1M-parameter CNN has norm ~1 and 3 nodes need 2**4 pieces (48 gradients) to reach round-off;
# 8 nodes reach it on one piece (measured: 2e-16 against 5e-9 for 3 nodes on the first step).
NODES = 8


class PeakMemory:
    """Samples /proc/self/status every 20 ms; peak RssAnon and RssFile in bytes."""

    def __init__(self) -> None:
        self.anon = self.file = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _sample(self) -> None:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
        kib = lambda key: int(fields[key].split()[0]) * 1024  # noqa: E731
        self.anon, self.file = max(self.anon, kib("RssAnon")), max(self.file, kib("RssFile"))

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(0.02)

    def __enter__(self) -> "PeakMemory":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def million_cnn(seed: int, dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """1,020,... parameters: Conv(1->32) GELU Conv(32->64, stride 2) GELU Linear(12544->80) GELU Linear(80->10)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.GELU(), nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.GELU(),
        nn.Flatten(), nn.Linear(64 * 14 * 14, 80), nn.GELU(), nn.Linear(80, 10),
    ).to(dtype)


def scale_run(steps: int, dtype: torch.dtype = torch.float64, n: int = 2048, batch: int = 32, seed: int = 0,
              storage: str = "disk", checkpoint_every: int | None = None) -> dict:
    """Record `steps` Adam steps of the 1M-parameter CNN (in `dtype`; the snapshot files and the
    decomposition's round-off are in that dtype too) and decompose one query exactly.
    storage="replay" keeps a checkpoint every `checkpoint_every` steps and replays the rest."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g, dtype=dtype)
    y = torch.randint(0, 10, (n,), generator=g)
    model = million_cnn(seed, dtype)
    P = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    with tempfile.TemporaryDirectory(prefix="pathkernel-bench-") as directory:
        with PeakMemory() as train_memory:
            start = time.perf_counter()
            recorder = pk.Recorder(model, optimizer, x, y, loss="cross_entropy", directory=directory,
                                   storage=storage, checkpoint_every=checkpoint_every)
            for k in range(steps):
                index = torch.randint(0, n, (batch,), generator=g)
                optimizer.zero_grad()
                F.cross_entropy(model(x[index]), y[index]).backward()
                optimizer.step()
                recorder.step(index)
            train_seconds = time.perf_counter() - start
        sizes = [f.stat().st_blocks * 512 for f in Path(directory).iterdir()]
        disk = sum(sizes)
        path = recorder.path
        query = torch.rand(1, 1, 28, 28, generator=g, dtype=dtype)
        with PeakMemory() as exact_memory:
            start = time.perf_counter()
            dec = pk.domingos(path, query, exact=True, per_sample=True, nodes=NODES)
            exact_seconds = time.perf_counter() - start
        gap = float((dec.initial + dec.per_sample.sum(1) - dec.prediction).abs().max())
        levels = np.bincount(dec.quadrature_levels.numpy()).tolist()
        start = time.perf_counter()
        one = pk.domingos(path, query, exact=True, per_sample=True, nodes=NODES,
                          outputs=[int(dec.prediction.argmax())])
        one_seconds = time.perf_counter() - start
        one_gap = float((one.initial + one.per_sample.sum(1) - one.prediction).abs().max())
    replay = {}
    if storage == "replay":
        store = path.params.store
        replay = {"checkpoint_every": store.every, "checkpoints": len(sizes), "checkpoint_bytes": max(sizes),
                  "peak_cached_rows": store.peak_cached_rows, "replayed_steps": store.replayed_steps}
    return {**replay, "storage": storage, "dtype": str(dtype).removeprefix("torch."), "steps": steps, "parameters": P, "nodes": NODES, "n": n, "batch": batch, "queries": 1, "outputs": 10,
            "train_seconds_per_step": train_seconds / steps, "exact_seconds_per_step": exact_seconds / steps,
            "train_peak_anon_bytes": train_memory.anon, "exact_peak_anon_bytes": exact_memory.anon,
            "exact_peak_file_bytes": exact_memory.file, "disk_bytes": disk, "additivity_error": gap,
            "one_output_seconds_per_step": one_seconds / steps, "one_output_additivity_error": one_gap,
            "quadrature_levels_histogram": levels}


def tracin_run(seed: int = 0) -> dict:
    """The chapter's quick experiment, plus Captum's TracInCP timed on the same checkpoints."""
    from captum.influence import TracInCP

    config = experiment.Config.quick()
    result = experiment.run(config, seed)
    x_train, y_train, x_test, y_test = experiment.digits(config.n_train, config.n_test, seed)
    model = experiment.small_cnn(config.channels, seed)
    path = experiment.train_loop(model, x_train, y_train, lr=config.lr, weight_decay=config.weight_decay,
                                 epochs=config.epochs, batch_size=config.batch_size, seed=seed)
    with torch.no_grad():
        predicted = model(x_test).argmax(1)
    chosen = experiment.choose_queries(predicted, y_test, config.correct, config.mistakes)
    queries, outputs = x_test[chosen], predicted[chosen]
    captum_seconds, captum_gap = [], []
    with tempfile.TemporaryDirectory(prefix="pathkernel-tracin-") as directory:
        for count in config.checkpoint_counts:
            index, eta = experiment.checkpoint_schedule(path, count)
            files = []
            for c, (k, weight) in enumerate(zip(index, eta)):
                files.append(str(Path(directory) / f"c{count}_{c}.pt"))
                torch.save({"theta": path.params[k].clone(), "eta": float(weight)}, files[-1])

            def load(net: nn.Module, file: str) -> float:
                saved = torch.load(file)
                nn.utils.vector_to_parameters(saved["theta"], net.parameters())
                return saved["eta"]

            copy = experiment.small_cnn(config.channels, seed)
            start = time.perf_counter()
            tracin = TracInCP(copy, torch.utils.data.TensorDataset(x_train, y_train), files,
                              checkpoints_load_func=load, loss_fn=nn.CrossEntropyLoss(reduction="none"),
                              batch_size=64, test_loss_fn=lambda out, t: out.gather(1, t[:, None])[:, 0])
            theirs = tracin.influence((queries, outputs))
            captum_seconds.append(time.perf_counter() - start)
            ours = experiment.tracin_cp(model, path.params[index], eta, x_train, y_train, queries, outputs)
            captum_gap.append(float((ours + theirs).abs().max()))
    rows = [{"checkpoints": int(c), "spearman": float(s), "top_k_overlap": float(o), "sign_agreement": float(a),
             "sum_ratio": float(r), "tracin_seconds": float(t), "captum_seconds": float(cs),
             "captum_vs_ours_max_abs": float(gap)}
            for c, s, o, a, r, t, cs, gap in zip(result.checkpoint_counts, result.spearman, result.overlap,
                                                 result.sign_agreement, result.tracin_sum_ratio,
                                                 result.tracin_seconds, captum_seconds, captum_gap)]
    return {"config": repr(config), "steps": result.steps, "parameters": result.parameters,
            "explained_digits": len(result.predicted), "k": config.k,
            "exact_seconds": result.exact_seconds, "recorded_training_seconds": result.train_seconds,
            "additivity_error": result.additivity_error, "rows": rows}


def extrapolate(short: dict, long: dict) -> dict:
    """Linear extrapolation of time and disk to TARGET_STEPS; memory taken at its larger measurement."""
    per_step = lambda key: long[key]  # noqa: E731  (the longer run's per-step figure)
    disk_per_step = (long["disk_bytes"] - short["disk_bytes"]) / (long["steps"] - short["steps"])
    return {"target_steps": TARGET_STEPS,
            "train_hours": per_step("train_seconds_per_step") * TARGET_STEPS / 3600,
            "exact_hours_per_query": per_step("exact_seconds_per_step") * TARGET_STEPS / 3600,
            "one_output_hours_per_query": per_step("one_output_seconds_per_step") * TARGET_STEPS / 3600,
            "disk_gigabytes": (long["disk_bytes"] + disk_per_step * (TARGET_STEPS - long["steps"])) / 1e9,
            "ram_gigabytes": max(long["train_peak_anon_bytes"], long["exact_peak_anon_bytes"],
                                 short["exact_peak_anon_bytes"]) / 2**30,
            "anon_growth_bytes_when_steps_double": long["exact_peak_anon_bytes"] - short["exact_peak_anon_bytes"]}


def extrapolate_replay(short: dict, long: dict) -> dict:
    """Replay at TARGET_STEPS: time per step from the longer run (one replay of the run per sweep
    is per-step work; checkpoints every few steps make it an upper bound), disk from the size of
    one checkpoint times the checkpoints the automatic K keeps, RAM the measured peak plus the
    cache of two segments of the automatic K (K + 1 parameter rows and K scale rows each) in
    place of the measured cache."""
    every = automatic_interval(TARGET_STEPS)
    row_bytes = long["parameters"] * (8 if long["dtype"] == "float64" else 4)
    cache_growth = (2 * (2 * every + 1) - long["peak_cached_rows"]) * row_bytes
    return {"target_steps": TARGET_STEPS, "checkpoint_every": every,
            "checkpoints": TARGET_STEPS // every + 1,
            "train_hours": long["train_seconds_per_step"] * TARGET_STEPS / 3600,
            "exact_hours_per_query": long["exact_seconds_per_step"] * TARGET_STEPS / 3600,
            "one_output_hours_per_query": long["one_output_seconds_per_step"] * TARGET_STEPS / 3600,
            "disk_gigabytes": long["checkpoint_bytes"] * (TARGET_STEPS // every + 1) / 1e9,
            "ram_gigabytes": (max(long["train_peak_anon_bytes"], long["exact_peak_anon_bytes"]) + cache_growth) / 2**30,
            "anon_growth_bytes_when_steps_double": long["exact_peak_anon_bytes"] - short["exact_peak_anon_bytes"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--skip-tracin", action="store_true",
                        help="measure the scale part only; keep the TracIn section of an existing --out file")
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    parser.add_argument("--storages", nargs="+", default=["disk", "replay"], choices=["disk", "replay"],
                        help="which storage modes to measure; the others are kept from an existing --out file")
    parser.add_argument("--replay-steps", type=int, default=4,
                        help="steps of the shorter replay run (the longer has twice as many)")
    parser.add_argument("--checkpoint-every", type=int, default=1,
                        help="K of the replay runs (1: every segment is replayed in both sweeps, an upper bound)")
    args = parser.parse_args(argv)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    record = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": {"processor": cpu_model(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                          "pathkernel": pk.__version__,
                          "note": "CPU shared with other jobs while measured: timings are upper bounds"}}
    record["scale"] = {} if "disk" in args.storages else previous.get("scale", {})
    record["replay"] = {} if "replay" in args.storages else previous.get("replay", {})
    for name in args.dtypes:
        dtype = getattr(torch, name)
        if "disk" in args.storages:
            short, long = scale_run(args.steps, dtype), scale_run(2 * args.steps, dtype)
            record["scale"][name] = {"measured": [short, long], "extrapolated": extrapolate(short, long)}
        if "replay" in args.storages:
            short, long = (scale_run(steps, dtype, storage="replay", checkpoint_every=args.checkpoint_every)
                           for steps in (args.replay_steps, 2 * args.replay_steps))
            record["replay"][name] = {"measured": [short, long], "extrapolated": extrapolate_replay(short, long)}
    print(json.dumps({"scale": record["scale"], "replay": record["replay"]}, indent=2))
    if args.skip_tracin and args.out.exists():
        record["tracin"] = previous.get("tracin")
    if not args.skip_tracin:
        record["tracin"] = tracin_run()
        print(f"{'C':>5} {'Spearman':>9} {'top-k':>6} {'sign':>6} {'ours s':>8} {'Captum s':>9}")
        for row in record["tracin"]["rows"]:
            print(f"{row['checkpoints']:>5} {row['spearman']:>9.3f} {row['top_k_overlap']:>6.2f} "
                  f"{row['sign_agreement']:>6.2f} {row['tracin_seconds']:>8.2f} {row['captum_seconds']:>9.2f}")
        print(f"exact: {record['tracin']['exact_seconds']:.2f} s for {record['tracin']['explained_digits']} digits")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
