"""Former path of `pathkernel.recording.replay` (checkpointed replay of a recorded loop),
kept as an alias: ``import pathkernel.replay`` gives that module itself."""

import sys

from pathkernel.recording import replay as _replay

sys.modules[__name__] = _replay
