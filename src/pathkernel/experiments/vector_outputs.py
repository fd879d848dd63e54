"""Old name of `pathkernel.experiments.discrete_exact.vector_outputs`, kept so that existing imports keep working."""
import sys

from pathkernel.experiments.discrete_exact import vector_outputs

sys.modules[__name__] = vector_outputs
