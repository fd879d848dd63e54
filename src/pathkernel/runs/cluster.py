"""Dask clients for sweeps and distributed decompositions.

``connect(None)`` is no client (everything in-process, the default); ``connect("local")``
starts a `distributed.LocalCluster` of worker processes on this machine; ``connect(ADDRESS)``
joins a running scheduler ("tcp://host:8786"). On every worker, torch computes with as many
threads as the worker has (`TorchThreads`), so workers do not oversubscribe the cores.

A local cluster's worker processes (`Nanny`) start without Dask's default ``MALLOC_TRIM_THRESHOLD_=65536``:
with it glibc returns freed memory to the system after every large tensor, and torch's
allocations on a worker run about twice as slow (``benchmarks/scale.py`` measures it). A
remote cluster's workers should be started without it too (book page "Running at scale").
"""

from __future__ import annotations

from typing import Any

import distributed
import torch
from distributed import Client, LocalCluster, WorkerPlugin


class TorchThreads(WorkerPlugin):
    """Set torch's intra-op thread count to the worker's thread count when a worker starts."""

    name = "pathkernel-torch-threads"

    def setup(self, worker: Any) -> None:
        torch.set_num_threads(max(1, int(worker.state.nthreads)))


class Nanny(distributed.Nanny):
    """A nanny that starts its worker without Dask's ``MALLOC_TRIM_THRESHOLD_`` (module docstring),
    the rest of ``distributed.nanny.pre-spawn-environ`` kept; for workers added later too (``scale``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pre_spawn_env.pop("MALLOC_TRIM_THRESHOLD_", None)
        self.env.pop("MALLOC_TRIM_THRESHOLD_", None)


def connect(scheduler: str | None, *, workers: int | None = None, threads_per_worker: int = 1,
            timeout: float = 10.0) -> Client | None:
    """A client for `scheduler` ("local", a scheduler address, or None for none), with `TorchThreads` registered.

    Raises ValueError naming the address when no scheduler answers there within `timeout` seconds.
    """
    if scheduler is None:
        return None
    if not isinstance(scheduler, str) or not scheduler:
        raise ValueError(f"scheduler={scheduler!r}: expected 'local' or a scheduler address such as 'tcp://host:8786'")
    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                               worker_class=Nanny, dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as error:
            raise ValueError(f"scheduler={scheduler!r}: no Dask scheduler answered there within {timeout:g} s "
                             f"({type(error).__name__}: {error})") from None
    client.register_plugin(TorchThreads())
    return client
