"""A full disk while recording (issue 16): storage="disk" and storage="replay" raise an
OSError (errno ENOSPC) that names the directory and the bytes needed, keep every row
recorded before it readable, and leave no partial file; the process never dies of SIGBUS.

Two ways to fill a disk: a real size-limited tmpfs (needs root and a sandbox that lets it
mount; skipped otherwise), filled by a Recorder in a subprocess so that a SIGBUS shows as
a negative return code instead of killing pytest; and injected failures (posix_fallocate,
the checkpoint's write, fsync, os.replace, unlink), which run everywhere.
"""

import builtins
import errno
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pathkernel as pk
from pathkernel.recording import checkpoints, snapshots

N = 10
ROW_BYTES = 51 * 8  # mlp(): 4*6 + 6 + 6*3 + 3 parameters, float64
needs_fallocate = pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="no os.posix_fallocate here")


def mlp():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()


class Loop:
    """A nesterov loop over mlp() recorded by a Recorder; `run(steps)` takes more steps."""

    def __init__(self, storage, directory, **options):
        self.model = mlp()
        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(N, 4, generator=g, dtype=torch.float64), torch.randint(0, 3, (N,), generator=g)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.7, nesterov=True)
        self.recorder = pk.Recorder(self.model, self.optimizer, self.x, self.y, loss="cross_entropy",
                                    storage=storage, directory=directory, **options)
        self.seen = [pk.flat_parameters(self.model)]  # the thetas the model went through while recorded

    def run(self, steps):
        """Take `steps` more recorded steps; return the first OSError of recorder.step (and stop), or None."""
        for _ in range(steps):
            step = len(self.seen)
            index = torch.tensor([step % N, (3 * step + 1) % N, (7 * step + 2) % N])
            self.optimizer.zero_grad()
            F.cross_entropy(self.model(self.x[index]), self.y[index]).backward()
            self.optimizer.step()
            try:
                self.recorder.step(index)
            except OSError as error:
                return error
            self.seen.append(pk.flat_parameters(self.model))
        return None


def record(steps, storage, directory, **options):
    """(recorder, thetas it recorded, the OSError that stopped it or None) after up to `steps` steps."""
    loop = Loop(storage, directory, **options)
    error = loop.run(steps)
    return loop.recorder, torch.stack(loop.seen), error


def enospc(*args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def unsupported(*args):
    raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))


def assert_names_the_shortage(error, directory):
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC
    assert str(directory) in str(error) and "bytes" in str(error)


def replayed(recorder):
    """theta_0..theta_T replayed from the checkpoints of a ReplayStore (checked against its fingerprints)."""
    params, _ = recorder.snapshots.views(recorder.lrs, recorder.batches, False)
    return params[:]


def checkpoint_files(directory):
    return sorted(p.name for p in pathlib.Path(directory).iterdir())


def names(steps):
    return [f"checkpoint-{step:09d}.pt" for step in steps]


# --- a real full filesystem: a size-limited tmpfs ---


@pytest.fixture
def tmpfs(tmp_path):
    """mount(name, size, *options) -> a directory on a fresh tmpfs of that size; unmounted afterwards."""
    mounted = []

    def mount(name, size, *options):
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            pytest.skip("mounting a size-limited tmpfs needs root")
        if shutil.which("mount") is None:
            pytest.skip("no mount command")
        directory = tmp_path / name
        directory.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *options]), "tmpfs",
                               str(directory)], capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"this sandbox does not let root mount a tmpfs: {done.stderr.strip()}")
        mounted.append(directory)
        return directory

    yield mount
    for directory in reversed(mounted):
        subprocess.run(["umount", str(directory)], check=True)


FILL = textwrap.dedent("""
    import errno, json, os, sys
    import torch, torch.nn.functional as F
    from torch import nn
    import pathkernel as pk

    def unsupported(*args):
        raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))

    def fill(storage, directory):
        if storage == "disk without posix_fallocate":  # the fallback: space reserved by writing zeros
            os.posix_fallocate, storage = unsupported, "disk"
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(16, 64), nn.Tanh(), nn.Linear(64, 4)).double()  # 1,348 parameters
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(32, 16, generator=g, dtype=torch.float64), torch.randint(0, 4, (32,), generator=g)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        every = {"checkpoint_every": 1} if storage == "replay" else {}
        recorder = pk.Recorder(model, optimizer, x, y, loss="cross_entropy", storage=storage,
                               directory=directory, **every)
        seen = [pk.flat_parameters(model)]
        for step in range(1000):
            index = torch.arange(8 * (step % 4), 8 * (step % 4) + 8)
            optimizer.zero_grad()
            F.cross_entropy(model(x[index]), y[index]).backward()
            optimizer.step()
            try:
                recorder.step(index)
            except OSError as error:
                failure = {"step": step, "type": type(error).__name__, "errno": error.errno, "message": str(error)}
                break
            seen.append(pk.flat_parameters(model))
        else:
            return {"step": None}
        store = recorder.snapshots
        if storage == "replay":
            rows, scales = store.views(recorder.lrs, recorder.batches, True)
            rows, scales = rows[:], scales[:]
        else:
            rows, scales = store.tensor(), recorder.scales.tensor()
        return {**failure, "rows": rows.shape[0], "scales": scales.shape[0],
                "equal": torch.equal(rows, torch.stack(seen)), "finite": bool(scales.isfinite().all())}

    print(json.dumps({storage: fill(storage, directory) for storage, directory in zip(sys.argv[1::2], sys.argv[2::2])}))
""")


def test_a_full_tmpfs_raises_enospc_and_keeps_the_recorded_rows(tmpfs):
    # disk: params.f8 and scales.bin (Adam) start at 64 rows of 10,784 bytes each (1.3 MiB together);
    # the first growth of params.f8 to 128 rows does not fit in 1.75 MiB. replay: a checkpoint a step,
    # about 37 kB each, fills 1.75 MiB after about 50 steps.
    directories = {storage: tmpfs(storage.replace(" ", "-"), "1792k")
                   for storage in ("disk", "disk without posix_fallocate", "replay")}
    done = subprocess.run([sys.executable, "-c", FILL, *[str(part) for item in directories.items() for part in item]],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert done.returncode == 0, f"the recording process died (return code {done.returncode}): {done.stderr[-2000:]}"
    results = json.loads(done.stdout)
    for storage, directory in directories.items():
        result = results[storage]
        assert result["step"] is not None, f"{storage}: the tmpfs never filled"
        assert result["type"] == "OSError" and result["errno"] == errno.ENOSPC
        assert str(directory) in result["message"] and "bytes" in result["message"], result["message"]
        # rows theta_0..theta_k recorded before the failing step k, equal to the model's, and Adam's scales
        assert result["rows"] == result["step"] + 1 and result["scales"] == result["step"]
        assert result["equal"] and result["finite"]
    for storage in ("disk", "disk without posix_fallocate"):  # params.f8 cut back to 64 rows
        assert results[storage]["step"] == 63 and "1,380,352 bytes" in results[storage]["message"]
        assert {p.name: p.stat().st_size for p in directories[storage].iterdir()} == \
            {"params.f8": 64 * 10784, "scales.bin": 64 * 10784}
    files = checkpoint_files(directories["replay"])  # every step's checkpoint, complete, and no temporary file
    assert files == names(range(results["replay"]["rows"]))
    assert all((directories["replay"] / name).stat().st_size > 0 for name in files)


def test_a_read_only_directory_is_named(tmpfs):
    read_only = tmpfs("read-only", "64k", "ro")
    for storage, directory, message in (("disk", read_only, "cannot create the snapshot file params.f8"),
                                        ("disk", read_only / "sub", "cannot create the snapshot file"),
                                        ("replay", read_only, "cannot write the checkpoint of step 0"),
                                        ("replay", read_only / "sub", "cannot create the checkpoint directory")):
        with pytest.raises(OSError, match=message) as caught:
            record(1, storage, directory)
        assert caught.value.errno == errno.EROFS and str(directory) in str(caught.value)


# --- injected failures ---


def test_a_directory_that_cannot_be_created_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for storage in ("disk", "replay"):
        with pytest.raises(OSError) as caught:
            record(1, storage, blocker / "snapshots")
        assert caught.value.errno == errno.ENOTDIR and str(blocker / "snapshots") in str(caught.value)


def partly_allocating(offset_limit):
    """A posix_fallocate that reserves half of a region past `offset_limit`, then finds the disk full."""
    real = os.posix_fallocate

    def fallocate(fd, offset, length):
        if offset >= offset_limit:
            real(fd, offset, length // 2)
            enospc()
        real(fd, offset, length)
    return fallocate


@pytest.mark.parametrize("where", [pytest.param("posix_fallocate", marks=needs_fallocate),
                                   "fsync after writing zeros"])
def test_injected_enospc_when_the_snapshot_file_grows(tmp_path, monkeypatch, where):
    monkeypatch.setattr(snapshots, "INITIAL_ROWS", 4)  # capacities 4, 8, 16: the growth to 16 fails
    if where == "posix_fallocate":
        monkeypatch.setattr(os, "posix_fallocate", partly_allocating(8 * ROW_BYTES))
    else:
        monkeypatch.setattr(os, "posix_fallocate", unsupported, raising=False)
        fsync = os.fsync
        monkeypatch.setattr(os, "fsync", lambda fd: enospc() if os.fstat(fd).st_size > 8 * ROW_BYTES else fsync(fd))
    recorder, seen, error = record(20, "disk", tmp_path)
    assert_names_the_shortage(error, tmp_path)
    assert f"{8 * ROW_BYTES:,} more bytes" in str(error) and f"{16 * ROW_BYTES:,} bytes" in str(error)
    store = recorder.snapshots
    assert len(seen) == store.rows == 8
    assert (tmp_path / "params.f8").stat().st_size == 8 * ROW_BYTES  # cut back to what it was
    torch.testing.assert_close(store.tensor(), seen, rtol=0, atol=0)
    monkeypatch.undo()  # space again: the store goes on from where it was
    store.append(seen[-1] + 1)
    assert store.rows == 9 and (tmp_path / "params.f8").stat().st_size == 16 * ROW_BYTES
    torch.testing.assert_close(store.tensor(), torch.cat([seen, seen[-1:] + 1]), rtol=0, atol=0)


@pytest.mark.parametrize("platform", ["posix_fallocate unsupported", "no posix_fallocate"])
def test_without_posix_fallocate_the_space_is_reserved_by_writing_zeros(tmp_path, monkeypatch, platform):
    monkeypatch.setattr(snapshots, "INITIAL_ROWS", 4)
    if platform == "no posix_fallocate":
        monkeypatch.delattr(os, "posix_fallocate", raising=False)
    else:
        monkeypatch.setattr(os, "posix_fallocate", unsupported, raising=False)
    recorder, seen, error = record(20, "disk", tmp_path)
    assert error is None
    torch.testing.assert_close(recorder.snapshots.tensor(), seen, rtol=0, atol=0)
    stat = (tmp_path / "params.f8").stat()
    assert stat.st_size == 32 * ROW_BYTES and stat.st_blocks * 512 >= stat.st_size  # written, not sparse


@needs_fallocate
def test_growth_doubles_up_to_max_growth_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(snapshots, "INITIAL_ROWS", 2)
    monkeypatch.setattr(snapshots, "MAX_GROWTH_BYTES", 3 * ROW_BYTES + 5)
    reserved = []
    real = os.posix_fallocate

    def fallocate(fd, offset, length):
        reserved.append((offset, length))
        real(fd, offset, length)
    monkeypatch.setattr(os, "posix_fallocate", fallocate)
    store = snapshots.SnapshotFile(tmp_path, "rows.f8", 51, torch.float64)
    for j in range(12):
        store.append(torch.full((51,), float(j), dtype=torch.float64))
    # capacities 2, 4 (doubled), 7, 10, 13 (3 rows at most at a time)
    assert reserved == [(a * ROW_BYTES, (b - a) * ROW_BYTES) for a, b in [(0, 2), (2, 4), (4, 7), (7, 10), (10, 13)]]
    assert torch.equal(store.tensor()[:, 0], torch.arange(12, dtype=torch.float64))


class FullDisk:
    """An `open` whose files share `free` bytes of space; a write past them writes what fits, then ENOSPC."""

    def __init__(self, free):
        self.free = free

    def __call__(self, path, mode):
        return LimitedFile(builtins.open(path, mode), self)


class LimitedFile:
    def __init__(self, file, disk):
        self.file, self.disk = file, disk

    def write(self, data):
        data = memoryview(data).cast("B")
        if len(data) > self.disk.free:
            self.file.write(data[: self.disk.free])
            self.disk.free = 0
            enospc()
        self.disk.free -= len(data)
        return self.file.write(data)

    def flush(self):
        self.file.flush()

    def fileno(self):
        return self.file.fileno()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def failing_call(function, calls):
    """`function`, failing with ENOSPC from its `calls`-th call on."""
    count = [0]

    def call(*args):
        count[0] += 1
        return enospc() if count[0] >= calls else function(*args)
    return call


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_injected_enospc_when_a_checkpoint_is_written(tmp_path, monkeypatch, where):
    if where == "write":
        monkeypatch.setattr(checkpoints, "open", FullDisk(free=8000), raising=False)
    else:
        monkeypatch.setattr(os, where, failing_call(getattr(os, where), 5))
    recorder, seen, error = record(20, "replay", tmp_path, checkpoint_every=1)
    assert_names_the_shortage(error, tmp_path)
    step = len(seen)  # the step whose checkpoint failed
    assert f"checkpoint of step {step}" in str(error) and f"at least {2 * ROW_BYTES:,} bytes" in str(error)
    if where != "write":
        assert step == 4
    monkeypatch.undo()
    # nothing half-written: the checkpoints of the steps before, complete, and no temporary file
    assert checkpoint_files(tmp_path) == names(range(step))
    for j in range(step):
        assert torch.equal(torch.load(tmp_path / names([j])[0], weights_only=True)["theta"], seen[j])
    assert recorder.snapshots.rows == step
    torch.testing.assert_close(replayed(recorder), seen, rtol=0, atol=0)


def test_checkpoints_that_cannot_be_deleted_when_K_doubles_keep_the_store_consistent(tmp_path, monkeypatch):
    unlink = pathlib.Path.unlink

    def failing(path, missing_ok=False):
        if path.name.startswith("checkpoint-"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        unlink(path, missing_ok)
    monkeypatch.setattr(pathlib.Path, "unlink", failing)
    loop = Loop("replay", tmp_path)
    assert loop.run(12) is None
    store = loop.recorder.snapshots
    assert store.every == 4 and store.checkpoints == [0, 4, 8, 12] and store.stale == [1, 2, 6]
    assert checkpoint_files(tmp_path) == names([0, 1, 2, 4, 6, 8, 12])
    torch.testing.assert_close(loop.recorder.path.params[:], torch.stack(loop.seen), rtol=0, atol=0)
    monkeypatch.undo()
    assert loop.run(20) is None  # K doubles to 8 at step 32: the files dropped before go too
    assert store.every == 8 and store.stale == [] and checkpoint_files(tmp_path) == names(range(0, 33, 8))
    torch.testing.assert_close(loop.recorder.path.params[:], torch.stack(loop.seen), rtol=0, atol=0)
