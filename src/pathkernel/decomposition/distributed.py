"""Domingos' decomposition on the workers of a Dask cluster (``pathkernel.domingos(..., client=)``).

The decomposition is a sum over steps of terms that are independent across queries, so it
splits exactly, in two ways (``split``):

* "queries" (every optimizer and route): the m queries are cut into contiguous blocks, and
  each block is an ordinary in-process ``domingos(path, x[block], same options)`` on a
  worker; the fields are concatenated along the query axis. In exact mode each block
  refines a step's quadrature until its own queries reach round-off, so
  `Decomposition.quadrature_levels` is the per-step maximum over the blocks; the
  in-process call refines all queries at once against the round-off of the largest
  output, so its levels can differ by one either way and the two agree to round-off.
* "steps" ("gd" and "sgd" paths): the steps 0..T-1 are cut into contiguous ranges [a, b)
  (whole blocks of `stride`), and each range is ``domingos`` of every query along the
  sub-path theta_a..theta_b, on the route the whole call resolves to. The kernel parts,
  per-sample terms, path kernels, weighted sums (weights x path kernel) and weight-decay
  terms add up; ``initial`` is the first range's, ``prediction`` the last's, the levels
  are concatenated. This process holds every range's terms until they are added.
  Momentum and Adam carry buffers from step to step (Adam's preconditioner from the first
  step), so their paths are refused here: they stay on the query split.

Every argument is checked here first, as the in-process call checks it (`checks.prepare`),
before anything is sent. The path goes to the workers once (``Client.scatter(broadcast=True)``):
an in-memory path (`pathkernel.train`, ``Recorder(storage="memory")``) with its parameters,
a disk or replay path by reference to its files (`pathkernel.recording.SnapshotTensor`,
`pathkernel.recording.ReplayStore`), which must lie in a ``directory=`` (the Recorder
argument) that every worker reads: a temporary directory is refused, and each worker is
asked whether it can read the files (``Client.run``) before any block is submitted.

A worker process computes one block at a time (its blocks share the path's model and a
replay's cache), with as many torch threads as the worker has threads when the client
comes from `pathkernel.runs.cluster.connect` (its `TorchThreads` plugin); the default is
one block per worker process.

Faults: each block is one task whose result is kept by its index, so no block is counted
twice. A task whose worker dies is run again on another worker by the scheduler (up to
its ``allowed-failures``); one that raises an unexpected error (an OSError reading the
files, a MemoryError) is retried `RETRIES` times. An error of the decomposition itself
(ValueError, e.g. `NonSmoothExactError`, or TypeError) would recur, and is raised as the
in-process call raises it. A block that still cannot be computed makes
`IncompleteDecompositionError` name the missing queries (or steps); a partial
decomposition is never returned. Warnings of the blocks (e.g. `QuadratureWarning`) are
issued again here, once each; the additivity check is redone over the whole.

Agreement with the in-process call: every term to round-off (1e-12 relative in float64,
measured ~1e-15); only the weights a_i, a ratio, amplify the round-off of the path kernel
where it nearly cancels (as a change of chunking does in-process), while weights x path
kernel agree to round-off.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass

import torch
from distributed import Client, Future, as_completed

from pathkernel.decomposition import domingos
from pathkernel.decomposition.checks import Setup, additivity, prepare
from pathkernel.decomposition.result import AdditivityWarning, Decomposition, IncompleteDecompositionError
from pathkernel.functional import NonSmoothActivationWarning, progress
from pathkernel.recording import ReplayParams, ReplayScales, SnapshotTensor
from pathkernel.training import TrainingPath
from pathkernel.validation import integer

RETRIES = 2
SPLITS = ("queries", "steps")
STEP_SPLIT_OPTIMIZERS = ("gd", "sgd")
CHECKED = ("exact", "per_sample", "nodes", "stride", "method", "route", "outputs", "dtype")
ISSUED_HERE = (AdditivityWarning, NonSmoothActivationWarning)  # this process checks additivity and smoothness
PER_QUERY = ("prediction", "initial", "rhs", "residual", "per_sample", "path_kernel", "weights", "regularization")
SUMMED = ("per_sample", "path_kernel", "regularization")
_ONE_BLOCK_AT_A_TIME = threading.Lock()


@dataclass
class Outcome:
    """What a block's task returns: its decomposition and the warnings it raised (category,
    message), or the error the decomposition itself raised."""

    decomposition: Decomposition | None
    warnings: list[tuple[type[Warning], str]]
    error: Exception | None = None


def distributed_domingos(client: Client, path: TrainingPath, x: torch.Tensor, *, split: str, chunks: int | None,
                         **options: object) -> Decomposition:
    """`pathkernel.domingos` over the workers of `client` (module docstring); `options` are
    domingos' other keywords. x: (m, ...) queries; returns the whole `Decomposition`."""
    if not isinstance(client, Client):
        raise TypeError(f"client must be a dask.distributed Client (or None to compute in this process); "
                        f"got {type(client).__name__}")
    if split not in SPLITS:
        raise ValueError(f"split={split!r}; expected one of {SPLITS}")
    if chunks is not None:
        integer("chunks", chunks)
    setup = prepare(path, x, **{key: options[key] for key in CHECKED})
    if split == "steps" and path.optimizer not in STEP_SPLIT_OPTIMIZERS:
        raise ValueError(f"split='steps' is for {STEP_SPLIT_OPTIMIZERS} paths; the buffers of this "
                         f"{path.optimizer!r} path couple its steps: use split='queries'")
    workers = list(client.nthreads())
    if not workers:
        raise ValueError("the Dask client has no workers; start some, or pass client=None")
    check_storage(client, path)
    stride = options["stride"] if split == "steps" else 1
    total = x.shape[0] if split == "queries" else path.steps
    blocks = contiguous_blocks(total, chunks or len(workers), stride)
    shipped = client.scatter(path, broadcast=True, hash=False)
    on_worker = {**options, "progress_bar": False}
    if split == "queries":
        futures = [client.submit(decompose_block, shipped, x[a:b], on_worker, None, retries=RETRIES, pure=False)
                   for a, b in blocks]
    else:
        on_worker["route"] = setup.route
        futures = [client.submit(decompose_block, shipped, x, on_worker, (a, b), retries=RETRIES, pure=False)
                   for a, b in blocks]
    parts = gather_blocks(client, futures, blocks, split, total, options["progress_bar"])
    combine = concatenated if split == "queries" else added_up
    return combine(parts, setup, options["stride"])


def contiguous_blocks(total: int, count: int, align: int) -> list[tuple[int, int]]:
    """At most `count` non-empty ranges [a, b) covering range(total), as equal as possible,
    their bounds multiples of `align` (except the last, `total`)."""
    units = -(-total // align)
    count = min(count, units)
    bounds = [min(total, align * (units * i // count)) for i in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def check_storage(client: Client, path: TrainingPath) -> None:
    """ValueError unless every worker of `client` can read the files of a disk or replay path
    (nothing to check for an in-memory one), naming the directory and those workers."""
    files, temporary = [], False
    for rows in (path.params, path.scales):
        if isinstance(rows, SnapshotTensor):
            files.append(str(rows.file))
            temporary |= rows.temporary
        elif isinstance(rows, (ReplayParams, ReplayScales)):
            files += [os.path.abspath(rows.store.file(step)) for step in rows.store.checkpoints]
            temporary |= rows.store.temporary
    if not files:
        return
    directory = os.path.dirname(files[0])
    if temporary:
        raise ValueError(f"this path was recorded in a temporary directory ({directory}), deleted with the recording "
                         "and unknown to other machines: record with pk.Recorder(..., directory=DIR) in a directory "
                         "every worker can read (or storage='memory', to send the snapshots themselves)")
    unreadable = {worker: missing for worker, missing in client.run(unreadable_files, files).items() if missing}
    if unreadable:
        raise ValueError(f"the path's files in {directory} cannot be read on the workers {sorted(unreadable)} "
                         f"(e.g. {next(iter(unreadable.values()))[0]}): record the path in a directory every worker "
                         "can read (a shared filesystem mounted at the same place), with pk.Recorder(..., directory=)")


def unreadable_files(files: Sequence[str]) -> list[str]:
    """The files of `files` this process cannot read (run on every worker by `check_storage`)."""
    return [file for file in files if not os.access(file, os.R_OK)]


def decompose_block(path: TrainingPath, x: torch.Tensor, options: dict, steps: tuple[int, int] | None) -> Outcome:
    """On a worker: ``domingos(path, x, **options)``, along the sub-path of `steps` (a, b) when
    given, one block per process at a time, with its warnings recorded."""
    if steps is not None:
        path = sub_path(path, *steps)
    with _ONE_BLOCK_AT_A_TIME, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            decomposition = domingos(path, x, **options)
        except (ValueError, TypeError) as error:  # the decomposition's own: a retry would raise it again
            return Outcome(None, [], error)
    return Outcome(decomposition, [(w.category, str(w.message)) for w in caught
                                   if not issubclass(w.category, ISSUED_HERE)])


def sub_path(path: TrainingPath, start: int, stop: int) -> TrainingPath:
    """Steps [start, stop) of `path`: theta_start..theta_stop (a replayed path's rows still
    replayed on access). Its caller resolved the route and checked theta_T, so the copy is
    not marked "recorded" (whose check needs the model at the last row)."""
    params = path.params[start : stop + 1] if isinstance(path.params, torch.Tensor) else \
        RowRange(path.params, start, stop + 1)
    return dataclasses.replace(
        path, params=params, lrs=path.lrs[start:stop], losses=path.losses[start:stop],
        batches=None if path.batches is None else path.batches[start:stop],
        hyper={key: value for key, value in path.hyper.items() if key != "recorded"},
    )


class RowRange:
    """Rows [start, stop) of a tensor-like (rows, P) view that reads rows on access (a
    `pathkernel.recording.ReplayParams`); int -> (P,), unit-step slice -> (len, P)."""

    def __init__(self, rows: ReplayParams, start: int, stop: int) -> None:
        self.rows, self.start = rows, start
        self.shape = torch.Size((stop - start, rows.shape[1]))
        self.dtype = rows.dtype

    def element_size(self) -> int:
        return self.rows.element_size()

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: int | slice) -> torch.Tensor:
        index = range(self.shape[0])[key]
        if isinstance(index, int):
            return self.rows[self.start + index]
        if index.step != 1:
            raise TypeError(f"a range of replayed rows is sliced with step 1; got {key}")
        return self.rows[self.start + index.start : self.start + max(index.start, index.stop)]


def gather_blocks(client: Client, futures: list[Future], blocks: list[tuple[int, int]], split: str, total: int,
                  progress_bar: bool | None) -> list[Decomposition]:
    """Each block's decomposition, in block order, once every block is done.

    Raises the first error of a decomposition itself (cancelling the other blocks), else
    `IncompleteDecompositionError` naming every block that could not be computed; issues
    the blocks' warnings once each.
    """
    position = {future.key: i for i, future in enumerate(futures)}
    outcomes: list[Outcome | None] = [None] * len(futures)
    failures: dict[int, BaseException] = {}
    for future in progress(as_completed(futures), total=len(futures), desc=f"blocks of {split}", enabled=progress_bar):
        i = position[future.key]
        if future.status != "finished":
            failures[i] = cause(future)
            continue
        outcomes[i] = future.result()
        if outcomes[i].error is not None:
            client.cancel(futures)
            raise outcomes[i].error
    if failures:
        missing = [blocks[i] for i in sorted(failures)]
        first = failures[min(failures)]
        raise IncompleteDecompositionError(
            f"{len(missing)} of {len(blocks)} blocks could not be computed, so {split} "
            f"{', '.join(f'{a}..{b - 1}' for a, b in missing)} (of 0..{total - 1}) are missing and no decomposition is "
            f"returned: {type(first).__name__}: {first}", split, missing) from first
    for category, message in dict.fromkeys(w for outcome in outcomes for w in outcome.warnings):
        warnings.warn(message, category, stacklevel=4)
    return [outcome.decomposition for outcome in outcomes]


def cause(future: Future) -> BaseException:
    """Why a block's task did not finish: its exception (e.g. KilledWorker), or the cancellation."""
    try:
        return future.exception()
    except CancelledError as error:
        return error


def concatenated(parts: list[Decomposition], setup: Setup, stride: int) -> Decomposition:
    """The decomposition of all queries from those of consecutive blocks of queries."""
    fields = {name: torch.cat([getattr(part, name) for part in parts])
              for name in PER_QUERY if getattr(parts[0], name) is not None}
    if parts[0].quadrature_levels is not None:
        fields["quadrature_levels"] = torch.stack([part.quadrature_levels for part in parts]).amax(0)
    return finished(fields, parts[0].exact, setup, stride)


def added_up(parts: list[Decomposition], setup: Setup, stride: int) -> Decomposition:
    """The decomposition along the whole path from those along consecutive ranges of steps."""
    initial, prediction = parts[0].initial, parts[-1].prediction
    rhs = initial + sum(part.rhs - part.initial for part in parts)
    fields = {"prediction": prediction, "initial": initial, "rhs": rhs, "residual": prediction - rhs}
    if parts[0].quadrature_levels is not None:
        fields["quadrature_levels"] = torch.cat([part.quadrature_levels for part in parts])
    for name in SUMMED:
        if getattr(parts[0], name) is not None:
            fields[name] = sum(getattr(part, name) for part in parts)
    if "path_kernel" in fields:
        weighted = sum(part.weights * part.path_kernel for part in parts)
        kernel = fields["path_kernel"]
        fields["weights"] = torch.where(kernel != 0, weighted / kernel, torch.zeros_like(weighted))
    return finished(fields, parts[0].exact, setup, stride)


def finished(fields: dict[str, torch.Tensor], exact: bool, setup: Setup, stride: int) -> Decomposition:
    """The `Decomposition` of `fields`, with its additivity checked (and warned) over the whole."""
    if "per_sample" in fields:
        terms = {name: fields[name] for name in ("per_sample", "regularization") if name in fields}
        fields["additivity_error"] = additivity(terms, fields["rhs"] - fields["initial"], tolerance=setup.tolerance,
                                                warn=stride == 1)
    return Decomposition(exact=exact, **fields)
