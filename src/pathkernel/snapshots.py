"""Former path of `pathkernel.recording.snapshots` (per-step parameter snapshots on disk or in RAM),
kept as an alias: ``import pathkernel.snapshots`` gives that module itself."""

import sys

from pathkernel.recording import snapshots as _snapshots

sys.modules[__name__] = _snapshots
