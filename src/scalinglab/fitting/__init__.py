"""The fitting engine: objectives, batched optimiser, multi-start, bootstrap and FitResult."""

from scalinglab.fitting.api import fit
from scalinglab.fitting.objective import Objective
from scalinglab.fitting.result import FitResult, Prediction

__all__ = ["fit", "FitResult", "Objective", "Prediction"]
