"""Former path of `pathkernel.kernels.structured` (tangent kernels of fully connected chains),
kept as an alias: ``import pathkernel.structured`` gives that package itself."""

import sys

from pathkernel.kernels import structured as _structured

sys.modules[__name__] = _structured
