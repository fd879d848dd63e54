"""pathkernel: is every model trained by gradient descent a kernel machine?

Tangent and path kernels, recorded training paths and exact Domingos decompositions
(DESIGN.md §2 is the public API).
"""

from importlib import import_module as _import_module

from pathkernel import data
from pathkernel.attribution import TopExamples, top_examples
from pathkernel.decomposition import AdditivityWarning, Decomposition, NonSmoothExactError, domingos
from pathkernel.functional import NonSmoothActivationWarning, flat_parameters
from pathkernel.infinite import infinite_ntk
from pathkernel.kernels import integral_operator, tangent_features, tangent_kernel, unreachable_energy
from pathkernel.models import MLP, LinearModel, ParityNet, PrefixParityNet, UNet
from pathkernel.recording import Recorder, RecordingError
from pathkernel.training import TrainingDivergedError, TrainingPath, train

__version__ = "0.1.0"

# Former module paths, still importable and attributes of the package: pathkernel.structured
# (now pathkernel.kernels.structured), pathkernel.replay and pathkernel.snapshots (now in
# pathkernel.recording).
for _former in ("replay", "snapshots", "structured"):
    _import_module(f"pathkernel.{_former}")
del _former, _import_module

__all__ = [
    "MLP",
    "ParityNet",
    "PrefixParityNet",
    "UNet",
    "Decomposition",
    "AdditivityWarning",
    "NonSmoothExactError",
    "data",
    "LinearModel",
    "NonSmoothActivationWarning",
    "TrainingDivergedError",
    "TrainingPath",
    "domingos",
    "flat_parameters",
    "infinite_ntk",
    "integral_operator",
    "tangent_features",
    "tangent_kernel",
    "train",
    "unreachable_energy",
    "Recorder",
    "RecordingError",
    "TopExamples",
    "top_examples",
]
