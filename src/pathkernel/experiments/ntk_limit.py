"""Old name of `pathkernel.experiments.kernel_regime.ntk_limit`, kept so that existing imports keep working."""
import sys

from pathkernel.experiments.kernel_regime import ntk_limit

sys.modules[__name__] = ntk_limit
