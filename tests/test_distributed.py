"""``pk.domingos(..., client=)`` on a real LocalCluster of two worker processes
(pathkernel.decomposition.distributed): equal to the in-process decomposition in float64,
for every optimizer and storage, on both splits; paths pickled by reference; a killed
worker; bad input refused before any work."""

import os
import pickle
import signal
import threading
import time
from copy import deepcopy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pathkernel as pk
from pathkernel.decomposition import IncompleteDecompositionError
from pathkernel.decomposition.distributed import contiguous_blocks
from pathkernel.recording import SnapshotTensor

N, STEPS, QUERIES = 20, 10, 7
FIELDS = ("prediction", "initial", "rhs", "per_sample", "path_kernel", "regularization")
TORCH_OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.2, weight_decay=0.01),
    "momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.8),
    "adam": lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.95)),
}


@pytest.fixture(scope="module")
def client():
    from pathkernel.runs import cluster

    client = cluster.connect("local", workers=2)
    yield client
    client.close()
    client.cluster.close()


def data(classes=None):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 3, generator=g, dtype=torch.float64)
    y = torch.randn(N, 1, generator=g, dtype=torch.float64) if classes is None else \
        torch.randint(0, classes, (N,), generator=g)
    return x, y, torch.randn(QUERIES, 3, generator=g, dtype=torch.float64)


def trained(optimizer, steps=STEPS, **options):
    x, y, queries = data()
    torch.manual_seed(1)
    model = pk.MLP(in_dim=3, width=8, depth=3, out_dim=1, activation="gelu").double()
    return pk.train(model, x, y, lr=0.05, steps=steps, optimizer=optimizer, **options), queries


def recorded(name, storage, directory=None, width=8, epochs=2):
    """A hand-written torch.optim loop over shuffled mini-batches, recorded (3 classes, tanh)."""
    x, y, queries = data(classes=3)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, width), nn.Tanh(), nn.Linear(width, 3)).double()
    optimizer = TORCH_OPTIMIZERS[name](model.parameters())
    recorder = pk.Recorder(model, optimizer, x, y, loss="cross_entropy", storage=storage, directory=directory,
                           **({"checkpoint_every": 4} if storage == "replay" else {}))
    g = torch.Generator().manual_seed(5)
    for _ in range(epochs):
        for index in torch.randperm(N, generator=g).split([8, 6, 6]):
            optimizer.zero_grad()
            F.cross_entropy(model(x[index]), y[index]).backward()
            optimizer.step()
            recorder.step(index)
    return recorder.path, queries


def assert_close(a, b, name, scale=None):
    """a == b to 1e-12 relative to `scale` (default b's largest entry)."""
    assert (a is None) == (b is None), name
    if b is not None:
        assert a.shape == b.shape, name
        scale = float(b.abs().max()) if scale is None else scale
        assert float((a - b).abs().max()) <= 1e-12 * scale, name


def assert_equal(distributed, local):
    """Every field within 1e-12 of the in-process one, relative to the field's largest entry:
    the residual (a difference of two such numbers) relative to the prediction's, the
    weights as weights x path kernel (where the path kernel nearly cancels, e.g. between two
    outputs, the ratio a_i amplifies its round-off, in-process as well)."""
    for name in FIELDS:
        assert_close(getattr(distributed, name), getattr(local, name), name)
    assert_close(distributed.residual, local.residual, "residual", float(local.prediction.abs().max()))
    if local.weights is not None:
        assert_close(distributed.weights * distributed.path_kernel, local.weights * local.path_kernel, "weights")
    assert distributed.exact == local.exact
    assert (distributed.quadrature_levels is None) == (local.quadrature_levels is None)
    if local.additivity_error is not None:
        assert abs(distributed.additivity_error - local.additivity_error) <= 1e-12 * (1 + local.additivity_error)


@pytest.mark.parametrize("optimizer, options", [("gd", {}), ("sgd", {"batch_size": 5}),
                                                ("momentum", {"momentum": 0.9}), ("adam", {})])
@pytest.mark.parametrize("exact", [False, True])
def test_trained_paths_on_the_query_split(client, optimizer, options, exact):
    path, queries = trained(optimizer, **options)
    local = pk.domingos(path, queries, exact=exact, per_sample=True)
    distributed = pk.domingos(path, queries, exact=exact, per_sample=True, client=client, chunks=3)
    assert_equal(distributed, local)
    if exact:  # each block refines a step until its own queries reach round-off
        blocks = [pk.domingos(path, queries[a:b], exact=True).quadrature_levels
                  for a, b in contiguous_blocks(QUERIES, 3, 1)]
        assert torch.equal(distributed.quadrature_levels, torch.stack(blocks).amax(0))


@pytest.mark.parametrize("optimizer, options", [("gd", {}), ("sgd", {"batch_size": 5})])
@pytest.mark.parametrize("exact, stride", [(False, 1), (True, 1), (False, 3)])
def test_gd_and_sgd_on_the_step_split(client, optimizer, options, exact, stride):
    path, queries = trained(optimizer, **options)
    local = pk.domingos(path, queries, exact=exact, per_sample=True, stride=stride)
    distributed = pk.domingos(path, queries, exact=exact, per_sample=True, stride=stride, client=client,
                              split="steps", chunks=3)
    assert_equal(distributed, local)
    if exact:  # each step is refined over every query, as in-process
        assert torch.equal(distributed.quadrature_levels, local.quadrature_levels)


@pytest.mark.parametrize("storage", ["memory", "disk", "replay"])
@pytest.mark.parametrize("name", list(TORCH_OPTIMIZERS))
def test_recorded_paths_on_every_storage(client, tmp_path, storage, name):
    path, queries = recorded(name, storage, directory=tmp_path / "run")
    local = pk.domingos(path, queries, exact=True, per_sample=True)
    assert_equal(pk.domingos(path, queries, exact=True, per_sample=True, client=client), local)
    if name == "sgd":  # weight decay: the regularization term adds up over steps too
        assert_equal(pk.domingos(path, queries, exact=True, per_sample=True, client=client, split="steps"), local)


def test_a_disk_path_pickles_by_reference(tmp_path):
    path, queries = recorded("adam", "disk", directory=tmp_path, width=256, epochs=5)
    assert isinstance(path.params, SnapshotTensor) and isinstance(path.scales, SnapshotTensor)
    payload = pickle.dumps(path)
    assert len(payload) < os.path.getsize(path.params.file) / 20, "the rows are not in the pickle"
    copy = pickle.loads(payload)
    assert isinstance(copy.params, SnapshotTensor) and copy.params.file == path.params.file
    assert torch.equal(copy.params, path.params) and torch.equal(copy.scales, path.scales)
    torch.testing.assert_close(pk.domingos(copy, queries).rhs, pk.domingos(path, queries).rhs, rtol=0, atol=0)
    copy.params[0, 0] += 1  # copy-on-write: the file is only read
    assert not torch.equal(copy.params[0], path.params[0])
    in_memory = deepcopy(path.params)
    assert type(in_memory) is torch.Tensor and torch.equal(in_memory, path.params)


def test_a_replay_path_pickles_without_optimizer_or_cache(tmp_path):
    path, queries = recorded("momentum", "replay", directory=tmp_path, width=256, epochs=5)
    local = pk.domingos(path, queries, per_sample=True)  # fills the replay cache
    payload = pickle.dumps(path)
    assert len(payload) < path.params.shape[0] * path.params.shape[1] * 8 / 4, "rows are replayed, not sent"
    copy = pickle.loads(payload)
    assert copy.params.store.optimizer is None and not copy.params.store.cache
    assert_equal(pk.domingos(copy, queries, per_sample=True), local)


def submitted(client):
    return client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))


def test_bad_input_is_refused_before_any_work(client, tmp_path):
    path, queries = trained("momentum")
    with pytest.raises(TypeError, match="dask.distributed Client"):
        pk.domingos(path, queries, client="tcp://127.0.0.1:8786")
    before = submitted(client)
    with pytest.raises(ValueError, match="route='sideways'"):
        pk.domingos(path, queries, route="sideways", client=client)
    with pytest.raises(ValueError, match="split="):
        pk.domingos(path, queries, client=client, split="workers")
    with pytest.raises(ValueError, match="chunks=0"):
        pk.domingos(path, queries, client=client, chunks=0)
    with pytest.raises(ValueError, match="couple its steps"):
        pk.domingos(path, queries, client=client, split="steps")
    temporary, _ = recorded("sgd", "disk")
    with pytest.raises(ValueError, match=r"temporary directory .*directory="):
        pk.domingos(temporary, queries, client=client)
    replayed, _ = recorded("sgd", "replay", directory=tmp_path / "replay")
    os.rename(tmp_path / "replay", tmp_path / "moved")  # as if the directory were not mounted on the workers
    with pytest.raises(ValueError, match="cannot be read on the workers") as error:
        pk.domingos(replayed, queries, client=client)
    assert str(tmp_path / "replay") in str(error.value)
    assert all(worker in str(error.value) for worker in client.nthreads())
    assert submitted(client) <= before, "nothing was sent to the workers"


def transitions(keys, dask_scheduler=None):
    """(from, to) of every state change of the tasks `keys` on the scheduler."""
    return [(start, end) for _, start, end, *_ in dask_scheduler.story(*keys)]


def test_a_killed_worker_loses_no_block(client):
    path, queries = trained("momentum", steps=300, momentum=0.9)
    local = pk.domingos(path, queries, exact=True, per_sample=True)
    pids = client.run(os.getpid)
    killed = []

    def kill_a_busy_worker():
        deadline = time.monotonic() + 30
        while len([worker for worker, keys in client.processing().items() if keys]) < 2:
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        time.sleep(0.3)  # both are inside a block (about a second each)
        worker, keys = next((worker, keys) for worker, keys in client.processing().items() if keys)
        os.kill(pids[worker], signal.SIGKILL)
        killed.append((worker, keys))

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    distributed = pk.domingos(path, queries, exact=True, per_sample=True, client=client, chunks=4)
    killer.join()
    assert killed and pids[killed[0][0]] not in client.run(os.getpid).values()
    assert ("processing", "released") in client.run_on_scheduler(transitions, killed[0][1]), "blocks were rerun"
    assert_equal(distributed, local)
    client.wait_for_workers(2, timeout=60)


def test_a_block_that_cannot_be_computed_names_the_missing_queries(client, monkeypatch):
    from pathkernel.decomposition import distributed

    path, queries = trained("gd")
    monkeypatch.setattr(distributed, "RETRIES", 0)
    monkeypatch.setattr(distributed, "decompose_block", lost_on_the_last_block)
    with pytest.raises(IncompleteDecompositionError, match=r"queries 4\.\.6 \(of 0\.\.6\)") as error:
        pk.domingos(path, queries, client=client, chunks=3)
    assert error.value.missing == [(4, 7)] and error.value.split == "queries"


def lost_on_the_last_block(path, x, options, steps):
    """A block task that fails as a lost read would (an OSError) on its last block."""
    from pathkernel.decomposition import distributed

    if x.shape[0] == 3:
        raise OSError("the snapshot file vanished")
    return distributed.Outcome(pk.domingos(path, x, **options), [])


def test_local_workers_start_without_dasks_malloc_trim_threshold(client):
    """Dask's default MALLOC_TRIM_THRESHOLD_ halves torch's speed on a worker: connect('local') drops it,
    and keeps the rest of the nanny's environment (one BLAS thread per worker)."""
    import os

    def environment():
        return {key: os.environ.get(key) for key in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")}

    client.cluster.scale(3)  # a worker added later starts the same way
    client.wait_for_workers(3)
    try:
        environments = client.run(environment)
    finally:
        client.cluster.scale(2)
    assert len(environments) == 3
    assert all(value == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"} for value in environments.values())
