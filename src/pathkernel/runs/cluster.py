"""Dask clients for sweeps and distributed decompositions.

``connect(None)`` is no client (everything in-process, the default); ``connect("local")``
starts a `distributed.LocalCluster` of worker processes on this machine; ``connect(ADDRESS)``
joins a running scheduler ("tcp://host:8786"). On every worker, torch computes with as many
threads as the worker has (`TorchThreads`), so workers do not oversubscribe the cores.
"""

from __future__ import annotations

from typing import Any

import torch
from distributed import Client, LocalCluster, WorkerPlugin


class TorchThreads(WorkerPlugin):
    """Set torch's intra-op thread count to the worker's thread count when a worker starts."""

    name = "pathkernel-torch-threads"

    def setup(self, worker: Any) -> None:
        torch.set_num_threads(max(1, int(worker.state.nthreads)))


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
                               dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as error:
            raise ValueError(f"scheduler={scheduler!r}: no Dask scheduler answered there within {timeout:g} s "
                             f"({type(error).__name__}: {error})") from None
    client.register_plugin(TorchThreads())
    return client
