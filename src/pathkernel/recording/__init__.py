"""Recording a user's own training loop (`pathkernel.attribution` shows the two added lines).

* `recorder`: `Recorder` hooks the optimizer's steps, checks each step against the
  declared loss and files theta_t (and Adam's step scales) in a store; `path` returns the
  `TrainingPath` that `pk.domingos` reads.
* `snapshots`: storage="disk" (memory-mapped files) and storage="memory": every theta_t.
  A disk path pickles by reference (`SnapshotTensor`), a replayed one with its checkpoint
  directory (`ReplayStore`), so that another process reads the files instead of a copy.
* `replay`: storage="replay": a checkpoint every K steps and a fingerprint of every theta_t;
  the other rows are replayed when read, through the views of `views`
  (`ReplayParams`, `ReplayScales`), from the files of `checkpoints`.

`pathkernel.snapshots` and `pathkernel.replay`, the former paths of `snapshots` and
`replay`, remain importable as aliases of these modules.
"""

from pathkernel.recording.recorder import COUPLING_MODULES, Recorder, RecordingError
from pathkernel.recording.replay import ReplayDivergedError, ReplayStore, automatic_interval
from pathkernel.recording.snapshots import SnapshotFile, SnapshotMemory, SnapshotTensor, snapshot_store
from pathkernel.recording.views import ReplayParams, ReplayScales

__all__ = [
    "COUPLING_MODULES",
    "Recorder",
    "RecordingError",
    "ReplayDivergedError",
    "ReplayParams",
    "ReplayScales",
    "ReplayStore",
    "SnapshotFile",
    "SnapshotMemory",
    "SnapshotTensor",
    "automatic_interval",
    "snapshot_store",
]
