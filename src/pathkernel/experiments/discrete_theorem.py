"""Old name of `pathkernel.experiments.discrete_exact.theorem`, kept so that existing imports keep working."""
import sys

from pathkernel.experiments.discrete_exact import theorem

sys.modules[__name__] = theorem
