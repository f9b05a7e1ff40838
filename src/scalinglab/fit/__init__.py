"""The fitting engine: objectives, batched optimiser, multi-start, bootstrap and FitResult."""

from scalinglab.fit.api import fit
from scalinglab.fit.objective import Objective
from scalinglab.fit.result import FitResult, Prediction

__all__ = ["fit", "FitResult", "Objective", "Prediction"]
