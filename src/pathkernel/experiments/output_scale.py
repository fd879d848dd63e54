"""Old name of `pathkernel.experiments.kernel_regime.output_scale`, kept so that existing imports keep working."""
import sys

from pathkernel.experiments.kernel_regime import output_scale

sys.modules[__name__] = output_scale
