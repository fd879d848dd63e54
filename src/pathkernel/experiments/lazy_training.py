"""Old name of `pathkernel.experiments.kernel_regime.lazy_training`, kept so that existing imports keep working."""
import sys

from pathkernel.experiments.kernel_regime import lazy_training

sys.modules[__name__] = lazy_training
