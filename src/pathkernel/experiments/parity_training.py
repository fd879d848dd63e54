"""Old name of `pathkernel.experiments.parity_1d`, kept so that existing imports keep working."""
import sys

from pathkernel.experiments import parity_1d

sys.modules[__name__] = parity_1d
