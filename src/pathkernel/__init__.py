"""pathkernel: is every model trained by gradient descent a kernel machine?

Tangent and path kernels, recorded training paths and exact Domingos decompositions
(DESIGN.md §2 is the public API).
"""

from pathkernel import data
from pathkernel.attribution import Recorder, RecordingError, TopExamples, top_examples
from pathkernel.decomposition import AdditivityWarning, Decomposition, NonSmoothExactError, domingos
from pathkernel.functional import NonSmoothActivationWarning, flat_parameters
from pathkernel.infinite import infinite_ntk
from pathkernel.kernels import tangent_features, tangent_kernel
from pathkernel.models import MLP, LinearModel, ParityNet, UNet
from pathkernel.training import TrainingDivergedError, TrainingPath, train

__version__ = "0.1.0"

__all__ = [
    "MLP",
    "ParityNet",
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
    "tangent_features",
    "tangent_kernel",
    "train",
    "Recorder",
    "RecordingError",
    "TopExamples",
    "top_examples",
]
